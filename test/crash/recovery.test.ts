import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { createTransformStep } from '../../gateway/daemon/transform-worker.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { FhirUplinkClient } from '../../gateway/uplink/fhir-client.js';
import { startUpstream, type Upstream } from '../harness/daemon-process.js';
import { crashMessage } from './crash-harness.js';

/**
 * Start-up recovery, stated. The store keeps no "claimed" or "sending" state on disk: a
 * claim (a record listed for transform, or an outbound head taken for delivery) lives only in
 * the process. So a crash between the claim and the synced state change leaves the record
 * where it was, and the next start picks it up again; nothing needs un-claiming.
 *  - Records claimed but not finished are re-queued: they are simply still queued.
 *  - Records that may have been sent (the POST reached the server, the delete did not reach
 *    the disk) are sent again, and that is safe only because delivery is idempotent: every
 *    resource carries a business identifier and is written with a conditional create or
 *    update, so the second POST changes nothing upstream.
 * "Crash" here is closing the store at that point: nothing was written after the claim, so
 * a SIGKILL leaves the same files (crash-harness.ts does it with SIGKILL, many times).
 */
describe('start-up recovery', () => {
  let root: string;
  let upstream: Upstream;
  let client: FhirUplinkClient;
  const open = (): Promise<QueueStore> => QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek') });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'labedge-recovery-'));
    upstream = await startUpstream(join(root, 'pki'));
    const [ca, cert, key] = await Promise.all([upstream.files.ca, upstream.files.cert, upstream.files.key].map((f) => readFile(f, 'utf8')));
    client = new FhirUplinkClient({ baseUrl: upstream.fhir.url, ca: ca ?? '', cert: cert ?? '', key: key ?? '', timeoutMs: 5000 });
  });
  after(async () => {
    await client.close();
    await upstream.close();
    await rm(root, { recursive: true, force: true });
  });

  it('records claimed but not finished are re-queued, in their order', async () => {
    let store = await open();
    const ids = [];
    for (let n = 0; n < 4; n++) ids.push(await store.commitInbound({ sourceId: `line-${1 + (n % 2)}`, raw: Buffer.from(crashMessage(1, n).join('\r')), receivedAt: n }));
    const claimed = await store.listInbound(2); // the transform worker's claim
    assert.equal(claimed.length, 2);
    await store.close(); // crash before transformed()
    store = await open();
    assert.deepEqual((await store.listInbound()).map((r) => r.id), ids, 'every claimed record is back in the queue, in order');
    // One claim finished: its synced move is kept, the other claims are queued again.
    await store.transformed(ids[0] ?? '', { sourceId: 'line-1', bundle: { resourceType: 'Bundle' } });
    const [head] = await store.outboundHeads(); // the delivery worker's claim
    await store.close(); // crash before delivered()
    store = await open();
    assert.deepEqual((await store.outboundHeads()).map((h) => h.id), [head?.id]);
    assert.deepEqual((await store.listInbound()).map((r) => r.id), ids.slice(1));
    for (const h of await store.outboundHeads()) await store.delivered(h.id);
    for (const r of await store.listInbound()) await store.rejected(r.id, { reasonCode: 'test-cleanup' });
    await store.close();
  });

  it('a record that may have been sent is sent again after the restart, and the server still holds one copy', async () => {
    let store = await open();
    const events = new EventEmitter<DaemonEvents>();
    const instruments = new Map([['line-1', { id: 'line-1', protocol: 'astm' as const, encoding: 'auto' as const, timeZone: 'Europe/Berlin', transport: { type: 'tcp' as const, host: '127.0.0.1', port: 1 } }]]);
    await store.commitInbound({ sourceId: 'line-1', raw: Buffer.from(crashMessage(1, 42).join('\r')), receivedAt: 1 });
    await createTransformStep({ store, instruments, events })();
    const [sent] = await store.outboundHeads();
    assert.ok(sent);
    const first = await client.postBundle(sent.bundle as object);
    assert.equal(first.outcome, 'ok');
    await store.close(); // crash: the server has it, the store does not know
    const before = await upstream.fhir.countByType();

    store = await open();
    const [again] = await store.outboundHeads();
    assert.equal(again?.id, sent.id, 'the record is still queued after the restart');
    const second = await client.postBundle(again?.bundle as object);
    assert.equal(second.outcome, 'ok', 'the re-send is accepted');
    await store.delivered(sent.id);
    assert.deepEqual(await upstream.fhir.countByType(), before, 'the re-send changed nothing upstream: no duplicate');
    const specimens = (await upstream.fhir.search('Specimen', 'identifier=CRASH-1-000042')).length;
    assert.equal(specimens, 1);
    const stats = await store.stats();
    assert.deepEqual([stats.inbound, stats.outbound], [0, 0]);
    await store.close();
  });
});
