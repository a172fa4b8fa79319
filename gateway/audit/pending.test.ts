import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { chainOf } from '../../test/harness/audit-kit.js';
import type { AuditDraft, AuditEntry } from './audit-types.js';
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

const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
const inId = (seq: number): string => `i-${hex(seq, 16)}`;
const outId = (source: number, seq: number): string => `o-${hex(source, 8)}-${hex(seq, 16)}`;
const letterId = (seq: number): string => `d-${hex(seq, 16)}`;
const seqOf = (id: string): number => parseInt(id.slice(-16), 16);

/** The model: ids in the store's form; each journey remembers the audit seq of its ingest entry (its position in `drafts`, from 1). */
function simulate(steps: Step[]): { drafts: AuditDraft[]; waiting: Map<string, number>; kept: Set<string>; sources: Map<number, number> } {
  const waiting = new Map<string, number>(); // id → the audit seq of its journey's ingest entry
  const letters = new Map<string, number>(); // replayable dead letters → the same
  const quarantined = new Set<string>(); // integrity dead letters: kept, never replayed
  const sources = new Map<number, number>(); // record seq → source number (for the model's outbound ids)
  const drafts: AuditDraft[] = [];
  let seq = 0;
  const nth = <T>(xs: T[], n: number): T | undefined => xs[n % Math.max(1, xs.length)];
  const of = (prefix: string): string[] => [...waiting.keys()].filter((k) => k.startsWith(prefix));
  for (const s of steps) {
    const sourceId = `analyzer-${s.source}`;
    switch (s.op) {
      case 'ingest': {
        const id = inId(++seq);
        sources.set(seq, s.source);
        drafts.push({ kind: 'ingest', body: { inboundId: id, sourceId, digest: 'd', bytes: 10, receivedAt: seq, link: {}, payloadRef: `r-${seq}` } });
        waiting.set(id, drafts.length);
        break;
      }
      case 'transform':
      case 'handled':
      case 'reject': {
        const id = nth(of('i-'), s.pick);
        if (!id) break;
        const origin = waiting.get(id) ?? 0;
        waiting.delete(id);
        if (s.op === 'reject') {
          const letter = letterId(++seq);
          letters.set(letter, origin);
          drafts.push({ kind: 'reject', body: { inboundId: id, sourceId, reasonCode: 'mapping-error', deadLetterId: letter } });
        } else {
          const out = s.op === 'transform' ? outId(sources.get(seqOf(id)) ?? 0, seqOf(id)) : '';
          if (out) waiting.set(out, origin);
          drafts.push({ kind: 'transform', body: { inboundId: id, outboundId: out, sourceId, fhirDigest: 'f', resources: 1, unmapped: [], warnings: [] } });
        }
        break;
      }
      case 'deliver':
      case 'deadLetter': {
        const id = nth(of('o-'), s.pick);
        if (!id) break;
        const origin = waiting.get(id) ?? 0;
        waiting.delete(id);
        if (s.op === 'deliver') drafts.push({ kind: 'deliver', body: { outboundId: id, resources: [] } });
        else {
          const letter = letterId(++seq);
          letters.set(letter, origin);
          drafts.push({ kind: 'dead-letter', body: { outboundId: id, reasonCode: 'rejected', issues: [], deadLetterId: letter } });
        }
        break;
      }
      case 'integrity': {
        const id = nth([...waiting.keys()], s.pick);
        if (!id) break;
        waiting.delete(id);
        const letter = letterId(++seq);
        quarantined.add(letter);
        drafts.push({ kind: 'integrity', body: { recordId: id, reasonCode: 'integrity', detail: 'x', deadLetterId: letter } });
        break;
      }
      case 'replay': {
        const letter = nth([...letters.keys()], s.pick);
        if (!letter) break;
        const to = s.pick % 2 ? inId(++seq) : outId(s.source, ++seq);
        waiting.set(to, letters.get(letter) ?? 0);
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
  return { drafts, waiting, kept: new Set([...letters.keys(), ...quarantined]), sources };
}

test('the records the fold says are waiting, and the dead letters it says are kept, are exactly the queue\'s, with the journey that restores them', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
      const { drafts, waiting, kept } = simulate(steps);
      const fold = new PendingFold((sourceId) => Number(sourceId.slice('analyzer-'.length)));
      for (const e of chainOf(drafts)) fold.add(e);
      const records = [...fold.records()];
      assert.equal(fold.waitingCount, records.length);
      assert.deepEqual(records.map((r) => r.id).sort(), [...waiting.keys()].sort());
      for (const r of records) {
        assert.equal(r.origin, waiting.get(r.id), r.id);
        // Where the record would be as outbound is known, for an inbound record too.
        if (r.id.startsWith('o-')) assert.equal(r.sourceNo, parseInt(r.id.slice(2, 10), 16), r.id);
        else if (r.origin > 0) assert.notEqual(r.sourceNo, undefined, r.id);
      }
      assert.deepEqual([...fold.deadLetters()].map((r) => r.id).sort(), [...kept].sort());
      // Oldest first.
      assert.deepEqual(records.map((r) => r.since), records.map((r) => r.since).sort((a, b) => a - b));
    }),
    { numRuns: 500 },
  );
});

test('the fold keeps a few numbers per waiting record: a backlog of 200,000 costs about 100 bytes a record, not 400', () => {
  // A collector to call between the measurements (the runner does not pass --expose-gc).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const n = 200_000;
  const fold = new PendingFold(() => 3);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const e of chainOf([{ kind: 'app-start', body: {} }])) fold.add(e);
  for (let i = 1; i <= n; i++) {
    // One entry at a time, as the trail is read: the fold must not keep the entries' strings.
    fold.add({ seq: i, kind: 'ingest', at: i, prev: '', hash: '', body: { inboundId: inId(i), sourceId: 'analyzer-3', digest: 'ab'.repeat(32), bytes: 1024, receivedAt: i, link: { protocol: 'hl7', messageType: 'ORU', triggerEvent: 'R01', version: '2.5.1' }, payloadRef: `r-${i}` } } as unknown as AuditEntry);
  }
  gc();
  const perRecord = (process.memoryUsage().heapUsed - before) / n;
  assert.equal(fold.waitingCount, n);
  assert.ok(perRecord < 128, `${perRecord.toFixed(0)} bytes a record (the fold kept 390 before it held numbers only)`);
});

test('entries with missing or odd fields change nothing and never throw', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ kind: fc.constantFrom('ingest', 'transform', 'reject', 'deliver', 'dead-letter', 'integrity', 'dlq-access', 'retention-purge'), body: fc.dictionary(fc.constantFrom('inboundId', 'outboundId', 'recordId', 'ids', 'action', 'link', 'deadLetterId'), fc.jsonValue()) }), { maxLength: 40 }), (drafts) => {
      const fold = new PendingFold();
      for (const e of chainOf(drafts as AuditDraft[])) fold.add(e);
      for (const r of fold.records()) assert.equal(typeof r.id, 'string');
      for (const r of fold.deadLetters()) assert.equal(typeof r.id, 'string');
    }),
  );
});
