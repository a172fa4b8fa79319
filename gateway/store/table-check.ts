import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c, unmaskCrc } from './crc32c.js';
import { readManifest, tableNumber } from './manifest.js';
import { snappyDecompress } from './snappy.js';

/**
 * LevelDB checks a table block's CRC only when a read asks it to, and classic-level never
 * asks (nor do compaction and RepairDB, without paranoid checks). A flipped bit in a table
 * is then read as if it were data: a key's type byte turned into "deleted" makes a record
 * vanish without a trace. So the store checks every block of every table itself before
 * LevelDB opens it (table format: leveldb/doc/table_format.md).
 *
 * Pure over a file's bytes; only checkTables reads the directory.
 */

export const FOOTER = 48;
export const TRAILER = 5; // compression type byte + masked CRC-32C
export const MAGIC_LO = 0x8b80fb57;
export const MAGIC_HI = 0xdb477524;

export interface Handle {
  offset: number;
  size: number;
}

export interface BlockDamage {
  /** Byte offset of the damaged block in its table. */
  offset: number;
  /** What is wrong, PHI-free (no table bytes). */
  what: string;
  /**
   * For a data block: the index's bounds of the keys it held (opaque store keys, see
   * record-keys.ts), as far as they are printable: after `after` (exclusive), up to `upTo`.
   */
  after?: string;
  upTo?: string;
}

