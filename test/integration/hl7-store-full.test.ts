/**
 * Invariant 1 over MLLP when the store is full (a real capacity limit, not a mock): the message
 * that does not fit gets AE (or CE in enhanced mode) with ERR 207 and is not stored, so the
 * analyzer keeps it and resends; once room returns, the same resend is acknowledged AA and stored
 * once. Nothing stored earlier is dropped to make room.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MllpClient } from '../../hardware/mllp-client.js';
import { silentLogger } from '../../gateway/core/logger.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { Hl7Channel } from '../../gateway/daemon/hl7-channel.js';
import { parseHl7 } from '../../gateway/hl7/parser.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { oru, stored } from './hl7-kit.js';

test('store full: AE/CE with ERR 207 and nothing stored; after room returns the resend is AA and stored once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-full-'));
  const alarms: string[] = [];
  const store = await QueueStore.open({
    dataDir: join(dir, 'data'),
    keyFile: join(dir, 'keys', 'kek'),
    limits: { maxRecords: 3, minFreeDiskBytes: 0 },
    onAlarm: (a) => alarms.push(`${a.code}${a.cleared ? ' cleared' : ''}`),
  });
  const events = new EventEmitter<DaemonEvents>();
  const refused: string[] = [];
  events.on('ingest-refused', (e) => refused.push(e.sourceId));
  const channel = new Hl7Channel(
    { id: 'hl7-full', protocol: 'hl7', encoding: 'auto', timeZone: 'UTC', transport: { type: 'mllp', host: '127.0.0.1', port: 0, allowPlaintext: true } },
    { store, events, logger: silentLogger(), onCommitted: () => {} },
  );
  await channel.start();
  const client = await MllpClient.connect({ host: '127.0.0.1', port: channel.port ?? 0 });
  t.after(async () => {
    await client.close();
    await channel.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const id of ['F-1', 'F-2', 'F-3']) assert.equal((await client.send(oru(id))).code, 'AA', id);
  const full = await client.send(oru('F-4'));
  assert.equal(full.code, 'AE');
  assert.equal(full.controlId, 'F-4');
  assert.equal(parseHl7(full.raw).messages[0]?.segment('ERR')?.value(3, 1), '207');
  const enhanced = await client.send(oru('F-5').replace('|P|2.5.1', '|P|2.5.1|||AL|NE'));
  assert.equal(enhanced.code, 'CE');
  assert.deepEqual((await stored(store)).map((r) => r.controlId), ['F-1', 'F-2', 'F-3'], 'refused messages are not stored, earlier ones are kept');
  assert.deepEqual(refused, ['hl7-full', 'hl7-full']);
  assert.ok(alarms.includes('LABEDGE_ERR_STORE_FULL'));

  // Room returns (two records leave the queue); the analyzer's resend of F-4 is now accepted.
  const [first, second] = await store.listInbound(2);
  assert.ok(first && second);
  await store.rejected(first.id, { reasonCode: 'test-drain' });
  await store.rejected(second.id, { reasonCode: 'test-drain' });
  assert.equal((await client.send(oru('F-4'))).code, 'AA');
  assert.equal((await client.send(oru('F-4'))).code, 'AA', 'a second resend is a duplicate');
  assert.deepEqual((await stored(store)).map((r) => r.controlId), ['F-3', 'F-4']);
});
