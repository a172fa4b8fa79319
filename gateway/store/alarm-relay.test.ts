import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, it } from 'node:test';
import { relayAlarm, RELAYED_ALARMS_FILE, takeRelayedAlarms } from './alarm-relay.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labedge-relay-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('keeps warnings and errors for the daemon, which raises them once', async () => {
  relayAlarm(dir, 'labedge queue stats', { code: 'LABEDGE_ERR_STORE_DAMAGED', severity: 'error', message: 'the store is damaged (x)' }, new Date('2026-12-04T10:00:00Z'));
  relayAlarm(dir, 'labedge queue stats', { code: 'LABEDGE_ERR_STORE_LOCKED', severity: 'info', message: 'waiting' });
  relayAlarm(dir, 'labedge queue stats', { code: 'LABEDGE_ERR_STORE_FULL', severity: 'error', message: 'full', cleared: true });
  const raised = await takeRelayedAlarms(dir);
  assert.deepEqual(raised, [{ code: 'LABEDGE_ERR_STORE_DAMAGED', severity: 'error', message: 'raised by `labedge queue stats` at 2026-12-04T10:00:00.000Z: the store is damaged (x)' }]);
  assert.deepEqual(await readdir(dir), []);
  assert.deepEqual(await takeRelayedAlarms(dir), []);
});

it('a long, odd or planted file: the newest hundred are raised, printable and bounded, the rest counted', async () => {
  const line = (n: number, message = `alarm ${n}`): string => JSON.stringify({ at: `t${n}`, by: 'labedge audit verify\u001b[2J', code: 'LABEDGE_ERR_STORE_DAMAGED', severity: 'error', message });
  const lines = ['not json', JSON.stringify({ at: 'x', by: 'y', code: 'NOT_A_CODE', severity: 'error', message: 'm' }), ...Array.from({ length: 150 }, (_, n) => line(n)), line(150, `last\u0007${'x'.repeat(10_000)}`), '{"cut sh'];
  await writeFile(join(dir, RELAYED_ALARMS_FILE), lines.join('\n'));
  const raised = await takeRelayedAlarms(dir);
  assert.equal(raised.length, 101);
  assert.match(raised[0]?.message ?? '', /^51 older alarm\(s\) .* not repeated here; the newest 100 follow$/);
  assert.match(raised[1]?.message ?? '', /^raised by `labedge audit verify \[2J` at t51: alarm 51$/);
  const last = raised.at(-1)?.message ?? '';
  assert.ok(last.startsWith('raised by `labedge audit verify [2J` at t150: last x'), last.slice(0, 80));
  assert.ok(last.length < 4200);
  assert.ok(raised.every((a) => [...a.message].every((ch) => ch.charCodeAt(0) >= 0x20)));
});
