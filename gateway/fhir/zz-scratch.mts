import { loadFhirDefinitions } from '../../test/harness/fhir-validate.ts';
import { readFileSync } from 'node:fs';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { convertAstm } from './astm-to-fhir.ts';
loadFhirDefinitions();
const router = new FhirRouter();
const repo = new MemoryRepository();
async function post(bundle: any) {
  const [outcome, result] = await router.handleRequest({ method: 'POST', url: '', pathname: '', body: bundle, params: {}, query: {} } as any, repo);
  return { outcome, result: result as any };
}
async function count(rt: string) {
  const b = await repo.search({ resourceType: rt as any, count: 1000 });
  return b.entry?.length ?? 0;
}
const text = readFileSync('/work/main/test/fixtures/astm/' + process.argv[2], 'latin1');
const res = convertAstm(text, { sourceId: 'dev1', messageId: 'abc123', timeZone: 'Europe/Berlin' });
for (let i = 0; i < 2; i++) {
  const r = await post(res.bundle);
  console.log(r.outcome.issue?.[0]?.code, r.result?.entry?.map((e: any) => e.response?.status).join(','));
  for (const rt of ['Patient', 'Device', 'Specimen', 'ServiceRequest', 'Observation', 'DiagnosticReport']) console.log(rt, await count(rt));
}
const obs = await repo.search({ resourceType: 'Observation', count: 1 });
console.log(JSON.stringify(obs.entry?.[0]?.resource).slice(0, 800));
