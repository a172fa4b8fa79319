import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainOf } from '../../test/harness/audit-kit.js';
import { traceMessage } from './trace.js';

const D = 'd'.repeat(64);
const entries = chainOf([
  { kind: 'ingest', body: { inboundId: 'i-1', sourceId: 'a', digest: D } },
  { kind: 'ingest', body: { inboundId: 'i-2', sourceId: 'a', digest: 'e'.repeat(64) } },
  { kind: 'reject', body: { inboundId: 'i-1', sourceId: 'a', digest: D, reasonCode: 'no-resources', deadLetterId: 'd-3' } },
  { kind: 'transform', body: { inboundId: 'i-2', outboundId: 'o-2', sourceId: 'a' } },
  { kind: 'dlq-access', body: { operator: 'jdoe', action: 'dlq-replay', ids: ['d-3', 'i-4'] } },
  { kind: 'transform', body: { inboundId: 'i-4', outboundId: 'o-4', sourceId: 'a', digest: D } },
  { kind: 'deliver', body: { outboundId: 'o-4', status: 200, resources: [] } },
  { kind: 'deliver', body: { outboundId: 'o-2', status: 200, resources: [] } },
]);
const source = () => (async function* () {
  yield* entries;
})();

test('trace follows a message through reject, an operator replay, and on to delivery, from any of its ids', async () => {
  for (const id of ['i-1', 'd-3', 'i-4', 'o-4', D]) {
    const [j, ...more] = await traceMessage(source, id);
    assert.equal(more.length, 0, id);
    assert.equal(j?.inboundId, 'i-1', id);
    assert.deepEqual(j?.stages.map((s) => s.kind), ['ingest', 'reject', 'dlq-access', 'transform', 'deliver'], id);
    assert.equal(j?.digestsAgree, true);
    assert.equal(j?.complete, true);
  }
  const [other] = await traceMessage(source, 'o-2');
  assert.deepEqual(other?.stages.map((s) => s.seq), [2, 4, 8]);
  assert.deepEqual(await traceMessage(source, 'i-99'), []);
});
