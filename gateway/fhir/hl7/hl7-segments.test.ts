/**
 * One ORU with every mapped segment filled in, checked element by element against the issue's
 * mapping list: Patient (PID CX, XPN, XAD), Specimen (SPM), ServiceRequest and DiagnosticReport
 * (ORC/OBR), Observation (OBX-8 table 0078, OBX-14, OBX-18 → Device, NTE → note). Fake data only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Device, DiagnosticReport, Observation, Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { validateFhirBundle } from '../../../test/harness/fhir-validate.js';
import { checkShape, convert, message, MSH, OBR, resources } from './hl7-test-kit.js';

const PID = 'PID|1|ALT9^^^HOSP^PI|PAT123^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||Doe^Jane^Q^Jr^Dr^MD^L~Smith^Jane^^^^^M||19800101|F|||12 Main St^Apt 4^Springfield^IL^62701^USA^H';
const OBX = 'OBX|1|NM|2345-7^Glucose^LN||5.5|mmol/L^mmol/L^UCUM|3.9-6.1|H~AC|||F|||20240105081500-0500||||ANALYZER-SN-77^COBAS^1.2.3^ISO';
const SPM = 'SPM|1|SP1&LAB^SF1&LAB||BLD^Blood^HL70487|||||||||||||20240105070000-0500^20240105071000-0500|20240105073000-0500||Y||||||||||ACC1';

test('every mapped segment of an ORU, element by element', () => {
  const r = convert(message(MSH, PID, 'ORC|RE|PLC1|FIL1', OBR, OBX, 'NTE|1|L|hemolysed sample', SPM));
  assert.deepEqual(validateFhirBundle(r.bundle), []);
  checkShape(r.bundle);

  const [patient] = resources<Patient>(r.bundle, 'Patient');
  assert.deepEqual(patient?.identifier?.[0], { system: 'urn:oid:2.16.840.1.113883.19.5', value: 'PAT123', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } });
  assert.ok(patient?.identifier?.some((i) => i.value === 'ALT9' && i.type?.coding?.[0]?.code === 'PI'), 'PID-2 kept as another identifier');
  assert.deepEqual(patient?.name, [
    { use: 'official', family: 'Doe', given: ['Jane', 'Q'], prefix: ['Dr'], suffix: ['Jr', 'MD'] },
    { use: 'maiden', family: 'Smith', given: ['Jane'] },
  ]);
  assert.deepEqual([patient?.birthDate, patient?.gender], ['1980-01-01', 'female']);
  assert.deepEqual(patient?.address, [{ use: 'home', line: ['12 Main St', 'Apt 4'], city: 'Springfield', state: 'IL', postalCode: '62701', country: 'USA' }]);

  const [specimen] = resources<Specimen>(r.bundle, 'Specimen');
  assert.equal(specimen?.type?.coding?.[0]?.code, 'BLD');
  assert.deepEqual(specimen?.collection?.collectedPeriod, { start: '2024-01-05T07:00:00-05:00', end: '2024-01-05T07:10:00-05:00' });
  assert.equal(specimen?.receivedTime, '2024-01-05T07:30:00-05:00');
  assert.equal(specimen?.accessionIdentifier?.value, 'ACC1');

  const [order] = resources<ServiceRequest>(r.bundle, 'ServiceRequest');
  assert.deepEqual(order?.identifier?.map((i) => [i.type?.coding?.[0]?.code, i.value]), [['PLAC', 'PLC1'], ['FILL', 'FIL1']]);
  const [report] = resources<DiagnosticReport>(r.bundle, 'DiagnosticReport');
  assert.equal(report?.status, 'final', 'OBR-25 F via table 0123');
  assert.equal(report?.code?.coding?.[0]?.code, '24317-0');

  const [obs] = resources<Observation>(r.bundle, 'Observation');
  assert.equal(obs?.effectiveDateTime, '2024-01-05T08:15:00-05:00', 'OBX-14');
  assert.deepEqual(obs?.interpretation?.map((i) => `${i.coding?.[0]?.system?.split('/').pop()}|${i.coding?.[0]?.code}`), ['v3-ObservationInterpretation|H', 'v2-0078|AC']);
  assert.ok(r.warnings.includes('OBX-8: abnormal flag not in the interpretation value set; kept as a table 0078 code'));
  assert.deepEqual(obs?.note, [{ text: 'hemolysed sample' }]);
  // OBX-18: the equipment is its own Device (identified by the EI), referenced from the Observation.
  const devices = resources<Device>(r.bundle, 'Device');
  const equipment = devices.find((d) => d.identifier?.[0]?.value === 'ANALYZER-SN-77');
  assert.equal(equipment?.identifier?.[0]?.system, 'urn:oid:1.2.3');
  const equipmentUrl = r.bundle.entry?.find((e) => e.resource === equipment)?.fullUrl;
  assert.equal(obs?.device?.reference, equipmentUrl);
  assert.equal(obs?.specimen?.reference, r.bundle.entry?.find((e) => e.resource === specimen)?.fullUrl);
  assert.ok(!r.unmapped.includes('OBX-18') && !r.unmapped.includes('NTE-3') && !r.unmapped.includes('SPM-30'));
});

test('a social security number in PID-3 (CX.5 SS) stays on the box, in any repetition; the other identifiers go', () => {
  const ssn = '987-65-4329'; // fake, in the never-issued 987-65-43xx range
  for (const pid of [`PID|1||${ssn}^^^SSA^SS~PAT123^^^HOSP^MR||Doe^Jane`, `PID|1||PAT123^^^HOSP^MR~${ssn}^^^SSA^ss||Doe^Jane`]) {
    const r = convert(message(MSH, pid, OBR, 'OBX|1|NM|2345-7^Glucose^LN||5.5|mmol/L'));
    assert.ok(!JSON.stringify(r.bundle).includes(ssn), 'no SSN anywhere in the bundle');
    const [patient] = resources<Patient>(r.bundle, 'Patient');
    assert.deepEqual(patient?.identifier?.map((i) => i.value), ['PAT123']);
    assert.ok(r.warnings.some((w) => w.startsWith('PID-3')), 'said, by position');
    assert.ok(!r.warnings.join(' ').includes(ssn));
  }
});
