/**
 * What the delivery worker needs to know about a stored bundle without parsing it again: how
 * many entries it has, and what a replay of it could change. Computed once, when the bundle is
 * queued (gateway/store/record-codec.ts keeps it beside the bundle's JSON text).
 */
export interface BundleSummary {
  /** Entries in the bundle. */
  resources: number;
  /**
   * Conditional updates by URL (`PUT Type?query`); `*` for an entry that is neither a
   * conditional create nor a read (it conflicts with every other bundle). Conditional creates
   * and reads are left out: sent twice, or in either order, they leave the server as sent once.
   */
  updateTargets: string[];
}

interface EntryLike {
  request?: { method?: unknown; url?: unknown; ifNoneExist?: unknown };
}

export function bundleSummary(bundle: unknown): BundleSummary {
  const entries = (bundle as { entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return { resources: 0, updateTargets: [] };
  const targets = new Set<string>();
  for (const e of entries as Array<EntryLike | null>) {
    const request = e?.request;
    const method = request?.method;
    if (method === 'GET' || (method === 'POST' && typeof request?.ifNoneExist === 'string')) continue;
    if (method === 'PUT' && typeof request?.url === 'string' && request.url.includes('?')) targets.add(request.url);
    else targets.add('*');
  }
  return { resources: entries.length, updateTargets: [...targets] };
}
