import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { defaultKeyFile } from '../../gateway/config/config.js';
import { buildEntry } from '../../gateway/audit/audit-codec.js';
import { GENESIS_HASH, type AuditDraft, type AuditEntry } from '../../gateway/audit/audit-types.js';

/** A real store in a temporary directory, for audit tests: open, reopen, tamper with the raw LevelDB, clean up. */
export interface AuditStoreKit {
  dir: string;
  dataDir: string;
  keyFile: string;
  open(): Promise<QueueStore>;
  /** Runs `fn` on the raw LevelDB underneath (the store must be closed). */
  raw<T>(fn: (db: Level<string, Buffer>) => Promise<T>): Promise<T>;
  cleanup(): Promise<void>;
}

export async function auditStoreKit(prefix = 'labedge-audit-'): Promise<AuditStoreKit> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const dataDir = join(dir, 'data');
  const keyFile = defaultKeyFile(dataDir);
  return {
    dir,
    dataDir,
    keyFile,
    open: () => QueueStore.open({ dataDir, keyFile }),
    async raw(fn) {
      const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
      await db.open();
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `n` synthetic message-stage and event drafts (no PHI: ids and digests only). */
export function syntheticDrafts(n: number, start = 0): AuditDraft[] {
  const kinds = ['ingest', 'transform', 'deliver', 'app-start'] as const;
  return Array.from({ length: n }, (_, i) => {
    const k = kinds[(start + i) % kinds.length] as (typeof kinds)[number];
    const id = `synthetic-${start + i}`; // never a real queue id
    return { kind: k, body: { inboundId: id, sourceId: 'bench-1', digest: (start + i).toString(16).padStart(64, '0'), bytes: 512 } };
  });
}

/** Fills the chain with `n` entries in batches of `batch`, through the audit API (not the daemon). */
export async function fillChain(store: QueueStore, n: number, batch = 2000): Promise<void> {
  for (let i = 0; i < n; i += batch) await store.audit.appendBulk(syntheticDrafts(Math.min(batch, n - i), i));
}

/** A throwaway device key pair (PEM) for signing checkpoints. */
export function deviceKeyPem(type: 'rsa' | 'ec' | 'ed25519' = 'ec'): string {
  const { privateKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Drafts chained into entries as a store would write them (seq from 1), the i-th at `timeOf(i)`. */
export function chainOf(drafts: readonly AuditDraft[], timeOf: (i: number) => number = (i) => 1000 + i): AuditEntry[] {
  let head = { seq: 0, hash: GENESIS_HASH };
  return drafts.map((d, i) => {
    const { entry } = buildEntry(head, d, timeOf(i));
    head = { seq: entry.seq, hash: entry.hash };
    return entry;
  });
}
