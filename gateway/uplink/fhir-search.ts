/**
 * FHIR searches through the uplink (GET over the same mutual-TLS transport, certificate renewal
 * and SMART token as deliveries: FhirUplinkClient.get), for host queries that look orders up
 * upstream. Bounded by a caller deadline on the injected clock: a query must be answered before
 * the instrument gives up, so a slow server yields an error here, not a late answer.
 *
 * Errors carry the HTTP status or network code only: search parameters hold specimen ids (PHI)
 * and never appear in messages.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Clock } from '../core/clock.js';
import { LabedgeError, describeError } from '../core/errors.js';

/** What a search needs from the uplink: one GET relative to the FHIR base URL. */
export interface FhirGetter {
  get(pathAndQuery: string): Promise<{ status: number; text: string }>;
}

export interface SearchOptions {
  /** Give up after this long (the request may still finish in the background, unread). */
  timeoutMs: number;
  /** Page size asked for (default 100); only the first page is read. */
  count?: number;
}

const SAFE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

export class FhirSearch {
  constructor(
    private readonly getter: FhirGetter,
    private readonly clock: Clock,
  ) {}

  /** The matched resources of `type?params` (included resources are ignored), first page only. */
  async search<T extends Resource>(type: T['resourceType'], params: Readonly<Record<string, string>>, options: SearchOptions): Promise<T[]> {
    if (!SAFE_TYPE.test(type)) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'not a FHIR resource type');
    const query = new URLSearchParams({ ...params, _count: String(options.count ?? 100) });
    const reply = await this.withDeadline(this.getter.get(`${type}?${query.toString()}`), options.timeoutMs);
    if (reply.status === 401 || reply.status === 403) throw new LabedgeError('LABEDGE_ERR_UPLINK_AUTH', `search refused (HTTP ${reply.status})`);
    if (reply.status >= 400 && reply.status < 500 && reply.status !== 408 && reply.status !== 429) {
      throw new LabedgeError('LABEDGE_ERR_UPLINK_REJECTED', `search rejected (HTTP ${reply.status})`);
    }
    if (reply.status < 200 || reply.status >= 300) throw new LabedgeError('LABEDGE_ERR_UPLINK_TRANSIENT', `search failed (HTTP ${reply.status})`);
    let bundle: Bundle;
    try {
      bundle = JSON.parse(reply.text) as Bundle;
    } catch {
      throw new LabedgeError('LABEDGE_ERR_UPLINK_TRANSIENT', 'search reply is not JSON');
    }
    if (bundle?.resourceType !== 'Bundle') throw new LabedgeError('LABEDGE_ERR_UPLINK_TRANSIENT', 'search reply is not a Bundle');
    return (bundle.entry ?? [])
      .filter((e) => e.search?.mode === undefined || e.search.mode === 'match')
      .map((e) => e.resource)
      .filter((r): r is T => r?.resourceType === type);
  }

  private withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimer(ms, () => reject(new LabedgeError('LABEDGE_ERR_UPLINK_TRANSIENT', `search timed out after ${ms} ms`)));
      work.then(
        (v) => {
          this.clock.clearTimer(timer);
          resolve(v);
        },
        (e: unknown) => {
          this.clock.clearTimer(timer);
          reject(e instanceof LabedgeError ? e : new LabedgeError('LABEDGE_ERR_UPLINK_TRANSIENT', `search failed (${describeError(e)})`, { cause: e }));
        },
      );
    });
  }
}
