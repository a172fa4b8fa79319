import { loadFhirDefinitions } from '../test/harness/fhir-validate.js';
loadFhirDefinitions();
import { MemoryRepository } from '@medplum/fhir-router';
import { parseSearchRequest } from '@medplum/core';
const repo = new MemoryRepository();
const p = await repo.createResource({ resourceType: 'Patient', identifier: [{ system: 'urn:h:mrn', value: 'MRN1' }], name: [{ family: 'Doe', given: ['Jane'] }], birthDate: '1970-01-02', gender: 'female' } as any);
const sp = await repo.createResource({ resourceType: 'Specimen', identifier: [{ system: 'urn:h:acc', value: 'ACC123' }], subject: { reference: `Patient/${p.id}` } } as any);
await repo.createResource({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${p.id}` }, specimen: [{ reference: `Specimen/${sp.id}` }], code: { coding: [{ system: 'urn:labedge:cobas-1:test-code', code: '10' }] } } as any);
for (const q of ['ServiceRequest?specimen:Specimen.identifier=ACC123', 'ServiceRequest?specimen.identifier=ACC123', 'Specimen?identifier=ACC123&_revinclude=ServiceRequest:specimen', 'ServiceRequest?specimen:Specimen.identifier=ACC123&_include=ServiceRequest:subject', 'ServiceRequest?specimen=Specimen/' + sp.id + '&_include=ServiceRequest:subject']) {
  try { const b = await repo.search(parseSearchRequest(q)); console.log(q, '→', (b.entry??[]).map((e:any)=>e.resource.resourceType + ':' + (e.search?.mode ?? ''))); } catch (e) { console.log(q, 'ERR', (e as Error).message); }
}
