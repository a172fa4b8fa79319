import { crc32c, maskCrc, unmaskCrc } from './crc32c.js';
import { blockContents, entries, FOOTER, MAGIC_HI, MAGIC_LO, readTable, TRAILER, type Handle, type IndexedBlock } from './table-check.js';

/**
 * Rewrites a damaged LevelDB table so that LevelDB can use it safely. Left as it is, a damaged
 * block is read as data: a key whose type byte turned into "deletion" hides a record, and keys
 * out of order abort the next compaction with an assertion (a crash loop). The rewrite keeps
 * every entry of the intact blocks, and of each damaged block the entries that still parse,
 * with two repairs LevelDB's own writes prove safe: a deletion never carries a value, and this
 * store never writes an empty value, so either one is a flipped type byte and is flipped back.
 * Entries that break the table's order or carry an impossible type are dropped. Values are not
 * judged here: each is sealed with its key as AAD, so a damaged one fails authentication when
 * read and is quarantined. RepairDB then rebuilds the manifest from the files.
 *
 * When the footer or the index is gone (a truncated table), the intact data blocks are found
 * from the start of the file instead: each ends where its checksum matches (scanBlocks).
 *
 * Returns undefined when nothing can be kept: such a table is set aside whole. Pure over the
 * file's bytes.
 */
export interface Salvage {
  table: Buffer;
  kept: number;
  dropped: number;
}

const TYPE_DELETION = 0;
const TYPE_VALUE = 1;
const BLOCK_BYTES = 4096;

