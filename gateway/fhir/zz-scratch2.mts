import { readFileSync } from 'node:fs';
import { loadFhirDefinitions } from '../../test/harness/fhir-validate.ts';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { convertAstm } from './astm-to-fhir.ts';
loadFhirDefinitions();
const router = new FhirRouter();
const repo = new MemoryRepository();
const text = readFileSync('/tmp/odd.astm', 'latin1');
const res = convertAstm(text, { sourceId: 'dev 1', messageId: 'abc123' });
console.log(res.bundle.entry!.map((e) => e.request!.url + ' ' + (e.request!.ifNoneExist ?? '')).join('\n'));
for (let i = 0; i < 2; i++) {
  const [o, r]: any = await router.handleRequest({ method: 'POST', url: '', pathname: '', body: res.bundle, params: {}, query: {} } as any, repo);
  console.log(o.issue?.[0]?.code, r?.entry?.map((e: any) => e.response?.status + (e.response?.outcome ? JSON.stringify(e.response.outcome.issue?.[0]?.details) : '')).join(','));
  for (const rt of ['Patient', 'Device', 'Specimen', 'ServiceRequest', 'Observation', 'DiagnosticReport']) console.log(rt, (await repo.search({ resourceType: rt as any })).entry?.length);
}
