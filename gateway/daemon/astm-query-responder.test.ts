/**
 * Host-query answering against a real FHIR search engine (@medplum/fhir-router's in-memory
 * repository, the same one behind the harness server) with a fake clock, so deadlines and slow
 * upstreams are exact. The only stand-in is the network hop (a getter that answers after a
 * chosen delay): the end-to-end test covers the real mTLS path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Patient, Resource, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { FakeClock } from '../core/clock.js';
import { loadFhirDefinitions } from '../../test/harness/fhir-validate.js';
import { FhirSearch, type FhirGetter } from '../uplink/fhir-search.js';
import { resolveProfile } from '../profiles/resolve.js';
import { mappingProfile } from '../profiles/prepare-inbound.js';
import type { LinkSendOptions, LinkSendResult } from '../astm/e1381-link.js';
import { AstmQueryResponder, type QueryOutcome } from './astm-query-responder.js';
import { AstmOrderPush } from './astm-order-push.js';
import { AstmLine } from '../astm/astm-line.js';

loadFhirDefinitions();

const flush = () => new Promise<void>((r) => setImmediate(r));
async function settle(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await flush();
}

async function upstream() {
  const repo = new MemoryRepository();
  const patient = await repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:hosp:mrn', value: 'MRN-77' }], name: [{ family: 'Doe', given: ['Jane'] }], birthDate: '1970-01-02', gender: 'female' });
  const specimen = await repo.createResource<Specimen>({ resourceType: 'Specimen', identifier: [{ system: 'urn:hosp:acc', value: 'ACC-1' }], subject: { reference: `Patient/${patient.id}` }, collection: { collectedDateTime: '2024-05-01T08:30:00+02:00' } });
  const sr = (code: { system: string; code: string }, extra: Partial<ServiceRequest> = {}) =>
    repo.createResource<ServiceRequest>({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patient.id}` }, specimen: [{ reference: `Specimen/${specimen.id}` }], code: { coding: [code] }, ...extra });
  await sr({ system: 'urn:labedge:cobas-1:test-code', code: '10' }, { priority: 'stat' });
  await sr({ system: 'http://loinc.org', code: '6690-2' });
  await sr({ system: 'urn:other', code: 'nothing-we-know' });
  await sr({ system: 'urn:labedge:cobas-1:test-code', code: '99' }, { status: 'revoked' });
  return repo;
}

/** The network hop: answers each GET from the repository after `delayMs` of fake time (or fails). */
function getter(repo: MemoryRepository, clock: FakeClock, behaviour: { delayMs: number; status?: number }): FhirGetter & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async get(pathAndQuery) {
      calls.push(pathAndQuery.split('?')[0] ?? '');
      await new Promise<void>((r) => clock.setTimer(behaviour.delayMs, r));
      if (behaviour.status !== undefined) return { status: behaviour.status, text: '{}' };
      const bundle = await repo.search(parseSearchRequest(pathAndQuery) as Parameters<MemoryRepository['search']>[0]);
      return { status: 200, text: JSON.stringify(bundle) };
    },
  };
}

function responder(clock: FakeClock, get: FhirGetter | undefined, profileName = 'generic') {
  const profile = resolveProfile(profileName, { codes: { WBC: { loinc: '6690-2' } } });
  const sent: { records: string[]; options: LinkSendOptions }[] = [];
  const outcomes: QueryOutcome[] = [];
  const r = new AstmQueryResponder({
    sourceId: 'cobas-1',
    profile,
    mapping: mappingProfile(profile),
    clock,
    timeZone: 'Europe/Berlin',
    hostName: 'labedge',
    ...(get && { search: new FhirSearch(get, clock) }),
    send: async (records, options): Promise<LinkSendResult> => {
      sent.push({ records, options });
      return { ok: true, attempts: 1 };
    },
    onOutcome: (o) => outcomes.push(o),
  });
  return { r, sent, outcomes };
}

const QUERY = 'H|\\^&|||cobas^1\rQ|1|^ACC-1||ALL||||||||O\rL|1|N\r';

test('Q13: orders found upstream are sent back as H/P/O/L, tests in the instrument\'s codes, within the deadline', async () => {
  const clock = new FakeClock();
  const repo = await upstream();
  const { r, sent, outcomes } = responder(clock, getter(repo, clock, { delayMs: 300 }));
  const done = r.answer(QUERY, clock.now());
  for (let i = 0; i < 10; i++) {
    await settle();
    clock.advance(300);
  }
  await done;
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]?.options, { deadline: 10_000 });
  const [h, p, o, l] = sent[0]?.records ?? [];
  assert.match(h ?? '', /^H\|\\\^&\|\|\|labedge\|\|\|\|\|cobas\|\|P\|LIS2-A2\|\d{14}$/);
  assert.equal(p, 'P|1||MRN-77||Doe^Jane||19700102|F');
  assert.equal(o, 'O|1|ACC-1||^^^10\\^^^WBC|S||20240501083000||||N||||||||||||||O', 'local code as is, LOINC mapped back, unknown and revoked left out');
  assert.equal(l, 'L|1|N');
  assert.deepEqual(outcomes.map((x) => [x.outcome, x.lookup, x.found]), [['sent', 'ok', 1]]);
  assert.ok((outcomes[0]?.ms ?? Infinity) < 10_000);
});

test('Q13: an upstream slower than the lookup budget still gets the instrument a "no information" reply in time', async () => {
  const clock = new FakeClock();
  const repo = await upstream();
  const { r, sent, outcomes } = responder(clock, getter(repo, clock, { delayMs: 20_000 }));
  const done = r.answer(QUERY, clock.now());
  await settle();
  clock.advance(6_000);
  await settle();
  await done;
  assert.deepEqual(sent[0]?.records.at(-1), 'L|1|I');
  assert.deepEqual(outcomes.map((x) => [x.outcome, x.lookup]), [['sent', 'timeout']]);
  assert.equal(clock.now(), 6_000, 'answered at the lookup budget, well before the 15 s cobas cancel');
});

