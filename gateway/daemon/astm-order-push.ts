/**
 * Push mode (LIS-initiated order download) for instruments that keep a worklist: every
 * pushIntervalMs the box searches upstream for active ServiceRequests (the profile's
 * `orders.pushSearch`, e.g. `status=active&performer=Device/analyzer-7`), and sends the ones
 * not sent yet (by id and version) as one LIS02-A2 order message, as the sender on the line.
 *
 * What was sent is remembered in memory only: after a restart the current worklist is sent
 * again, which instruments treat as an update of the same specimen's orders. Requests whose
 * tests cannot be expressed in the instrument's codes are skipped and counted.
 */
import type { Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { buildOrderDownload } from '../astm/host-query.js';
import type { LinkSendOptions, LinkSendResult } from '../astm/e1381-link.js';
import { formatAstmTimestamp } from '../astm/timestamps.js';
import { hostOrdersFrom } from '../fhir/astm-orders.js';
import type { AstmMappingProfile } from '../fhir/astm-context.js';
import type { FhirSearch } from '../uplink/fhir-search.js';
import type { InstrumentProfile } from '../profiles/profile-types.js';

export interface PushOutcome {
  outcome: 'sent' | 'nothing-new' | 'failed' | 'lookup-failed';
  orders: number;
  unmappable: number;
  detail?: string;
}

export interface OrderPushOptions {
  sourceId: string;
  profile: InstrumentProfile;
  mapping: AstmMappingProfile;
  clock: Clock;
  timeZone: string;
  hostName: string;
  search: FhirSearch;
  send(records: string[], options: LinkSendOptions): Promise<LinkSendResult>;
  onOutcome?(outcome: PushOutcome): void;
}

export class AstmOrderPush {
  private readonly sent = new Map<string, string>();
  private timer: TimerHandle | undefined;
  private running = false;
  private stopped = false;

  constructor(private readonly opts: OrderPushOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** One round: search, send what is new. Exposed for tests and for an operator's "push now". */
  async pushOnce(): Promise<PushOutcome> {
    const { search, profile, clock } = this.opts;
    const timeoutMs = profile.query.lookupTimeoutMs;
    let requests: ServiceRequest[];
    let specimens: Specimen[] = [];
    let patients: Patient[] = [];
    try {
      requests = await search.search<ServiceRequest>('ServiceRequest', Object.fromEntries(new URLSearchParams(profile.orders.pushSearch)), { timeoutMs });
      requests = requests.filter((r) => r.id !== undefined && this.sent.get(r.id) !== versionOf(r));
      const specimenIds = idsOf(requests.flatMap((r) => r.specimen ?? []).map((s) => s.reference), 'Specimen/');
      if (specimenIds.length > 0) specimens = await search.search<Specimen>('Specimen', { _id: specimenIds.join(',') }, { timeoutMs });
      const patientIds = idsOf(requests.map((r) => r.subject?.reference), 'Patient/');
      if (patientIds.length > 0) patients = await search.search<Patient>('Patient', { _id: patientIds.join(',') }, { timeoutMs });
    } catch (e) {
      return { outcome: 'lookup-failed', orders: 0, unmappable: 0, detail: describeError(e) };
    }
    const accessions = [...new Set(specimens.map((s) => s.identifier?.[0]?.value).filter((v): v is string => v !== undefined && v !== ''))];
    const { orders, unmappable } = hostOrdersFrom(accessions, { specimens, requests, patients }, { sourceId: this.opts.sourceId, profile: this.opts.mapping });
    const records = buildOrderDownload(orders, { hostName: this.opts.hostName, instrumentName: '', timestamp: formatAstmTimestamp(clock.now(), this.opts.timeZone) });
    if (records.length === 0) return { outcome: 'nothing-new', orders: 0, unmappable };
    const result = await this.opts.send(records, {});
    if (!result.ok) return { outcome: 'failed', orders: orders.length, unmappable, detail: result.reason };
    for (const r of requests) if (r.id !== undefined) this.sent.set(r.id, versionOf(r));
    return { outcome: 'sent', orders: orders.length, unmappable };
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.opts.clock.clearTimer(this.timer);
    this.timer = this.opts.clock.setTimer(ms, () => {
      this.timer = undefined;
      if (this.running) return this.schedule(this.opts.profile.orders.pushIntervalMs);
      this.running = true;
      void this.pushOnce()
        .then((o) => this.opts.onOutcome?.(o), (e: unknown) => this.opts.onOutcome?.({ outcome: 'lookup-failed', orders: 0, unmappable: 0, detail: describeError(e) }))
        .finally(() => {
          this.running = false;
          this.schedule(this.opts.profile.orders.pushIntervalMs);
        });
    });
  }
}

function versionOf(r: ServiceRequest): string {
  return r.meta?.versionId ?? r.meta?.lastUpdated ?? '';
}

function idsOf(refs: readonly (string | undefined)[], prefix: string): string[] {
  return [...new Set(refs.filter((r): r is string => r?.startsWith(prefix) === true).map((r) => r.slice(prefix.length)))];
}
