import * as ak from './audit-keys.js';
import type { OpenedEntry } from './audit-log.js';
import { checkpointSignatureValid } from './checkpoint.js';
import { GENESIS_HASH, type AuditCheckpoint, type AuditHead } from './audit-types.js';

/** What `audit verify` reads: the AuditLog implements it. */
export interface VerifySource {
  rawEntries(): AsyncIterable<[string, Buffer]>;
  openEntry(key: string, value: Buffer): OpenedEntry;
  checkpoints(): AsyncIterable<{ key: string; checkpoint?: AuditCheckpoint }>;
  readHeadMark(): Promise<AuditHead | 'unreadable' | undefined>;
}

export type BreakKind = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'truncated' | 'checkpoint-mismatch' | 'checkpoint-invalid';

export interface ChainBreak {
  /** The first seq that is not as it was written. */
  seq: number;
  kind: BreakKind;
  /** PHI-free: seqs, keys and hash prefixes only. */
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Entries that verified before the first break (all of them when ok). */
  entries: number;
  firstSeq: number;
  head: AuditHead;
  checkpoints: number;
  firstBreak?: ChainBreak;
}

/** How far either side of a key a value that fails authentication is tried, to tell a move from an edit. */
const NEIGHBOURS = 8;
const short = (hash: string): string => hash.slice(0, 12);

/** Checkpoints in seq order, stored ones merged with the caller's (from a file), pulled lazily. */
class CheckpointCursor {
  private readonly it: AsyncIterator<{ key: string; checkpoint?: AuditCheckpoint }>;
  private stored: { key: string; checkpoint?: AuditCheckpoint } | undefined;
  private storedDone = false;
  private lastStored: AuditCheckpoint | undefined;
  constructor(source: AsyncIterable<{ key: string; checkpoint?: AuditCheckpoint }>, private readonly extra: AuditCheckpoint[]) {
    this.it = source[Symbol.asyncIterator]();
    this.extra.sort((a, b) => a.seq - b.seq);
  }

  private async fill(): Promise<void> {
    if (this.stored || this.storedDone) return;
    const r = await this.it.next();
    if (r.done) this.storedDone = true;
    else this.stored = r.value;
  }

  private storedSeq(): number {
    if (!this.stored) return Infinity;
    return this.stored.checkpoint?.seq ?? ak.seqOfKey(this.stored.key, ak.AUDIT_PREFIX.checkpoint) ?? 0;
  }

  /** The seq of the next checkpoint (Infinity when none is left); valid after ready() or nextUpTo(). */
  nextSeq(): number {
    return Math.min(this.storedSeq(), this.extra[0]?.seq ?? Infinity);
  }

  async ready(): Promise<void> {
    await this.fill();
  }

  /** The next checkpoint at or below `seq`, checked for signature and for extending the stored one before it. */
  async nextUpTo(seq: number): Promise<{ checkpoint: AuditCheckpoint } | { failure: ChainBreak } | undefined> {
    await this.fill();
    const result = this.take(seq);
    await this.fill();
    return result;
  }

  private take(seq: number): { checkpoint: AuditCheckpoint } | { failure: ChainBreak } | undefined {
    const storedSeq = this.storedSeq();
    const extraSeq = this.extra[0]?.seq ?? Infinity;
    if (Math.min(storedSeq, extraSeq) > seq) return undefined;
    if (extraSeq <= storedSeq) {
      const cp = this.extra.shift() as AuditCheckpoint;
      if (!checkpointSignatureValid(cp)) return { failure: { seq: cp.seq, kind: 'checkpoint-invalid', detail: `the given checkpoint at seq ${cp.seq} has no valid signature` } };
      return { checkpoint: cp };
    }
    const item = this.stored as { key: string; checkpoint?: AuditCheckpoint };
    this.stored = undefined;
    const cp = item.checkpoint;
    if (!cp || ak.seqOfKey(item.key, ak.AUDIT_PREFIX.checkpoint) !== cp.seq) {
      return { failure: { seq: storedSeq, kind: 'checkpoint-invalid', detail: `the stored checkpoint ${item.key} cannot be read` } };
    }
    if (!checkpointSignatureValid(cp)) return { failure: { seq: cp.seq, kind: 'checkpoint-invalid', detail: `the stored checkpoint at seq ${cp.seq} has no valid signature` } };
    const before = this.lastStored;
    this.lastStored = cp;
    if (before && (cp.previous?.seq !== before.seq || cp.previous?.hash !== before.hash)) {
      return { failure: { seq: cp.seq, kind: 'checkpoint-mismatch', detail: `the checkpoint at seq ${cp.seq} does not extend the stored checkpoint at seq ${before.seq}` } };
    }
    return { checkpoint: cp };
  }
}

