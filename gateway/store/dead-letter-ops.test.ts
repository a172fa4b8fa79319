import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { LabedgeError, type ErrorCode } from '../core/errors.js';
import { QueueStore, type OperatorAccessEvent } from './queue-store.js';
import { deadLetterRule, DAY_MS } from './retention.js';
import { verifyChain } from '../audit/verify.js';

/** Dead letters for an operator (show, replay, purge; each reported first) and their retention. */
let root: string;
let now = 1_800_000_000_000;
let events: OperatorAccessEvent[];
let denyAccess = false;
const opened: QueueStore[] = [];
const operator = { name: 'jdoe' };
const hasCode = (code: ErrorCode) => (e: unknown) => e instanceof LabedgeError && e.code === code;
const raw = (n: number) => Buffer.from(`H|\\^&\rP|1||PID-${n}\rR|1|^^^GLU|${n}\rL|1|N\r`);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-dlq-'));
  events = [];
  denyAccess = false;
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

async function openStore(): Promise<QueueStore> {
  const store = await QueueStore.open({
    dataDir: join(root, 'data'),
    keyFile: join(root, 'keys', 'kek'),
    clock: { now: () => now },
    onOperatorAccess: async (e) => {
      if (denyAccess) throw new Error('audit trail unavailable');
      events.push(e);
    },
  });
  opened.push(store);
  return store;
}

async function transformDeadLetter(store: QueueStore, n: number): Promise<string> {
  await store.rejected(await store.commitInbound({ sourceId: 'analyzer-1', raw: raw(n), receivedAt: n }), { reasonCode: 'mapping-error', detail: 'R.3' });
  const all = await store.listDeadLetters(1000);
  return all[all.length - 1]?.id ?? '';
}

describe('dead letters for an operator', () => {
  it('show returns the content only after the access is reported; a failed report denies it', async () => {
    const store = await openStore();
    const id = await transformDeadLetter(store, 1);
    const letter = await store.dlq.show(id, operator);
    assert.deepEqual(letter.raw, raw(1));
    assert.deepEqual(events, [{ operator: 'jdoe', action: 'dlq-show', ids: [id], at: now }]);
    denyAccess = true;
    await assert.rejects(store.dlq.show(id, operator), /audit trail unavailable/);
    await assert.rejects(store.dlq.show('d-00000000000000ff', operator), hasCode('LABEDGE_ERR_STORE_NOT_FOUND'));
  });

  it('replay to inbound goes through transform again; replay to outbound re-sends the bundle', async () => {
    const store = await openStore();
    const fromTransform = await transformDeadLetter(store, 1);
    const inboundId = await store.dlq.replay(fromTransform, operator);
    assert.match(inboundId, /^i-/);
    const [record] = await store.listInbound();
    assert.deepEqual(record?.raw, raw(1));
    assert.equal(record?.meta?.replayOf, fromTransform);

    const out = await store.transformed(inboundId, { sourceId: 'analyzer-1', bundle: { resourceType: 'Bundle', n: 1 } });
    await store.deadLetterOutbound(out, { reasonCode: 'upstream-422' });
    const fromDelivery = (await store.listDeadLetters()).find((d) => d.stage === 'deliver')?.id ?? '';
    await assert.rejects(store.dlq.replay(fromDelivery, operator, 'inbound'), hasCode('LABEDGE_ERR_USAGE'));
    const outboundId = await store.dlq.replay(fromDelivery, operator);
    const [head] = await store.outboundHeads();
    assert.equal(head?.id, outboundId);
    assert.deepEqual(head?.bundle, { resourceType: 'Bundle', n: 1 });
    assert.equal(head?.inboundId, out, 'the replayed record names the record it came from');
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 1, deadLetter: 0 });
    assert.deepEqual(events.map((e) => [e.action, e.ids]), [['dlq-replay', [fromTransform, inboundId]], ['dlq-replay', [fromDelivery, outboundId]]]);
  });

  it('an integrity dead letter cannot be replayed', async () => {
    const store = await openStore();
    const id = await store.commitInbound({ sourceId: 'a', raw: raw(1), receivedAt: 1 });
    await (store as any).quarantine({ key: id.replaceAll('-', '!'), value: await (store as any).db.get(id.replaceAll('-', '!')), detail: 'test' });
    const [dl] = await store.listDeadLetters();
    await assert.rejects(store.dlq.replay(dl?.id ?? '', operator), hasCode('LABEDGE_ERR_STORE_INTEGRITY'));
  });

  it('purge deletes what is older than asked (or everything), reporting the ids first', async () => {
    const store = await openStore();
    const old = await transformDeadLetter(store, 1);
    now += 10 * DAY_MS;
    const recent = await transformDeadLetter(store, 2);
    assert.equal(await store.dlq.purge(operator, 5 * DAY_MS), 1);
    assert.deepEqual((await store.listDeadLetters()).map((d) => d.id), [recent]);
    assert.deepEqual(events[0]?.ids, [old]);
    assert.equal(await store.dlq.purge(operator), 1);
    assert.equal((await store.stats()).deadLetter, 0);
  });
});

describe('dead-letter retention', () => {
  it('the sweeper never deletes a dead letter younger than 90 days, whatever the size bound; older ones go', async () => {
    const store = await openStore();
    const ancient = await transformDeadLetter(store, 1);
    now += 100 * DAY_MS;
    const young = [await transformDeadLetter(store, 2), await transformDeadLetter(store, 3)];
    // A size bound far below what is stored: only what is past the floor may go.
    const [result] = await store.sweep([deadLetterRule({ deadLetterDays: 365, deadLetterMaxBytes: 10 })]);
    assert.equal(result?.purged, 1);
    assert.equal(result?.overBound, true, 'still over the bound: reported, not purged');
    assert.deepEqual((await store.listDeadLetters()).map((d) => d.id), young);
    assert.ok(!young.includes(ancient));
  });

  it('by age: kept for deadLetterDays (never under 90), then swept', async () => {
    const store = await openStore();
    await transformDeadLetter(store, 1);
    now += 89 * DAY_MS;
    const rule = deadLetterRule({ deadLetterDays: 30, deadLetterMaxBytes: 1e9 }); // 30 is raised to the 90-day floor
    assert.equal((await store.sweep([rule]))[0]?.purged, 0);
    now += 2 * DAY_MS;
    assert.equal((await store.sweep([rule]))[0]?.purged, 1);
    assert.equal((await store.stats()).deadLetter, 0);
  });

  it('every dead letter the sweeper deletes is explained by a retention-purge entry naming it; the chain verifies', async () => {
    const store = await openStore();
    const gone = [await transformDeadLetter(store, 1), await transformDeadLetter(store, 2)];
    now += 91 * DAY_MS;
    const kept = await transformDeadLetter(store, 3);
    assert.equal((await store.sweep([deadLetterRule({ deadLetterDays: 90, deadLetterMaxBytes: 1e9 })]))[0]?.purged, 2);
    const purges: unknown[] = [];
    for await (const e of store.audit.entries()) if (e.kind === 'retention-purge') purges.push(e.body);
    assert.deepEqual(
      purges.map((b) => (b as { ids: string[] }).ids[0]).sort(),
      [...gone].sort(),
    );
    assert.ok(purges.every((b) => (b as { rule: string }).rule === 'dead letters'));
    assert.deepEqual((await store.listDeadLetters()).map((d) => d.id), [kept]);
    assert.equal((await verifyChain(store.audit)).ok, true);
  });
});
