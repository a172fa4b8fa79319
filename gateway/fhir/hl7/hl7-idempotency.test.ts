/**
 * Invariant 2 for HL7 v2 against a real FHIR transaction processor (@medplum/fhir-router +
 * MemoryRepository): a replayed message creates nothing new, a correction (OBX-11 = C) updates the
 * Observation it corrects, and an order (ORM) and the result that reports it (ORU) share one
 * ServiceRequest.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FhirRouter, MemoryRepository, type FhirRequest } from '@medplum/fhir-router';
import type { Bundle, DiagnosticReport, Observation, ResourceType } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../../test/harness/fhir-validate.js';
import { convert, convertAll, message, MSH, OBR, PID } from './hl7-test-kit.js';

const TYPES: ResourceType[] = ['Patient', 'Device', 'Specimen', 'ServiceRequest', 'Observation', 'DiagnosticReport'];

async function server(): Promise<{ post: (b: Bundle) => Promise<string[]>; counts: () => Promise<Record<string, number>>; repo: MemoryRepository }> {
  loadFhirDefinitions(); // search parameters, so conditional writes can match identifiers
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const post = async (bundle: Bundle): Promise<string[]> => {
    // The repository writes ids into what it is given: send a copy, as a wire would.
    const req: FhirRequest = { method: 'POST', url: '', pathname: '', body: structuredClone(bundle), params: {}, query: {} };
    const [outcome, response] = await router.handleRequest(req, repo);
    assert.equal(outcome.issue?.[0]?.severity, 'information');
    return ((response as Bundle | undefined)?.entry ?? []).map((e) => e.response?.status ?? '?');
  };
  const counts = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const resourceType of TYPES) out[resourceType] = (await repo.search({ resourceType, count: 1000 })).entry?.length ?? 0;
    return out;
  };
  return { post, counts, repo };
}

const fixture = (name: string): Buffer => readFileSync(new URL(`../../../test/fixtures/hl7/${name}`, import.meta.url));

for (const name of ['urit5160-ORU_R01-hematology.hl7', 'fhirconverter-ORU_R01-nist-lri-cbc.hl7', 'hapi-OUL_R22.hl7', 'fhirconverter-OUL_R22-02.hl7', 'hapi-multi-OML_O21-OUL_R22-ORU_R01.hl7', 'abl735-ORU_R01-bloodgas.hl7']) {
  test(`replaying ${name} creates no duplicates`, async () => {
    const { post, counts } = await server();
    const bundles = convertAll(fixture(name)).map((r) => r.bundle);
    for (const b of bundles) {
      const first = await post(b);
      assert.ok(first.every((s) => s.startsWith('20')), first.join());
    }
    const after = await counts();
    // One Observation per distinct result identity (a later message may update an earlier result).
    const identities = new Set(bundles.flatMap((b) => b.entry ?? []).filter((e) => e.resource?.resourceType === 'Observation').map((e) => e.request?.url));
    assert.equal(after.Observation, identities.size);
    for (const b of bundles) {
      const again = await post(b);
      assert.ok(again.every((s) => s === '200'), again.join());
    }
    assert.deepEqual(await counts(), after);
  });
}

test('a correction (OBX-11 C) updates the Observation and report in place; odd identifiers still match', async () => {
  const { post, counts, repo } = await server();
  // `\F\` puts a | into the placer number, and `,` `$` need search escaping.
  const oru = (value: string, status: string, control: string): string =>
    message(MSH.replace('CTRL1', control), 'PID|1||PAT,1$^^^HOSP^MR||Doe^Jane', 'OBR|1|PL\\F\\1,2$|||||20240105080000-0500||||||||||||||||||' + status,
      `OBX|1|NM|GLU^Glucose^L||${value}|mmol/L|||||${status}`);
  await post(convert(oru('5.5', 'F', 'C1'), { messageId: 'one' }).bundle);
  const before = await counts();
  await post(convert(oru('6.1', 'C', 'C2'), { messageId: 'two' }).bundle);
  assert.deepEqual(await counts(), before);
  const obs = (await repo.search<Observation>({ resourceType: 'Observation' })).entry?.[0]?.resource;
  assert.equal(obs?.status, 'corrected');
  assert.equal(obs?.valueQuantity?.value, 6.1);
  assert.equal(obs?.identifier?.[0]?.value, 'placer/PL%7C1,2$/GLU');
  const report = (await repo.search<DiagnosticReport>({ resourceType: 'DiagnosticReport' })).entry?.[0]?.resource;
  assert.equal(report?.status, 'corrected');
});

test('an ORM order and the ORU that reports it share one ServiceRequest', async () => {
  const { post, counts } = await server();
  const orm = message(MSH.replace('ORU^R01^ORU_R01', 'ORM^O01^ORM_O01'), PID, 'ORC|NW|PLC1', 'OBR|1|PLC1||24317-0^CBC^LN');
  await post(convert(orm, { messageId: 'order' }).bundle);
  assert.equal((await counts()).ServiceRequest, 1);
  await post(convert(message(MSH, PID, OBR, 'OBX|1|NM|718-7^Hgb^LN||13.2|g/dL|||||F'), { messageId: 'result' }).bundle);
  const after = await counts();
  assert.equal(after.ServiceRequest, 1);
  assert.equal(after.Patient, 1);
  assert.equal(after.Observation, 1);
});
