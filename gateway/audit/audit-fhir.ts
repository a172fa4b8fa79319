import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import type { AuditCheckpoint, AuditEntry, AuditKind } from './audit-types.js';
import { isFailure, projectBody } from './audit-projection.js';

/**
 * Audit entries as FHIR R4 AuditEvent resources, after IHE BALP: DICOM event types
 * (PS3.15 A.5 / CID 400-401), the gateway as `source.observer`, the instrument and the
 * upstream server as agents, the message and the resources it became as entities, with
 * digests in `entity.detail`. Names and descriptions carry ids, codes and digests only
 * (no `entity.name`, no `entity.description`). The chain fields (seq, hash, prev) ride in
 * an entity for the audit record itself, so the export can be checked against the chain.
 */
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const LABEDGE_SUBTYPE = 'urn:labedge:audit-subtype';

const dcm = (code: string, display: string): Coding => ({ system: DCM, code, display });

const TYPES = {
  applicationActivity: dcm('110100', 'Application Activity'),
  auditLogUsed: dcm('110101', 'Audit Log Used'),
  export: dcm('110106', 'Export'),
  import: dcm('110107', 'Import'),
  patientRecord: dcm('110110', 'Patient Record'),
  query: dcm('110112', 'Query'),
  securityAlert: dcm('110113', 'Security Alert'),
  userAuthentication: dcm('110114', 'User Authentication'),
} as const;

const SUBTYPES = {
  start: dcm('110120', 'Application Start'),
  stop: dcm('110121', 'Application Stop'),
  login: dcm('110122', 'Login'),
  nodeAuthentication: dcm('110126', 'Node Authentication'),
  softwareConfiguration: dcm('110131', 'Software Configuration'),
  securityConfiguration: dcm('110129', 'Security Configuration'),
  restrictedFunction: dcm('110132', 'Use of Restricted Function'),
  remoteServiceStarted: dcm('110139', 'Remote Service Operation Started'),
} as const;

type Action = NonNullable<AuditEvent['action']>;

const labedgeSubtype = (kind: AuditKind): Coding => ({ system: LABEDGE_SUBTYPE, code: kind });

/** Event type, subtype and action per kind. */
const SHAPE: Record<AuditKind, { type: Coding; subtype?: Coding; action: Action }> = {
  ingest: { type: TYPES.import, action: 'C' },
  transform: { type: TYPES.patientRecord, action: 'C' },
  reject: { type: TYPES.patientRecord, action: 'C' },
  deliver: { type: TYPES.export, action: 'R' },
  'dead-letter': { type: TYPES.export, action: 'R' },
  'app-start': { type: TYPES.applicationActivity, subtype: SUBTYPES.start, action: 'E' },
  'app-stop': { type: TYPES.applicationActivity, subtype: SUBTYPES.stop, action: 'E' },
  'config-change': { type: TYPES.securityAlert, subtype: SUBTYPES.softwareConfiguration, action: 'E' },
  'dlq-access': { type: TYPES.query, action: 'E' },
  'payload-access': { type: TYPES.patientRecord, subtype: SUBTYPES.restrictedFunction, action: 'R' },
  'audit-access': { type: TYPES.auditLogUsed, action: 'R' },
  'operator-auth-failure': { type: TYPES.userAuthentication, subtype: SUBTYPES.login, action: 'E' },
  'uplink-auth-failure': { type: TYPES.securityAlert, subtype: SUBTYPES.nodeAuthentication, action: 'E' },
  integrity: { type: TYPES.securityAlert, action: 'E' },
  'payload-expired': { type: TYPES.patientRecord, action: 'D' },
  'retention-purge': { type: TYPES.patientRecord, action: 'D' },
  'audit-recovery': { type: TYPES.securityAlert, action: 'E' },
  enrollment: { type: TYPES.securityAlert, subtype: SUBTYPES.securityConfiguration, action: 'E' },
  renewal: { type: TYPES.securityAlert, subtype: SUBTYPES.securityConfiguration, action: 'E' },
  'remote-command': { type: TYPES.applicationActivity, subtype: SUBTYPES.remoteServiceStarted, action: 'E' },
};

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function systemObject(role: { code: string; display: string }): Pick<AuditEventEntity, 'type' | 'role'> {
  return { type: { system: ENTITY_TYPE, code: '2', display: 'System Object' }, role: { system: OBJECT_ROLE, ...role } };
}

