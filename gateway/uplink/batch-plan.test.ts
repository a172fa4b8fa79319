import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { literalReferenceOf, planBatchLevels, readBatchResponse, referencesIn, rewriteReferences, type BundleEntryLike } from './batch-plan.js';

const u = (n: number): string => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('batch planning', () => {
  it('puts every entry after the entries it references, keeping bundle order within a level', () => {
    const entries: BundleEntryLike[] = [
      { fullUrl: u(0), resource: { resourceType: 'Device' } },
      { fullUrl: u(1), resource: { resourceType: 'Patient' } },
      { fullUrl: u(2), resource: { resourceType: 'Specimen', subject: { reference: u(1) } } },
      { fullUrl: u(3), resource: { resourceType: 'Observation', subject: { reference: u(1) }, specimen: { reference: u(2) }, device: { reference: u(0) } } },
      { fullUrl: u(4), resource: { resourceType: 'DiagnosticReport', result: [{ reference: u(3) }], subject: { reference: 'Patient/external' } } },
    ];
    assert.deepEqual(planBatchLevels(entries).map((l) => l.map((e) => e.index)), [[0, 1], [2], [3], [4]]);
  });

  it('orders any acyclic reference graph correctly (property)', () => {
    const graph = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(fc.constant(n), fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 30 })),
    );
    fc.assert(
      fc.property(graph, ([n, edges]) => {
        // An edge a→b with a > b keeps the graph acyclic; entries are shuffled by reversing.
        const refs = new Map<number, number[]>();
        for (const [x, y] of edges) if (x !== y) (refs.get(Math.max(x, y)) ?? refs.set(Math.max(x, y), []).get(Math.max(x, y))!).push(Math.min(x, y));
        const entries: BundleEntryLike[] = Array.from({ length: n }, (_, i) => ({ fullUrl: u(i), resource: { resourceType: 'Basic', links: (refs.get(i) ?? []).map((t) => ({ reference: u(t) })) } })).reverse();
        const levelOf = new Map<string, number>();
        planBatchLevels(entries).forEach((level, l) => level.forEach(({ entry }) => levelOf.set(entry.fullUrl!, l)));
        assert.equal(levelOf.size, n);
        for (const e of entries) for (const r of referencesIn(e.resource)) assert.ok(levelOf.get(r)! < levelOf.get(e.fullUrl!)!);
      }),
    );
  });

  it('survives a cycle (both members in one level) and self-references', () => {
    const entries: BundleEntryLike[] = [
      { fullUrl: u(0), resource: { resourceType: 'A', x: { reference: u(1) }, self: { reference: u(0) } } },
      { fullUrl: u(1), resource: { resourceType: 'B', x: { reference: u(0) } } },
    ];
    assert.equal(planBatchLevels(entries).flat().length, 2);
  });

  it('rewrites resolved references only, without touching the input', () => {
    const resource = { resourceType: 'Observation', subject: { reference: u(1) }, hasMember: [{ reference: u(2) }], note: [{ text: u(1) }] };
    const out = rewriteReferences(resource, new Map([[u(1), 'Patient/p1']]));
    assert.deepEqual(out, { resourceType: 'Observation', subject: { reference: 'Patient/p1' }, hasMember: [{ reference: u(2) }], note: [{ text: u(1) }] });
    assert.equal(resource.subject.reference, u(1));
  });

  it('reads literal references from locations (relative, absolute, versioned) or returned resources', () => {
    assert.equal(literalReferenceOf({ response: { location: 'Patient/123/_history/4' } }), 'Patient/123');
    assert.equal(literalReferenceOf({ response: { location: 'https://fhir.example/R4/Observation/a-b.c' } }), 'Observation/a-b.c');
    assert.equal(literalReferenceOf({ response: { status: '200 OK' }, resource: { resourceType: 'Device', id: 'd1' } }), 'Device/d1');
    assert.equal(literalReferenceOf({ response: { status: '200 OK' } }), undefined);
  });

  it('maps a batch-response back to the entries sent; missing entries are status 0', () => {
    const sent = [{ index: 3, entry: {} }, { index: 5, entry: {} }];
    const response = { resourceType: 'Bundle', type: 'batch-response', entry: [{ response: { status: '201 Created', location: 'Specimen/s/_history/1' } }] };
    assert.deepEqual(readBatchResponse(response, sent), [{ index: 3, status: 201, literal: 'Specimen/s' }, { index: 5, status: 0 }]);
    assert.deepEqual(readBatchResponse({ resourceType: 'OperationOutcome' }, sent).map((r) => r.status), [0, 0]);
  });
});
