import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c, unmaskCrc } from './crc32c.js';

/**
 * Which tables LevelDB's MANIFEST lists as live, and its last sequence number. A table file
 * it does not list is LevelDB's own leftover (a half-written compaction output after a crash,
 * an input whose deletion a crash cut short), which LevelDB deletes at open: not damage, and
 * never to be fed back into a repair. Format: leveldb doc/log_format.md (32 KiB blocks of
 * CRC-checked records) holding VersionEdits (db/version_edit.cc). Pure over the bytes.
 */
export interface ManifestState {
  /** Live table file numbers. */
  live: Set<number>;
  lastSequence?: bigint;
  /**
   * The next file number LevelDB had handed out at its last edit. An unlisted table below it
   * is one the MANIFEST listed and dropped (a compaction input a crash left behind: stale, to
   * be set aside); one at or above it was written after the last edit LevelDB recorded.
   */
  nextFile?: number;
  /**
   * The write-ahead log LevelDB replays at open. It is deleted only after a later edit names a
   * newer one: gone while the MANIFEST still names it, later edits are what was lost.
   */
  logNumber?: number;
}

const BLOCK = 32768;
const HEADER = 7;

/**
 * The log's records; undefined at one that fails its checksum. A record cut short at the end
 * is where a crash stopped a write: LevelDB reads the log up to it, and so does this.
 */
function records(log: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let parts: Buffer[] | undefined;
  for (let pos = 0; pos < log.length; ) {
    const left = BLOCK - (pos % BLOCK);
    if (left < HEADER) {
      pos += left; // block trailer padding
      continue;
    }
    if (pos + HEADER > log.length) break;
    const length = log.readUInt16LE(pos + 4);
    const type = log[pos + 6] as number;
    if (type === 0 && length === 0) {
      pos += left; // preallocated zeros: the rest of the block is empty
      continue;
    }
    if (pos + HEADER + length > log.length) break;
    const data = log.subarray(pos + HEADER, pos + HEADER + length);
    if (crc32c(data, crc32c(log, 0, pos + 6, pos + 7)) !== unmaskCrc(log.readUInt32LE(pos))) return undefined;
    pos += HEADER + length;
    if (type === 1) out.push(data);
    else if (type === 2) parts = [data];
    else if ((type === 3 || type === 4) && parts) {
      parts.push(data);
      if (type === 4) {
        out.push(Buffer.concat(parts));
        parts = undefined;
      }
    } else return undefined;
  }
  return out;
}

function varint(buf: Buffer, at: number): { value: bigint; next: number } | undefined {
  let value = 0n;
  for (let shift = 0n, i = at; shift <= 63n && i < buf.length; shift += 7n, i++) {
    const b = buf[i] as number;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/** Applies one VersionEdit; false when it does not parse. */
function apply(edit: Buffer, state: ManifestState): boolean {
  let at = 0;
  const num = (): bigint | undefined => {
    const v = varint(edit, at);
    if (v) at = v.next;
    return v?.value;
  };
  const slice = (): boolean => {
    const len = num();
    if (len === undefined || at + Number(len) > edit.length) return false;
    at += Number(len);
    return true;
  };
  while (at < edit.length) {
    const tag = num();
    switch (tag) {
      case 1n: // comparator name
        if (!slice()) return false;
        break;
      case 2n: {
        const log = num();
        if (log === undefined) return false;
        state.logNumber = Number(log);
        break;
      }
      case 9n: // previous log number
        if (num() === undefined) return false;
        break;
      case 3n: {
        const next = num();
        if (next === undefined) return false;
        state.nextFile = Number(next);
        break;
      }
      case 4n: {
        const seq = num();
        if (seq === undefined) return false;
        state.lastSequence = seq;
        break;
      }
      case 5n: // compaction pointer: level, internal key
        if (num() === undefined || !slice()) return false;
        break;
      case 6n: {
        const level = num();
        const file = num();
        if (level === undefined || file === undefined) return false;
        state.live.delete(Number(file));
        break;
      }
      case 7n: {
        const level = num();
        const file = num();
        const size = num();
        if (level === undefined || file === undefined || size === undefined || !slice() || !slice()) return false;
        state.live.add(Number(file));
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

export function parseManifest(log: Buffer): ManifestState | undefined {
  const list = records(log);
  // No record at all (an emptied or zeroed file) says nothing of which tables are live.
  if (!list || list.length === 0) return undefined;
  const state: ManifestState = { live: new Set() };
  for (const edit of list) if (!apply(edit, state)) return undefined;
  return state;
}

/** The live state of the LevelDB directory's current MANIFEST; undefined when it cannot be read whole. */
export async function readManifest(dbDir: string): Promise<ManifestState | undefined> {
  const current = (await readFile(join(dbDir, 'CURRENT'), 'utf8').catch(() => '')).trim();
  if (!/^MANIFEST-\d+$/.test(current)) return undefined;
  const log = await readFile(join(dbDir, current)).catch(() => undefined);
  return log ? parseManifest(log) : undefined;
}

/** A table file's number (`000123.ldb` → 123), or undefined for other names. */
export function tableNumber(name: string): number | undefined {
  const m = /^(\d+)\.(ldb|sst)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
