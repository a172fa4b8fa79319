/**
 * Sending a transaction Bundle as `batch` requests, for servers without transactions.
 *
 * A batch's entries must not depend on each other (FHIR R4 http.html#transaction): servers need
 * not resolve `urn:uuid:` references between its entries. So the bundle is split into levels by
 * its internal references: level 0 references no other entry, level n only entries of lower
 * levels. Each level is one `batch` request; before sending a level, references to entries of
 * earlier levels are rewritten to the literal `Type/id` the server reported for them
 * (`response.location`, else the returned resource's id). Every entry keeps its conditional
 * request (ifNoneExist / conditional PUT), so re-sending a level, or the whole bundle, is
 * idempotent: that is what makes "re-send after a partial failure" safe.
 *
 * Pure: plans and inspects JSON, no I/O.
 */

export interface BundleEntryLike {
  fullUrl?: string;
  resource?: { resourceType?: string } & Record<string, unknown>;
  request?: Record<string, unknown>;
}

export interface PlannedEntry {
  /** Position in the original bundle (for PHI-free reports). */
  index: number;
  entry: BundleEntryLike;
}

/** Entries grouped by dependency level, each level in original order. */
export function planBatchLevels(entries: readonly BundleEntryLike[]): PlannedEntry[][] {
  const byUrl = new Map<string, number>();
  entries.forEach((e, i) => {
    if (typeof e.fullUrl === 'string') byUrl.set(e.fullUrl, i);
  });
  const levels: number[] = new Array<number>(entries.length).fill(-1);
  const visiting = new Set<number>();
  const levelOf = (i: number): number => {
    const known = levels[i] ?? -1;
    if (known >= 0) return known;
    // A cycle cannot be ordered: its members share a level and keep their urn:uuid references
    // (the server then decides; labedge's mapping never produces cycles).
    if (visiting.has(i)) return 0;
    visiting.add(i);
    let level = 0;
    for (const ref of referencesIn(entries[i]?.resource)) {
      const dep = byUrl.get(ref);
      if (dep !== undefined && dep !== i) level = Math.max(level, levelOf(dep) + 1);
    }
    visiting.delete(i);
    levels[i] = level;
    return level;
  };
  const plan: PlannedEntry[][] = [];
  entries.forEach((entry, index) => {
    const level = levelOf(index);
    (plan[level] ??= []).push({ index, entry });
  });
  return plan.filter((l) => l !== undefined);
}

/** Every `reference` string inside a resource (any depth). */
export function referencesIn(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 64 || typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) {
      for (const item of v) walk(item, depth + 1);
      return;
    }
    for (const [k, item] of Object.entries(v)) {
      if (k === 'reference' && typeof item === 'string') out.push(item);
      else walk(item, depth + 1);
    }
  };
  walk(value, 0);
  return out;
}

/** A deep copy of `value` with references found in `resolved` replaced by their literal reference. */
export function rewriteReferences<T>(value: T, resolved: ReadonlyMap<string, string>): T {
  const walk = (v: unknown, depth: number): unknown => {
    if (depth > 64 || typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) {
      out[k] = k === 'reference' && typeof item === 'string' ? (resolved.get(item) ?? item) : walk(item, depth + 1);
    }
    return out;
  };
  return walk(value, 0) as T;
}

/** `Type/id` from a response entry: its location (relative or absolute, history stripped), else its resource. */
export function literalReferenceOf(responseEntry: unknown): string | undefined {
  if (typeof responseEntry !== 'object' || responseEntry === null) return undefined;
  const { response, resource } = responseEntry as { response?: { location?: unknown }; resource?: { resourceType?: unknown; id?: unknown } };
  const location = response?.location;
  if (typeof location === 'string') {
    const path = location.split(/[?#]/)[0] ?? '';
    const parts = path.split('/').filter((p) => p !== '');
    const history = parts.indexOf('_history');
    const end = history >= 0 ? history : parts.length;
    const type = parts[end - 2];
    const id = parts[end - 1];
    if (type && id && /^[A-Z][A-Za-z]+$/.test(type) && /^[A-Za-z0-9\-.]{1,64}$/.test(id)) return `${type}/${id}`;
  }
  if (resource && typeof resource.resourceType === 'string' && typeof resource.id === 'string') return `${resource.resourceType}/${resource.id}`;
  return undefined;
}

export interface EntryResult {
  /** Position in the original bundle. */
  index: number;
  /** HTTP status of the entry (0 when the response did not say). */
  status: number;
  /** The entry's OperationOutcome, when the server gave one. May hold PHI: never log it. */
  outcome?: unknown;
  /** Literal reference of the written (or matched) resource. */
  literal?: string;
}

/**
 * Reads a batch-response for the entries sent (same order, per the spec). A missing or
 * malformed response entry counts as status 0 (unknown, to be retried).
 */
export function readBatchResponse(response: unknown, sent: readonly PlannedEntry[]): EntryResult[] {
  const entries = isBatchResponse(response) ? response.entry : [];
  return sent.map(({ index }, i) => {
    const r = entries[i] as { response?: { status?: unknown; outcome?: unknown } } | undefined;
    const status = Number.parseInt(String(r?.response?.status ?? '0'), 10);
    const result: EntryResult = { index, status: Number.isFinite(status) ? status : 0 };
    if (r?.response?.outcome !== undefined) result.outcome = r.response.outcome;
    const literal = literalReferenceOf(r);
    if (literal !== undefined) result.literal = literal;
    return result;
  });
}

function isBatchResponse(value: unknown): value is { entry: unknown[] } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { resourceType?: unknown; type?: unknown; entry?: unknown };
  return v.resourceType === 'Bundle' && v.type === 'batch-response' && Array.isArray(v.entry);
}
