import type { QueueStoreOptions, StoreAlarm } from '../store/queue-types.js';

/** One line on stderr per store alarm (alarm texts are PHI-free: ids, codes, counts, times). */
export function printAlarm(a: StoreAlarm): void {
  process.stderr.write(`labedge: ${a.cleared ? 'cleared' : a.severity}: ${a.message} (${a.code})\n`);
}

/**
 * How an operator's command opens the store: never a new one, and whatever the open finds
 * (damage repaired, records restored or lost) is said on the terminal and kept for the
 * daemon to raise at its next start, where fleet monitoring hears it (store/alarm-relay.ts).
 */
export function operatorOpen(command: string): Pick<QueueStoreOptions, 'mustExist' | 'onAlarm' | 'relayAlarmsAs' | 'limits'> {
  // A command admits no messages: capacity is the daemon's to judge, with its configured limits
  // (the defaults here would raise a false "store full" on a small disk).
  return { mustExist: true, onAlarm: printAlarm, relayAlarmsAs: `labedge ${command}`, limits: { maxBytes: Number.POSITIVE_INFINITY, maxRecords: Number.POSITIVE_INFINITY, minFreeDiskBytes: 0 } };
}
