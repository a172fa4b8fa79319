/**
 * Invariant 2 against a real FHIR transaction processor (@medplum/fhir-router + MemoryRepository):
 * replaying a bundle creates nothing new, and a correction updates the result it corrects.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FhirRouter, MemoryRepository, type FhirRequest } from '@medplum/fhir-router';
import type { Bundle, Observation, ResourceType } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../test/harness/fhir-validate.js';
import { convertAstm, type AstmMappingContext } from './astm-to-fhir.js';

const TYPES: ResourceType[] = ['Patient', 'Device', 'Specimen', 'ServiceRequest', 'Observation', 'DiagnosticReport'];
const ctx: AstmMappingContext = { sourceId: 'analyzer-7', messageId: 'msg-0001', timeZone: 'Europe/Berlin' };

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

const fixture = (name: string): string => readFileSync(new URL(`../../test/fixtures/astm/${name}`, import.meta.url), 'latin1');

for (const name of ['chistousov-beckman-dxh.astm', 'rubyastm-stago-sta-satellite-max.astm', 'goastm-biorad-ihcom-ih1000.astm', 'goastm-immucor-galileo-result.astm']) {
  test(`replaying ${name} creates no duplicates`, async () => {
    const { post, counts } = await server();
    const { bundle } = convertAstm(fixture(name), ctx);
    const first = await post(bundle);
    assert.ok(first.every((s) => s.startsWith('20')), first.join());
    const after = await counts();
    assert.equal(after.Observation, (fixture(name).match(/^R\|/gm) ?? []).length);
    const again = await post(bundle);
    assert.ok(again.every((s) => s === '200'), again.join());
    assert.deepEqual(await counts(), after);
  });
}

test('a correction updates the original Observation; identifiers with , $ and | still match', async () => {
  const { post, counts, repo } = await server();
  const message = (value: string, status: string): string =>
    `H|\\^&\rP|1|PAT,1$\rO|1|ACC,1&F&x||^^^A,B\rR|1|^^^A,B|${value}|mmol/L||||${status}\rL|1|N`;
  await post(convertAstm(message('5', 'F'), { ...ctx, messageId: 'one' }).bundle);
  const before = await counts();
  await post(convertAstm(message('6', 'C'), { ...ctx, messageId: 'two' }).bundle);
  assert.deepEqual(await counts(), before);
  const obs = (await repo.search<Observation>({ resourceType: 'Observation' })).entry?.[0]?.resource;
  assert.equal(obs?.status, 'corrected');
  assert.equal(obs?.valueQuantity?.value, 6);
  assert.equal(obs?.identifier?.[0]?.value, 'ACC,1%7Cx/A,B');
});