function messageEntity(id: string, digests: Array<[string, unknown]>): AuditEventEntity {
  const detail = digests.filter(([, v]) => str(v)).map(([type, v]) => ({ type, valueString: String(v) }));
  return { what: { identifier: { system: 'urn:labedge:message', value: id } }, ...systemObject({ code: '20', display: 'Job' }), ...(detail.length ? { detail } : {}) };
}

export interface FhirExportContext {
  deviceId: string;
}

export function toAuditEvent(entry: AuditEntry, ctx: FhirExportContext): AuditEvent {
  const body = projectBody(entry);
  const shape = SHAPE[entry.kind];
  const device = { identifier: { system: 'urn:labedge:device', value: ctx.deviceId } };
  const gateway: AuditEventAgent = { type: { coding: [dcm('110150', 'Application')] }, who: device, requestor: false };
  const agents: AuditEventAgent[] = [gateway];
  const sourceId = str(body.sourceId);
  if (sourceId) agents.push({ type: { coding: [dcm('110153', 'Source Role ID')] }, who: { identifier: { system: 'urn:labedge:instrument', value: sourceId } }, requestor: entry.kind === 'ingest' });
  const server = str(body.server);
  if (server) agents.push({ type: { coding: [dcm('110152', 'Destination Role ID')] }, who: { identifier: { system: 'urn:ietf:rfc:3986', value: server } }, requestor: false, network: { address: server, type: '5' } });
  const operator = str(body.operator);
  if (operator) {
    agents.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] }, who: { identifier: { system: 'urn:labedge:operator', value: operator } }, requestor: true });
    gateway.requestor = false;
  }
  if (!agents.some((a) => a.requestor)) gateway.requestor = true;

  const entities: AuditEventEntity[] = [
    {
      what: { identifier: { system: `urn:labedge:audit:${ctx.deviceId}`, value: String(entry.seq) } },
      ...systemObject({ code: '13', display: 'Security Resource' }),
      detail: [
        { type: 'kind', valueString: entry.kind },
        { type: 'hash', valueString: entry.hash },
        { type: 'prev', valueString: entry.prev },
      ],
    },
  ];
  const messageId = str(body.inboundId) ?? str(body.outboundId);
  if (messageId) entities.push(messageEntity(messageId, [['sha256', body.digest], ['fhir-sha256', body.fhirDigest]]));
  for (const r of Array.isArray(body.resources) ? body.resources : []) {
    const location = str((r as { location?: unknown } | null)?.location);
    if (location) entities.push({ what: { reference: location }, ...systemObject({ code: '4', display: 'Domain Resource' }) });
  }

  const failed = isFailure(entry);
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    type: shape.type,
    subtype: shape.subtype ? [shape.subtype, labedgeSubtype(entry.kind)] : [labedgeSubtype(entry.kind)],
    action: shape.action,
    recorded: new Date(entry.time).toISOString(),
    outcome: failed ? (entry.kind === 'integrity' || entry.kind === 'audit-recovery' ? '8' : '4') : '0',
    agent: agents,
    source: { site: ctx.deviceId, observer: device, type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }] },
    entity: entities,
  };
  const reason = str(body.reasonCode) ?? str(body.reason);
  if (failed && reason) event.outcomeDesc = reason;
  return event;
}

/**
 * A signed checkpoint as an AuditEvent for the upstream FHIR server: kept outside the box, it
 * anchors the chain (a later rewrite of anything before it is caught by `audit verify
 * --from-checkpoint`). The checkpoint itself, signature and public key included, rides in
 * `entity.detail` as base64 JSON, so it can be taken back out and verified as it was signed.
 */
export function checkpointAuditEvent(cp: AuditCheckpoint): AuditEvent {
  const device = { identifier: { system: 'urn:labedge:device', value: cp.deviceId } };
  return {
    resourceType: 'AuditEvent',
    type: TYPES.applicationActivity,
    subtype: [{ system: LABEDGE_SUBTYPE, code: 'checkpoint' }],
    action: 'E',
    recorded: new Date(cp.time).toISOString(),
    outcome: '0',
    agent: [{ type: { coding: [dcm('110150', 'Application')] }, who: device, requestor: true }],
    source: { site: cp.deviceId, observer: device, type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }] },
    entity: [
      {
        what: { identifier: { system: `urn:labedge:audit-checkpoint:${cp.deviceId}`, value: String(cp.seq) } },
        ...systemObject({ code: '13', display: 'Security Resource' }),
        detail: [
          { type: 'hash', valueString: cp.hash },
          { type: 'checkpoint', valueBase64Binary: Buffer.from(JSON.stringify(cp)).toString('base64') },
        ],
      },
    ],
  };
}