function varint(buf: Uint8Array, at: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = at; shift <= 49 && i < end; shift += 7, i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

function handleAt(buf: Uint8Array, at: number, end: number): { handle: Handle; next: number } | undefined {
  const offset = varint(buf, at, end);
  const size = offset && varint(buf, offset.next, end);
  return offset && size ? { handle: { offset: offset.value, size: size.value }, next: size.next } : undefined;
}

/** A block's contents (decoded only if asked: data blocks need only their checksum), or why they cannot be trusted. */
function readBlock(file: Buffer, h: Handle, limit: number, decode: boolean): Buffer | string {
  if (h.offset + h.size + TRAILER > limit) return 'its handle points past the table';
  const type = file[h.offset + h.size] as number;
  const stored = file.readUInt32LE(h.offset + h.size + 1);
  if (crc32c(file, 0, h.offset, h.offset + h.size + 1) !== unmaskCrc(stored)) return 'its checksum does not match';
  const raw = file.subarray(h.offset, h.offset + h.size);
  if (type === 0 || (!decode && type === 1)) return raw;
  if (type === 1) return snappyDecompress(raw) ?? 'its compressed contents are malformed';
  return `unknown compression type ${type}`;
}

/**
 * A block's entries as (key, value) pairs; undefined when its layout is inconsistent. With
 * `prefix`, the entries that parse before the first that does not (a damaged block's).
 */
export function entries(block: Buffer, prefix = false): Array<{ key: Buffer; value: Buffer }> | undefined {
  if (block.length < 4) return undefined;
  const restarts = block.readUInt32LE(block.length - 4);
  let end = block.length - 4 * (restarts + 1);
  if (restarts < 1 || end < 0) {
    if (!prefix) return undefined;
    end = block.length - 4; // a damaged count: read entries until one does not parse
  }
  const out: Array<{ key: Buffer; value: Buffer }> = [];
  let prev = Buffer.alloc(0);
  for (let p = 0; p < end; ) {
    const shared = varint(block, p, end);
    const unshared = shared && varint(block, shared.next, end);
    const valueLen = unshared && varint(block, unshared.next, end);
    const keyEnd = valueLen ? valueLen.next + (unshared?.value ?? 0) : 0;
    const valueEnd = valueLen ? keyEnd + valueLen.value : 0;
    if (!shared || !unshared || !valueLen || shared.value > prev.length || valueEnd > end) return prefix ? out : undefined;
    prev = Buffer.concat([prev.subarray(0, shared.value), block.subarray(valueLen.next, keyEnd)]);
    out.push({ key: prev, value: block.subarray(keyEnd, valueEnd) });
    p = valueEnd;
  }
  return out;
}

/** A block's contents whatever its checksum says (for salvage): decompressed when marked so; undefined when that fails. */
export function blockContents(file: Buffer, h: Handle): Buffer | undefined {
  if (h.offset + h.size + TRAILER > file.length) return undefined;
  const raw = file.subarray(h.offset, h.offset + h.size);
  const type = file[h.offset + h.size];
  return type === 1 ? snappyDecompress(raw) : raw;
}

/** The user key of an internal key (8-byte sequence/type trailer dropped), when printable. */
function printableKey(internal: Buffer): string | undefined {
  const text = internal.subarray(0, Math.max(0, internal.length - 8)).toString('latin1');
  return /^[\x21-\x7e]+$/.test(text) ? text : undefined; // store keys are printable ASCII; index keys may be shortened (`t` for the last block)
}

/** One data block as the index names it: its separator key, where it is, whether it is intact. */
export interface IndexedBlock {
  key: Buffer;
  handle: Handle;
  intact: boolean;
}

export interface TableLayout {
  damage: BlockDamage[];
  /** The data blocks, when the index block itself is intact (else nothing can be located). */
  blocks?: IndexedBlock[];
}

/** Reads a table's structure and checks every block. */
export function readTable(file: Buffer): TableLayout {
  if (file.length < FOOTER || file.readUInt32LE(file.length - 8) !== MAGIC_LO || file.readUInt32LE(file.length - 4) !== MAGIC_HI) {
    return { damage: [{ offset: Math.max(0, file.length - FOOTER), what: 'the table footer is missing or damaged (truncated?)' }] };
  }
  const limit = file.length - FOOTER;
  const meta = handleAt(file, limit, file.length - 8);
  const index = meta && handleAt(file, meta.next, file.length - 8);
  if (!meta || !index) return { damage: [{ offset: limit, what: 'the table footer is damaged' }] };
  const damage: BlockDamage[] = [];
  let covered = 0;
  const check = (h: Handle, role: string): Buffer | undefined => {
    covered += h.size + TRAILER;
    const block = readBlock(file, h, limit, role === 'index' || role === 'meta-index');
    if (typeof block === 'string') {
      damage.push({ offset: h.offset, what: `${role} block: ${block}` });
      return undefined;
    }
    return block;
  };
  let blocks: IndexedBlock[] | undefined;
  for (const [role, h] of [['meta-index', meta.handle], ['index', index.handle]] as const) {
    const block = check(h, role);
    if (!block) continue;
    const list = entries(block);
    if (!list) {
      damage.push({ offset: h.offset, what: `${role} block: its entries are malformed` });
      continue;
    }
    const found: IndexedBlock[] = [];
    let after: string | undefined;
    let whole = true;
    for (const { key, value } of list) {
      const child = handleAt(value, 0, value.length);
      const upTo = printableKey(key);
      if (!child) {
        damage.push({ offset: h.offset, what: `${role} block: an entry's block handle is malformed` });
        whole = false;
        continue;
      }
      const intact = check(child.handle, role === 'index' ? 'data' : 'meta') !== undefined;
      if (!intact && role === 'index') {
        const last = damage[damage.length - 1] as BlockDamage;
        if (after !== undefined) last.after = after;
        if (upTo !== undefined) last.upTo = upTo;
      }
      found.push({ key, handle: child.handle, intact });
      after = upTo;
    }
    if (role === 'index' && whole) blocks = found;
  }
  // Blocks tile the table up to its footer: anything else means a handle was damaged.
  if (damage.length === 0 && covered !== limit) damage.push({ offset: 0, what: `the table's blocks cover ${covered} of ${limit} bytes` });
  return blocks ? { damage, blocks } : { damage };
}

/** Every damaged block of one table file (empty: the table is intact). */
export function checkTable(file: Buffer): BlockDamage[] {
  return readTable(file).damage;
}

export interface TableDamage extends BlockDamage {
  /** The table's file name in the store directory. */
  table: string;
}

export interface TableFiles {
  /** The tables LevelDB uses (those its MANIFEST lists; every table file when it cannot be read). */
  tables: string[];
  /**
   * Table files the MANIFEST listed and then dropped (numbered below its next file number):
   * compaction inputs a crash left behind, stale, deleted at LevelDB's next open. Unlisted
   * newer ones are in neither list: a repair takes them in (a half-written one it sets aside).
   */
  orphans: string[];
  /** The MANIFEST's last sequence number, when it could be read. */
  lastSequence?: bigint;
  /** Tables the MANIFEST lists that are not in the directory (`000005.ldb`): deleted or lost. */
  missing: string[];
  /**
   * Unlisted tables numbered at or above the MANIFEST's next file number, when the log it names
   * is gone: written after the last edit it still holds, so its later edits were lost (a
   * MANIFEST cut short), and LevelDB's open would delete them with their data.
   */
  unrecorded: string[];
}

export async function tableFiles(dbDir: string): Promise<TableFiles> {
  const names = (await readdir(dbDir).catch(() => [] as string[])).filter((n) => tableNumber(n) !== undefined).sort();
  const manifest = await readManifest(dbDir);
  if (!manifest) return { tables: names, orphans: [], missing: [], unrecorded: [] };
  const present = new Set(names.map(tableNumber));
  const missing = [...manifest.live].filter((n) => !present.has(n)).map((n) => `${String(n).padStart(6, '0')}.ldb`);
  const live = (n: string): boolean => manifest.live.has(tableNumber(n) as number);
  // Only a table the MANIFEST once listed and dropped is known stale; a newer unlisted one may hold data whose edit is what was lost.
  const dropped = (n: string): boolean => !live(n) && manifest.nextFile !== undefined && (tableNumber(n) as number) < manifest.nextFile;
  const logGone = manifest.logNumber !== undefined && manifest.logNumber > 0 && !(await stat(join(dbDir, `${String(manifest.logNumber).padStart(6, '0')}.log`)).then(() => true, () => false));
  const unrecorded = logGone ? names.filter((n) => !live(n) && !dropped(n)) : [];
  return { tables: names.filter(live), orphans: names.filter(dropped), missing, unrecorded, ...(manifest.lastSequence !== undefined && { lastSequence: manifest.lastSequence }) };
}

/** Checks every table LevelDB uses in a directory (a table removed while being read is skipped). */
export async function checkTables(dbDir: string, files?: TableFiles): Promise<TableDamage[]> {
  const found: TableDamage[] = [];
  for (const table of (files ?? (await tableFiles(dbDir))).tables) {
    const file = await readFile(join(dbDir, table)).catch(() => undefined);
    if (file) for (const d of checkTable(file)) found.push({ table, ...d });
  }
  return found;
}

/** Those of `names` whose every block passes its checksum (a half-written table does not). */
export async function intactTables(dbDir: string, names: readonly string[]): Promise<string[]> {
  const intact: string[] = [];
  for (const t of names) if (checkTable(await readFile(join(dbDir, t)).catch(() => Buffer.alloc(0))).length === 0) intact.push(t);
  return intact;
}
