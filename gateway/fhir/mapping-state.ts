/**
 * Per-conversion bookkeeping: bundle entries (deduplicated by fullUrl, ordered so that every
 * reference points backwards — servers such as Medplum only resolve `urn:uuid:` references to
 * entries already processed), field usage for the "unmapped" delta, and PHI-free warnings.
 */
import type { BundleEntry, BundleEntryRequest, Resource } from '@medplum/fhirtypes';
import type { AstmRecord } from '../astm/records.js';

/** Entry order within the bundle: referenced resources first. */
export const PHASE = { device: 0, patient: 1, specimen: 2, request: 3, observation: 4, report: 5 } as const;
export type Phase = (typeof PHASE)[keyof typeof PHASE];

export class MappingState {
  readonly warnings: string[] = [];
  readonly #entries: { phase: Phase; entry: BundleEntry }[] = [];
  readonly #fullUrls = new Set<string>();
  readonly #used = new Map<AstmRecord, Set<number>>();
  readonly #issued = new Map<string, Set<string>>();

  /** Adds an entry unless one with the same fullUrl exists (same identity: first occurrence wins). */
  add(phase: Phase, fullUrl: string, resource: Resource, request: BundleEntryRequest): void {
    if (this.#fullUrls.has(fullUrl)) return;
    this.#fullUrls.add(fullUrl);
    this.#entries.push({ phase, entry: { fullUrl, resource, request } });
  }

  entries(): BundleEntry[] {
    // Array.prototype.sort is stable, so insertion order holds within a phase.
    return [...this.#entries].sort((a, b) => a.phase - b.phase).map((e) => e.entry);
  }

  /**
   * `base`, then `base#2`, `base#3`… for repeats of a key within this conversion. Keys are compared
   * case-insensitively because some servers match identifier tokens that way (Medplum does), and a
   * suffixed key never equals a key issued before (a test code may itself end in `#2`).
   */
  occurrence(scope: string, base: string): string {
    let issued = this.#issued.get(scope);
    if (issued === undefined) {
      issued = new Set();
      this.#issued.set(scope, issued);
    }
    let key = base;
    for (let n = 2; issued.has(key.toLowerCase()); n++) key = `${base}#${n}`;
    issued.add(key.toLowerCase());
    return key;
  }

  use(record: AstmRecord | undefined, ...fields: number[]): void {
    if (record === undefined) return;
    let set = this.#used.get(record);
    if (set === undefined) {
      set = new Set();
      this.#used.set(record, set);
    }
    for (const f of fields) set.add(f);
  }

  warn(position: string, message: string): void {
    this.warnings.push(`${position}: ${message}`);
  }

  /**
   * Positions holding content the mapping did not use. Fields 1–2 (type, sequence number), H.2
   * (delimiters) and the L record are structure, not content. Unknown records are named
   * `record N` because their type text is untrusted.
   */
  unmapped(records: readonly AstmRecord[]): string[] {
    const out = new Set<string>();
    for (const r of records) {
      if (r.type === 'L') continue;
      const used = this.#used.get(r);
      if (r.type === 'unknown') {
        if (r.text.trim() !== '') out.add(r.position());
        continue;
      }
      for (let n = 3; n <= r.fieldCount; n++) {
        if (!used?.has(n) && r.hasContent(n)) out.add(r.position(n));
      }
    }
    return [...out];
  }
}