function varint(n: number, out: number[]): void {
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** A block with every entry a restart point: no prefix sharing, simple to get right. */
function block(list: ReadonlyArray<{ key: Buffer; value: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  const restarts: number[] = [];
  let offset = 0;
  for (const { key, value } of list) {
    const head: number[] = [];
    varint(0, head);
    varint(key.length, head);
    varint(value.length, head);
    restarts.push(offset);
    const entry = Buffer.concat([Buffer.from(head), key, value]);
    parts.push(entry);
    offset += entry.length;
  }
  if (restarts.length === 0) restarts.push(0);
  const tail = Buffer.alloc(4 * (restarts.length + 1));
  restarts.forEach((r, i) => tail.writeUInt32LE(r, 4 * i));
  tail.writeUInt32LE(restarts.length, 4 * restarts.length);
  return Buffer.concat([...parts, tail]);
}

function withTrailer(contents: Buffer): Buffer {
  const type = Buffer.from([0]); // uncompressed
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(maskCrc(crc32c(type, crc32c(contents))));
  return Buffer.concat([contents, type, crc]);
}

function handleBytes(h: Handle): Buffer {
  const out: number[] = [];
  varint(h.offset, out);
  varint(h.size, out);
  return Buffer.from(out);
}

/** LevelDB's internal key order: user key ascending, then (sequence, type) descending. */
function compareInternal(a: Buffer, b: Buffer): number {
  const byUser = Buffer.compare(a.subarray(0, a.length - 8), b.subarray(0, b.length - 8));
  if (byUser !== 0) return byUser;
  const ta = a.readBigUInt64LE(a.length - 8);
  const tb = b.readBigUInt64LE(b.length - 8);
  return ta === tb ? 0 : ta > tb ? -1 : 1;
}

/** An entry of a damaged block, repaired where LevelDB's own rules say how, or undefined. */
function mend(key: Buffer, value: Buffer): { key: Buffer; value: Buffer } | undefined {
  if (key.length < 8 + 2) return undefined; // a trailer and at least a store key's prefix
  const type = key[key.length - 8];
  if (type !== TYPE_DELETION && type !== TYPE_VALUE) return undefined;
  const fixed = Buffer.from(key);
  if (type === TYPE_DELETION && value.length > 0) fixed[key.length - 8] = TYPE_VALUE;
  if (type === TYPE_VALUE && value.length === 0) fixed[key.length - 8] = TYPE_DELETION;
  return { key: fixed, value };
}

/**
 * Data blocks found without the index, from the start of the file: a block ends at the first
 * position whose trailer (type, masked CRC-32C) matches the bytes before it (a false match is
 * 1 in 2^32). Stops at the first stretch that is not an intact block of entries: damage, the
 * cut of a truncation, or the filter block that follows the data blocks.
 */
export function scanBlocks(file: Buffer): IndexedBlock[] {
  const found: IndexedBlock[] = [];
  for (let start = 0; start + TRAILER < file.length; ) {
    let crc = 0;
    let end = -1;
    for (let p = start; p + TRAILER <= file.length; p++) {
      const type = file[p];
      if ((type === 0 || type === 1) && crc32c(file, crc, p, p + 1) === unmaskCrc(file.readUInt32LE(p + 1))) {
        end = p;
        break;
      }
      crc = crc32c(file, crc, p, p + 1);
    }
    if (end < 0) break;
    const handle = { offset: start, size: end - start };
    const list = entries(blockContents(file, handle) ?? Buffer.alloc(0));
    const last = list?.[list.length - 1];
    if (!last) break;
    found.push({ key: last.key, handle, intact: true }); // its checksum matched
    start = end + TRAILER;
  }
  return found;
}

/**
 * `maxSequence`: the MANIFEST's last sequence number, when known; no table holds a later one,
 * so a damaged entry claiming one had its sequence flipped (it would outrank a later delete).
 */
export function salvageTable(file: Buffer, maxSequence?: bigint): Salvage | undefined {
  const blocks = readTable(file).blocks ?? scanBlocks(file);
  const kept: Array<{ key: Buffer; value: Buffer }> = [];
  let dropped = 0;
  blocks.forEach((b, i) => {
    const contents = blockContents(file, b.handle);
    const list = (contents && entries(contents, !b.intact)) ?? [];
    if (!b.intact && list.length === 0) dropped += 1; // at least the block's worth
    // A damaged block's entries must lie where the (intact) index puts the block: after the
    // previous block's separator, up to its own. An entry outside never judges the others.
    const after = blocks[i - 1]?.key;
    for (const e of list) {
      const entry = b.intact ? e : mend(e.key, e.value);
      const last = kept[kept.length - 1];
      const fits =
        entry !== undefined &&
        (b.intact ||
          ((after === undefined || compareInternal(after, entry.key) < 0) &&
            compareInternal(entry.key, b.key) <= 0 &&
            (last === undefined || compareInternal(last.key, entry.key) < 0) &&
            (maxSequence === undefined || entry.key.readBigUInt64LE(entry.key.length - 8) >> 8n <= maxSequence)));
      if (!fits) {
        dropped += 1;
        continue;
      }
      kept.push({ key: Buffer.from(entry.key), value: Buffer.from(entry.value) });
    }
  });
  if (kept.length === 0) return undefined;
  const parts: Buffer[] = [];
  const index: Array<{ key: Buffer; value: Buffer }> = [];
  let offset = 0;
  for (let i = 0; i < kept.length; ) {
    const chunk: Array<{ key: Buffer; value: Buffer }> = [];
    let bytes = 0;
    while (i < kept.length && (chunk.length === 0 || bytes < BLOCK_BYTES)) {
      const e = kept[i++] as { key: Buffer; value: Buffer };
      chunk.push(e);
      bytes += e.key.length + e.value.length;
    }
    const contents = block(chunk);
    parts.push(withTrailer(contents));
    // The block's last key is a valid separator: at least every key in it, below the next block's first.
    index.push({ key: (chunk[chunk.length - 1] as { key: Buffer }).key, value: handleBytes({ offset, size: contents.length }) });
    offset += contents.length + TRAILER;
  }
  const meta = block([]);
  const metaHandle = { offset, size: meta.length };
  offset += meta.length + TRAILER;
  const indexBlock = block(index);
  const footer = Buffer.alloc(FOOTER);
  Buffer.concat([handleBytes(metaHandle), handleBytes({ offset, size: indexBlock.length })]).copy(footer);
  footer.writeUInt32LE(MAGIC_LO, FOOTER - 8);
  footer.writeUInt32LE(MAGIC_HI, FOOTER - 4);
  return { table: Buffer.concat([...parts, withTrailer(meta), withTrailer(indexBlock), footer]), kept: kept.length, dropped };
}