test('upstream errors and no uplink at all also give "no information"; the roche style sends the O without tests', async () => {
  const clock = new FakeClock();
  const repo = await upstream();
  const failing = responder(clock, getter(repo, clock, { delayMs: 10, status: 503 }), 'roche-cobas-e411');
  const done = failing.r.answer('H|\\^&|||cobas-e411^1|||||host|TSREQ^REAL|P|1\rQ|1|^^ACC-1^40^0^5^^S1^SC||ALL||||||||O\rL|1|N\r', 0);
  await settle();
  clock.advance(10);
  await settle();
  await done;
  assert.deepEqual(failing.sent[0]?.records, ['H|\\^&|||labedge^1|||||cobas-e411|TSDWN^REPLY|P|1', 'P|1', 'O|1|ACC-1|40^0^5^^S1^SC||R||||||A||||1||||||||||O', 'L|1|N']);
  assert.equal(failing.outcomes[0]?.lookup, 'error');
  const offline = responder(clock, undefined);
  await offline.r.answer(QUERY, clock.now());
  assert.deepEqual([offline.sent[0]?.records.at(-1), offline.outcomes[0]?.lookup], ['L|1|I', 'none']);
});

test('a cancel (Q.13 = A) drops the reply still being looked up', async () => {
  const clock = new FakeClock();
  const repo = await upstream();
  const { r, sent, outcomes } = responder(clock, getter(repo, clock, { delayMs: 3_000 }));
  const done = r.answer(QUERY, 0);
  await settle();
  await r.answer(QUERY.replace('||||||||O', '||||||||A'), 1_000);
  for (let i = 0; i < 6; i++) {
    clock.advance(3_000);
    await settle();
  }
  await done;
  assert.equal(sent.length, 0);
  assert.deepEqual(outcomes.map((o) => o.outcome), ['cancelled']);
});

test('a patient name from upstream the line cannot carry as is (Ł, a control byte) still gets its reply; a refused send is reported', async () => {
  const clock = new FakeClock();
  const repo = await upstream();
  const [patient] = (await repo.searchResources<Patient>(parseSearchRequest('Patient?identifier=MRN-77'))) as Patient[];
  await repo.updateResource<Patient>({ ...(patient as Patient), name: [{ family: 'Łukasiewicz\u0002', given: ['Jane'] }] });
  const profile = resolveProfile('generic', { encoding: 'latin1' });
  const wire: number[] = [];
  const line = new AstmLine({ clock, textEncoding: profile.encoding, write: (b) => wire.push(...b), onMessage: () => undefined });
  const outcomes: QueryOutcome[] = [];
  const base = { sourceId: 'cobas-1', profile, mapping: mappingProfile(profile), clock, timeZone: 'UTC', hostName: 'labedge', search: new FhirSearch(getter(repo, clock, { delayMs: 0 }), clock), onOutcome: (o: QueryOutcome) => outcomes.push(o) };
  const done = new AstmQueryResponder({ ...base, send: (records, options) => line.send(records, options) }).answer(QUERY, 0);
  for (let i = 0; i < 20 && !wire.includes(0x04); i++) {
    await settle();
    clock.advance(1);
    if (wire.at(-1) !== 0x06) line.consume(Uint8Array.of(0x06)); // the instrument ACKs the ENQ and each frame
  }
  await done;
  assert.deepEqual(outcomes.map((o) => [o.outcome, o.found]), [['sent', 1]]);
  assert.match(Buffer.from(wire).toString('latin1'), /P\|1\|\|MRN-77\|\|Lukasiewicz&X02&\^Jane/);
  line.destroy();

  const refused = new AstmQueryResponder({ ...base, send: () => Promise.reject(new Error('line refused the text')) });
  const [failed] = await Promise.all([refused.answer(QUERY, clock.now()), (async () => { for (let i = 0; i < 10; i++) { await settle(); clock.advance(1); } })()]).then(([o]) => o);
  assert.equal(failed?.outcome, 'failed');
});

test('push mode: new active orders are downloaded once; a new version goes again', async () => {
  const clock = new FakeClock();
  const repo = await upstream();
  const profile = resolveProfile('generic', { orders: { mode: 'push', pushSearch: 'status=active' }, codes: { WBC: { loinc: '6690-2' } } });
  const sent: string[][] = [];
  const push = new AstmOrderPush({
    sourceId: 'cobas-1',
    profile,
    mapping: mappingProfile(profile),
    clock,
    timeZone: 'UTC',
    hostName: 'labedge',
    search: new FhirSearch(getter(repo, clock, { delayMs: 0 }), clock),
    send: async (records) => {
      sent.push(records);
      return { ok: true, attempts: 1 };
    },
  });
  const run = async () => {
    const p = push.pushOnce();
    for (let i = 0; i < 5; i++) {
      await settle();
      clock.advance(1);
    }
    return p;
  };
  const first = await run();
  assert.deepEqual([first.outcome, first.orders, first.unmappable], ['sent', 1, 1]);
  assert.equal(sent[0]?.[2], 'O|1|ACC-1||^^^10\\^^^WBC|S||20240501083000||||N||||||||||||||O');
  assert.equal((await run()).outcome, 'nothing-new');
  const [existing] = await repo.searchResources(parseSearchRequest<ServiceRequest>('ServiceRequest?code=10'));
  await repo.updateResource<Resource>({ ...(existing as ServiceRequest), priority: 'routine' });
  const again = await run();
  assert.equal(again.outcome, 'sent');
  assert.equal(sent.length, 2);
});