/**
 * Walks the chain once, in key order, streaming, and stops at the first break.
 * Checks per entry: the key is `a!<seq>` with no gap; the value authenticates under its own
 * key (else it is tried under nearby keys: a value that opens elsewhere was moved); the
 * stored hash matches the content; the seq inside matches the key; `prev` is the hash of the
 * entry before. Then: every checkpoint (stored, and `extraCheckpoints` from a file) is
 * validly signed, lies on the chain, and extends the one before; the head mark and the
 * checkpoints do not reach beyond the end (truncation).
 */
export async function verifyChain(source: VerifySource, options: { extraCheckpoints?: AuditCheckpoint[] } = {}): Promise<VerifyReport> {
  const cursor = new CheckpointCursor(source.checkpoints(), [...(options.extraCheckpoints ?? [])]);
  await cursor.ready();
  const mark = await source.readHeadMark();
  let expected = 1;
  let firstSeq = 0;
  let h = GENESIS_HASH;
  let hBefore: string | undefined;
  let count = 0;
  let checkpoints = 0;
  const report = (firstBreak?: ChainBreak): VerifyReport => ({
    ok: firstBreak === undefined,
    entries: count,
    firstSeq: firstSeq || expected,
    head: { seq: expected - 1, hash: h },
    checkpoints,
    ...(firstBreak ? { firstBreak } : {}),
  });

  /** Consumes the checkpoints up to `seq` (the chain has been verified up to `seq`, whose hash is `hash`). */
  const checkpointsUpTo = async (seq: number, hashAt: (s: number) => string | undefined): Promise<ChainBreak | undefined> => {
    for (;;) {
      const next = await cursor.nextUpTo(seq);
      if (!next) return undefined;
      if ('failure' in next) return next.failure;
      const cp = next.checkpoint;
      const actual = hashAt(cp.seq);
      checkpoints += 1;
      if (actual === undefined) continue; // below an anchored start: nothing to compare
      if (actual !== cp.hash) {
        return { seq: cp.seq, kind: 'checkpoint-mismatch', detail: `the chain at seq ${cp.seq} hashes to ${short(actual)}…, the signed checkpoint says ${short(cp.hash)}…: entries at or before seq ${cp.seq} were rewritten` };
      }
    }
  };

  for await (const [key, value] of source.rawEntries()) {
    const keySeq = ak.seqOfKey(key, ak.AUDIT_PREFIX.entry);
    if (keySeq === undefined) return report({ seq: expected, kind: 'inserted', detail: `a value under an unexpected key (${key.length} characters) was inserted before seq ${expected}` });
    if (count === 0 && keySeq > 1) {
      // A chain may start later only where a checkpoint anchors it (older entries pruned below it).
      const anchor = await anchorAt(cursor, keySeq - 1);
      if (anchor && 'failure' in anchor) return report(anchor.failure);
      if (!anchor) return report({ seq: 1, kind: 'deleted', detail: `the chain starts at seq ${keySeq}; entries 1..${keySeq - 1} are missing` });
      checkpoints += 1;
      expected = keySeq;
      h = anchor.checkpoint.hash;
    }
    if (keySeq > expected) return report({ seq: expected, kind: 'deleted', detail: `entries ${expected}..${keySeq - 1} are missing` });
    if (count === 0) firstSeq = keySeq;
    const opened = source.openEntry(key, value);
    if (!opened.ok) {
      const home = opened.reason === 'authentication' ? findHome(source, keySeq, value) : undefined;
      if (home !== undefined) return report({ seq: keySeq, kind: 'reordered', detail: `the value stored at seq ${keySeq} was written as seq ${home}` });
      return report({ seq: keySeq, kind: 'edited', detail: `entry ${keySeq} ${opened.reason === 'authentication' ? 'fails authentication' : `cannot be decoded (${opened.reason})`}` });
    }
    const e = opened.entry;
    if (!opened.hashMatches) return report({ seq: keySeq, kind: 'edited', detail: `entry ${keySeq} does not match its own hash` });
    if (e.seq !== keySeq) {
      if (e.seq === keySeq - 1 && e.prev === hBefore) return report({ seq: keySeq - 1, kind: 'inserted', detail: `entry ${keySeq - 1} is not part of the chain: the next one links past it` });
      return report({ seq: keySeq, kind: 'reordered', detail: `position ${keySeq} holds entry ${e.seq}` });
    }
    if (e.prev !== h) {
      if (hBefore !== undefined && e.prev === hBefore) return report({ seq: keySeq - 1, kind: 'inserted', detail: `entry ${keySeq - 1} is not part of the chain: entry ${keySeq} links past it` });
      // Entry keySeq-1 verified on its own, so it was rewritten (re-hashed) under a valid key.
      return report({ seq: Math.max(1, keySeq - 1), kind: 'edited', detail: `entry ${keySeq} does not link to entry ${keySeq - 1} (prev ${short(e.prev)}…, actual ${short(h)}…)` });
    }
    hBefore = h;
    h = e.hash;
    expected = keySeq + 1;
    count += 1;
    if (cursor.nextSeq() <= keySeq) {
      const current = h;
      const genesis = firstSeq === 1;
      const failure = await checkpointsUpTo(keySeq, (s) => (s === keySeq ? current : s === 0 && genesis ? GENESIS_HASH : undefined));
      if (failure) return report(failure);
    }
  }

  const last = expected - 1;
  // Whatever checkpoint is left lies beyond the end of the chain (or is the empty chain's).
  for (;;) {
    const beyond = await cursor.nextUpTo(Number.MAX_SAFE_INTEGER);
    if (!beyond) break;
    if ('failure' in beyond) return report(beyond.failure);
    if (beyond.checkpoint.seq > last) {
      return report({ seq: last + 1, kind: 'truncated', detail: `the chain ends at seq ${last} but a signed checkpoint covers seq ${beyond.checkpoint.seq}` });
    }
    checkpoints += 1;
  }
  // The mark rides in every appending batch. Read before the walk it cannot be ahead of what
  // the walk saw; read after, it cannot be behind (a daemon may append meanwhile).
  const markAfter = await source.readHeadMark();
  if (mark === 'unreadable' || markAfter === 'unreadable') return report({ seq: last + 1, kind: 'edited', detail: 'the head mark fails authentication' });
  if (markAfter === undefined && last > 0) return report({ seq: last + 1, kind: 'truncated', detail: 'the head mark is missing: the end of the chain cannot be confirmed' });
  if (mark !== undefined && mark.seq > last) return report({ seq: last + 1, kind: 'truncated', detail: `the chain ends at seq ${last} but the head mark says ${mark.seq}` });
  if (markAfter !== undefined && markAfter.seq < last) return report({ seq: markAfter.seq + 1, kind: 'inserted', detail: `entries ${markAfter.seq + 1}..${last} were appended without the head mark` });
  for (const m of [mark, markAfter]) {
    if (m !== undefined && m.seq === last && m.hash !== h) return report({ seq: last, kind: 'edited', detail: 'the last entry does not match the head mark' });
  }
  return report();
}

/** The checkpoint exactly at `seq` (skipping lower ones), for a chain whose older entries were pruned. */
async function anchorAt(cursor: CheckpointCursor, seq: number): Promise<{ checkpoint: AuditCheckpoint } | { failure: ChainBreak } | undefined> {
  for (;;) {
    const next = await cursor.nextUpTo(seq);
    if (!next || 'failure' in next) return next;
    if (next.checkpoint.seq === seq) return next;
  }
}

/** The seq under whose key this value authenticates, when it is not its own (a moved value). */
function findHome(source: VerifySource, keySeq: number, value: Buffer): number | undefined {
  for (let d = 1; d <= NEIGHBOURS; d++) {
    for (const seq of [keySeq + d, keySeq - d]) {
      if (seq < 1) continue;
      const opened = source.openEntry(ak.entryKey(seq), value);
      if (opened.ok || opened.reason !== 'authentication') return seq;
    }
  }
  return undefined;
}
