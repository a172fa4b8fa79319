/**
 * Upstream orders → ASTM host orders (the reverse of astm-to-fhir): active ServiceRequests for a
 * specimen, with their Patient and Specimen, become the tests the instrument should run. Pure.
 *
 * Test codes: a ServiceRequest coding in this instrument's test-code system
 * (`urn:labedge:{sourceId}:test-code`) is used as it is; else a LOINC coding the instrument
 * profile maps back to a local code. A request with neither is skipped (the instrument could not
 * run it) and counted in `unmappable`.
 */
import type { Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { HostOrder, OrderTest } from '../astm/host-query.js';
import { LOINC } from './astm-codes.js';
import type { AstmMappingProfile } from './astm-context.js';
import { labedgeSystem } from './fhir-identity.js';

export interface OrderSources {
  /** Specimens found for the queried ids (each must carry the queried identifier value). */
  specimens: readonly Specimen[];
  requests: readonly ServiceRequest[];
  patients: readonly Patient[];
}

export interface OrdersContext {
  sourceId: string;
  profile?: AstmMappingProfile;
}

const LIVE = new Set(['active', 'draft', 'on-hold']);

/** One HostOrder per queried specimen id that has live requests with runnable tests. */
export function hostOrdersFrom(specimenIds: readonly string[], sources: OrderSources, ctx: OrdersContext): { orders: HostOrder[]; unmappable: number } {
  const localSystem = labedgeSystem(ctx.sourceId, 'test-code');
  const reverse = new Map<string, string>();
  for (const [code, entry] of Object.entries(ctx.profile?.codes ?? {})) if (entry.loinc !== undefined && !reverse.has(entry.loinc)) reverse.set(entry.loinc, code);
  const patients = new Map(sources.patients.map((p) => [`Patient/${p.id ?? ''}`, p]));
  let unmappable = 0;
  const orders: HostOrder[] = [];
  for (const id of specimenIds) {
    const specimens = sources.specimens.filter((s) => s.identifier?.some((i) => i.value === id));
    const refs = new Set(specimens.map((s) => `Specimen/${s.id ?? ''}`));
    const requests = sources.requests.filter(
      (r) => LIVE.has(r.status) && (r.specimen?.some((s) => refs.has(s.reference ?? '')) || r.identifier?.some((i) => i.value === id)),
    );
    const tests: OrderTest[] = [];
    for (const r of requests) {
      const coding = r.code?.coding ?? [];
      const code = coding.find((c) => c.system === localSystem)?.code ?? coding.filter((c) => c.system === LOINC).map((c) => reverse.get(c.code ?? '')).find((c) => c !== undefined);
      if (code === undefined) unmappable++;
      else if (!tests.some((t) => t.code === code)) tests.push({ code });
    }
    if (tests.length === 0) continue;
    const first = requests[0];
    const specimen = specimens[0];
    const patient = patients.get(first?.subject?.reference ?? specimen?.subject?.reference ?? '');
    const priority = first?.priority === 'stat' ? 'S' : first?.priority === 'asap' || first?.priority === 'urgent' ? 'A' : 'R';
    const collected = astmDateTime(specimen?.collection?.collectedDateTime);
    const type = specimen?.type?.coding?.[0]?.code;
    orders.push({
      specimenId: id,
      tests,
      priority,
      ...(patient && { patient: astmPatient(patient) }),
      ...(collected && { collected }),
      ...(type && { specimenType: type }),
    });
  }
  return { orders, unmappable };
}

function astmPatient(p: Patient): NonNullable<HostOrder['patient']> {
  const name = p.name?.[0];
  const sex = p.gender === 'male' ? 'M' : p.gender === 'female' ? 'F' : p.gender === undefined ? undefined : 'U';
  const id = p.identifier?.[0]?.value;
  const given = name?.given?.[0];
  const birthDate = p.birthDate?.replace(/-/g, '');
  return {
    ...(id && { id }),
    ...(name?.family && { family: name.family }),
    ...(given && { given }),
    ...(birthDate && { birthDate }),
    ...(sex && { sex }),
  };
}

/** FHIR dateTime → ASTM YYYYMMDDHHMMSS as written (its own wall time), or undefined. */
function astmDateTime(value: string | undefined): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(value ?? '');
  return m ? m.slice(1).map((p) => p ?? '').join('').padEnd(14, '0').slice(0, m[4] === undefined ? 8 : 14) : undefined;
}
