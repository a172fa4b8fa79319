import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { chainOf } from '../../test/harness/audit-kit.js';
import type { AuditDraft } from './audit-types.js';
import { PendingFold } from './pending.js';

/**
 * The fold against a model queue: random journeys (ingest, transform, reject, deliver, dead
 * letter, quarantine, an operator's replay or purge, events that change nothing), written as
 * the store writes them; what the fold says is waiting is exactly what the model holds.
 */
type Step = { op: 'ingest' | 'transform' | 'handled' | 'reject' | 'deliver' | 'deadLetter' | 'integrity' | 'replay' | 'purge' | 'noise'; pick: number; source: number };
const step = fc.record({
  op: fc.constantFrom('ingest', 'ingest', 'transform', 'handled', 'reject', 'deliver', 'deadLetter', 'integrity', 'replay', 'purge', 'noise'),
  pick: fc.nat(),
  source: fc.nat(2),
}) as fc.Arbitrary<Step>;

function simulate(steps: Step[]): { drafts: AuditDraft[]; waiting: Map<string, string>; kept: Set<string> } {
  const waiting = new Map<string, string>(); // id → the inbound id of its journey
  const letters = new Map<string, string>(); // replayable dead letters → the inbound id of their journey
  const quarantined = new Set<string>(); // integrity dead letters: kept, never replayed
  const drafts: AuditDraft[] = [];
  let seq = 0;
  const nth = <T>(xs: T[], n: number): T | undefined => xs[n % Math.max(1, xs.length)];
  const of = (prefix: string): string[] => [...waiting.keys()].filter((k) => k.startsWith(prefix));
  for (const s of steps) {
    const sourceId = `analyzer-${s.source}`;
    switch (s.op) {
      case 'ingest': {
        const id = `i-${++seq}`;
        waiting.set(id, id);
        drafts.push({ kind: 'ingest', body: { inboundId: id, sourceId, digest: 'd', bytes: 10, receivedAt: seq, link: {}, payloadRef: `r-${seq}` } });
        break;
      }
      case 'transform':
      case 'handled':
      case 'reject': {
        const id = nth(of('i-'), s.pick);
        if (!id) break;
        const origin = waiting.get(id) ?? id;
        waiting.delete(id);
        if (s.op === 'reject') {
          const letter = `d-${++seq}`;
          letters.set(letter, origin);
          drafts.push({ kind: 'reject', body: { inboundId: id, sourceId, reasonCode: 'mapping-error', deadLetterId: letter } });
        } else {
          const out = s.op === 'transform' ? `o-${id.slice(2)}` : '';
          if (out) waiting.set(out, origin);
          drafts.push({ kind: 'transform', body: { inboundId: id, outboundId: out, sourceId, fhirDigest: 'f', resources: 1, unmapped: [], warnings: [] } });
        }
        break;
      }
      case 'deliver':
      case 'deadLetter': {
        const id = nth(of('o-'), s.pick);
        if (!id) break;
        const origin = waiting.get(id) ?? id;
        waiting.delete(id);
        if (s.op === 'deliver') drafts.push({ kind: 'deliver', body: { outboundId: id, resources: [] } });
        else {
          const letter = `d-${++seq}`;
          letters.set(letter, origin);
          drafts.push({ kind: 'dead-letter', body: { outboundId: id, reasonCode: 'rejected', issues: [], deadLetterId: letter } });
        }
        break;
      }
      case 'integrity': {
        const id = nth([...waiting.keys()], s.pick);
        if (!id) break;
        waiting.delete(id);
        const letter = `d-${++seq}`;
        quarantined.add(letter);
        drafts.push({ kind: 'integrity', body: { recordId: id, reasonCode: 'integrity', detail: 'x', deadLetterId: letter } });
        break;
      }
      case 'replay': {
        const letter = nth([...letters.keys()], s.pick);
        if (!letter) break;
        const to = s.pick % 2 ? `i-${++seq}` : `o-${++seq}`;
        waiting.set(to, letters.get(letter) ?? letter);
        letters.delete(letter);
        drafts.push({ kind: 'dlq-access', body: { operator: 'op', action: 'dlq-replay', ids: [letter, to] } });
        break;
      }
      case 'purge': {
        const letter = nth([...letters.keys(), ...quarantined], s.pick);
        if (!letter) break;
        letters.delete(letter);
        quarantined.delete(letter);
        drafts.push({ kind: s.pick % 2 ? 'retention-purge' : 'dlq-access', body: { rule: 'dead-letter-days', action: 'dlq-purge', ids: [letter] } });
        break;
      }
      default:
        drafts.push({ kind: 'app-start', body: { deviceId: 'box' } });
    }
  }
  return { drafts, waiting, kept: new Set([...letters.keys(), ...quarantined]) };
}

test('the records the fold says are waiting, and the dead letters it says are kept, are exactly the queue\'s, with the journey that restores them', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
      const { drafts, waiting, kept } = simulate(steps);
      const fold = new PendingFold();
      for (const e of chainOf(drafts)) fold.add(e);
      const records = fold.records();
      assert.deepEqual(records.map((r) => r.id).sort(), [...waiting.keys()].sort());
      for (const r of records) {
        const origin = waiting.get(r.id);
        assert.equal(r.inboundId, origin, r.id);
        assert.equal(r.payloadRef, `r-${origin?.slice(2)}`, r.id);
      }
      assert.deepEqual(fold.deadLetters().map((r) => r.id).sort(), [...kept].sort());
      // Oldest first.
      assert.deepEqual(records.map((r) => r.since), records.map((r) => r.since).sort((a, b) => a - b));
    }),
    { numRuns: 500 },
  );
});

test('entries with missing or odd fields change nothing and never throw', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ kind: fc.constantFrom('ingest', 'transform', 'reject', 'deliver', 'dead-letter', 'integrity', 'dlq-access', 'retention-purge'), body: fc.dictionary(fc.constantFrom('inboundId', 'outboundId', 'recordId', 'ids', 'action', 'link', 'deadLetterId'), fc.jsonValue()) }), { maxLength: 40 }), (drafts) => {
      const fold = new PendingFold();
      for (const e of chainOf(drafts as AuditDraft[])) fold.add(e);
      for (const r of fold.records()) assert.equal(typeof r.id, 'string');
    }),
  );
});
