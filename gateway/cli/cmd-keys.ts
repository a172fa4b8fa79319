import { resolve } from 'node:path';
import { parseCommandArgs, usageError } from './args.js';
import { loadConfigFile } from './load-config.js';
import { defaultKeyFile } from '../config/config.js';
import { QueueStore } from '../store/queue-store.js';
import { FileKekProvider } from '../store/kek-provider.js';
import { cryptoErase } from '../store/key-erase.js';
import { operatorOpen, printAlarm } from './operator-open.js';

const USAGE = 'keys takes status | rotate [--wait] | erase --yes   [--data-dir DIR] [--key-file FILE] [--config FILE]';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/**
 * `labedge keys status|rotate|erase`: the store's data keys. Run with the daemon stopped
 * (the store takes one writer). `rotate` adds a new data key that seals everything written
 * from now on; old records stay readable and are re-wrapped in the background by the
 * daemon (or right away with `--wait`), after which the old key is retired. `erase`
 * destroys the wrapped data keys and the key file: the records can never be read again.
 * Output: key ids and counts only.
 */
export async function keysCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'data-dir': { type: 'string' },
    'key-file': { type: 'string' },
    config: { type: 'string' },
    wait: { type: 'boolean', default: false },
    yes: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const [sub, ...extra] = positionals;
  if (extra.length > 0 || (sub !== 'status' && sub !== 'rotate' && sub !== 'erase')) throw usageError(USAGE);
  let dataDir = resolve(values['data-dir'] ?? './data');
  let keyFile = values['key-file'] ?? defaultKeyFile(dataDir);
  if (values.config) {
    const config = await loadConfigFile(values.config, { dataDir: values['data-dir'] });
    dataDir = config.dataDir;
    keyFile = values['key-file'] ?? config.keyFile;
  }

  if (sub === 'erase') {
    if (!values.yes) throw usageError('keys erase destroys every record for good; add --yes to confirm');
    const result = await cryptoErase(dataDir, new FileKekProvider(resolve(keyFile)), printAlarm);
    if (values.json) out(JSON.stringify({ erased: true, ...result }));
    else out(`crypto-erased: ${result.dataKeys} data key(s) destroyed, key file ${result.kekDestroyed ? 'destroyed' : 'was already gone'}; the records under ${dataDir} can no longer be read`);
    return 0;
  }

  const store = await QueueStore.open({ dataDir, keyFile, ...operatorOpen(`keys ${sub}`) });
  try {
    const rotation = store.keyRotation;
    let rewrapped = 0;
    let retired: number[] = [];
    if (sub === 'rotate') {
      const id = await rotation.rotate();
      if (!values.json) out(`data key ${id} is now current; records under older keys stay readable`);
      if (values.wait) {
        for (;;) {
          const step = await rotation.rewrapStep(1024);
          rewrapped += step.rewrapped;
          retired = retired.concat(step.retired);
          if (step.done || step.blocked) {
            if (step.blocked) process.stderr.write('labedge: some records under an old key fail authentication; the old key is kept\n');
            break;
          }
        }
        if (!values.json) out(`re-wrapped ${rewrapped} record(s); retired key(s): ${retired.join(', ') || 'none'}`);
      } else if (!values.json) {
        out('the daemon re-wraps older records in the background and then retires the old key (or run keys rotate --wait)');
      }
    }
    const census = await rotation.census();
    const byKey = Object.fromEntries([...census.entries()].sort((a, b) => a[0] - b[0]));
    if (values.json) out(JSON.stringify({ current: rotation.currentKeyId, pending: rotation.pending, valuesByKey: byKey, rewrapped, retired }));
    else {
      out(`current data key ${rotation.currentKeyId}${rotation.pending ? ' (older keys still in use: re-wrap pending)' : ''}`);
      for (const [id, n] of Object.entries(byKey)) out(`  key ${id}: ${n} value(s)`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
