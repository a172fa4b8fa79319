/**
 * Answers ASTM host queries (Q records) for one instrument: looks the specimen's orders up
 * upstream (FHIR Specimen / ServiceRequest / Patient searches through the uplink) and sends the
 * reply as the sender on the same line, within the profile's deadline (the cobas cancels after
 * 15 s). When nothing is found, or upstream does not answer in time, the instrument still gets
 * a "no information" reply rather than silence. A cancel (Q.13 = A) drops a reply not yet sent.
 *
 * The query message itself was committed and acknowledged before this runs (invariant 1).
 * Events carry counts, timings and outcomes only, never specimen ids.
 */
import type { Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { buildQueryReply, readHostQueries, type HostOrder, type HostQuery, type QueryMessage } from '../astm/host-query.js';
import type { LinkSendOptions, LinkSendResult } from '../astm/e1381-link.js';
import { formatAstmTimestamp } from '../astm/timestamps.js';
import { hostOrdersFrom } from '../fhir/astm-orders.js';
import type { AstmMappingProfile } from '../fhir/astm-context.js';
import type { FhirSearch } from '../uplink/fhir-search.js';
import type { InstrumentProfile } from '../profiles/profile-types.js';

export interface QueryOutcome {
  /** sent: reply delivered; no-reply: cancelled or nothing to send; expired/failed: not delivered. */
  outcome: 'sent' | 'cancelled' | 'expired' | 'failed';
  /** ok: upstream answered; none: no uplink search configured; timeout/error: "no information" sent. */
  lookup: 'ok' | 'none' | 'timeout' | 'error';
  specimens: number;
  found: number;
  ms: number;
  detail?: string;
}

export interface QueryResponderOptions {
  sourceId: string;
  profile: InstrumentProfile;
  mapping: AstmMappingProfile;
  clock: Clock;
  timeZone: string;
  /** The box's name in reply headers (H.5). */
  hostName: string;
  search?: FhirSearch;
  send(records: string[], options: LinkSendOptions): Promise<LinkSendResult>;
  onOutcome?(outcome: QueryOutcome): void;
}

/** FHIR token search values: commas and backslashes escaped. */
const token = (ids: readonly string[]): string => ids.map((id) => id.replace(/[\\,$|]/g, (c) => `\\${c}`)).join(',');

export class AstmQueryResponder {
  /** Queries waiting for their reply, by specimen id: a cancel marks them. */
  private readonly pending = new Map<string, Set<{ cancelled: boolean }>>();

  constructor(private readonly opts: QueryResponderOptions) {}

  /** True when the text holds Q records (and so is a host query, maybe among other records). */
  hasQueries(text: string): boolean {
    return /(^|[\r\n])Q[^A-Za-z0-9]/.test(text);
  }

  /** Answers every Q record of a received message text; resolves when each reply is sent or given up. */
  async answer(text: string, receivedAt: number): Promise<QueryOutcome[]> {
    const messages = readHostQueries(text, { specimenComponent: this.opts.profile.query.specimenComponent });
    const work: Promise<QueryOutcome>[] = [];
    for (const message of messages) {
      for (const query of message.queries) {
        if (query.cancel) this.cancel(query);
        else work.push(this.answerOne(query, message, receivedAt));
      }
    }
    const outcomes = await Promise.all(work);
    for (const o of outcomes) this.opts.onOutcome?.(o);
    return outcomes;
  }

  private cancel(query: HostQuery): void {
    for (const id of query.specimenIds) for (const p of this.pending.get(id) ?? []) p.cancelled = true;
  }

  private async answerOne(query: HostQuery, message: QueryMessage, receivedAt: number): Promise<QueryOutcome> {
    const { clock, profile } = this.opts;
    const started = clock.now();
    const deadline = receivedAt + profile.query.deadlineMs;
    const mark = { cancelled: false };
    for (const id of query.specimenIds) this.pending.set(id, (this.pending.get(id) ?? new Set()).add(mark));
    let lookup: QueryOutcome['lookup'] = 'none';
    let orders: HostOrder[] = [];
    let detail: string | undefined;
    try {
      if (this.opts.search && query.specimenIds.length > 0) {
        // Leave a second for the reply itself (ENQ, a few frames at 9600 baud).
        const budget = Math.min(profile.query.lookupTimeoutMs, deadline - clock.now() - 1000);
        try {
          orders = budget > 0 ? await this.lookup(query.specimenIds, budget) : [];
          lookup = budget > 0 ? 'ok' : 'timeout';
        } catch (e) {
          detail = describeError(e);
          lookup = /timed out/.test(detail) ? 'timeout' : 'error';
        }
      }
      const base = { lookup, specimens: query.specimenIds.length, found: orders.length, ...(detail && { detail }) };
      if (mark.cancelled) return { outcome: 'cancelled', ms: clock.now() - started, ...base };
      const records = buildQueryReply(query, message, orders, {
        style: profile.query.reply,
        hostName: this.opts.hostName,
        timestamp: formatAstmTimestamp(clock.now(), this.opts.timeZone),
      });
      let result: LinkSendResult;
      try {
        result = await this.opts.send(records, { deadline });
      } catch (e) {
        // A reply the line refuses is reported like any failed send, never an unhandled rejection.
        return { outcome: 'failed', ms: clock.now() - started, ...base, detail: describeError(e) };
      }
      const outcome = result.ok ? 'sent' : result.reason === 'expired' ? 'expired' : 'failed';
      return { outcome, ms: clock.now() - started, ...base };
    } finally {
      for (const id of query.specimenIds) {
        const set = this.pending.get(id);
        set?.delete(mark);
        if (set?.size === 0) this.pending.delete(id);
      }
    }
  }

  /** Specimens by identifier (and requests by identifier, for LIS that key orders on the accession), then their requests and patients. */
  private async lookup(specimenIds: readonly string[], budgetMs: number): Promise<HostOrder[]> {
    const search = this.opts.search as FhirSearch;
    const end = this.opts.clock.now() + budgetMs;
    const left = () => Math.max(1, end - this.opts.clock.now());
    const [specimens, byIdentifier] = await Promise.all([
      search.search<Specimen>('Specimen', { identifier: token(specimenIds) }, { timeoutMs: left() }),
      search.search<ServiceRequest>('ServiceRequest', { identifier: token(specimenIds) }, { timeoutMs: left() }),
    ]);
    const refs = specimens.map((s) => `Specimen/${s.id ?? ''}`).filter((r) => r !== 'Specimen/');
    const bySpecimen = refs.length === 0 ? [] : await search.search<ServiceRequest>('ServiceRequest', { specimen: refs.join(',') }, { timeoutMs: left() });
    const requests = [...bySpecimen, ...byIdentifier.filter((r) => !bySpecimen.some((b) => b.id === r.id))];
    const patientIds = [...new Set([...requests, ...specimens].map((r) => r.subject?.reference ?? '').filter((r) => r.startsWith('Patient/')).map((r) => r.slice(8)))];
    const patients = patientIds.length === 0 ? [] : await search.search<Patient>('Patient', { _id: patientIds.join(',') }, { timeoutMs: left() });
    return hostOrdersFrom(specimenIds, { specimens, requests, patients }, { sourceId: this.opts.sourceId, profile: this.opts.mapping }).orders;
  }
}
