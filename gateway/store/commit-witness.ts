import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * An independent witness of how far the store has committed: after every synced batch the
 * sequence high-water mark carried by that batch is written (pwrite in place, no fsync) to
 * a small file beside the database. LevelDB cannot tell a truncated write-ahead log from a
 * crash before fsync, and a lost data directory looks like a new one; the witness can:
 * when the store reopens below the witnessed mark, acknowledged records are missing.
 *
 * The witness only ever trails the database (it is written after the sync), so a power cut
 * that loses the unsynced witness write makes it weaker, never wrong. The file holds a
 * number and a checksum, nothing else. The same kind of file witnesses how far the audit trail
 * reached (`audit-mark`): a trail that reopens shorter lost its last entries with a table.
 */
const WIDTH = 16;

/** What a witness file witnesses (part of its checksum, so one is never read as the other). */
export type WitnessLabel = 'labedge-commit-mark' | 'labedge-audit-mark';

function line(seq: number, label: WitnessLabel): Buffer {
  const hex = seq.toString(16).padStart(WIDTH, '0');
  const check = createHash('sha256').update(`${label}:${hex}`).digest('hex').slice(0, WIDTH);
  return Buffer.from(`seq=${hex} chk=${check}\n`, 'ascii');
}

/** The witnessed mark, or undefined when the file is absent or unreadable (then there is nothing to compare). */
export async function readWitness(file: string, label: WitnessLabel = 'labedge-commit-mark'): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'ascii');
  } catch {
    return undefined;
  }
  const m = /^seq=([0-9a-f]{16}) chk=[0-9a-f]{16}\n$/.exec(text);
  if (!m?.[1]) return undefined;
  const seq = parseInt(m[1], 16);
  return line(seq, label).toString('ascii') === text ? seq : undefined;
}

export class CommitWitness {
  private fd: number | undefined;
  private last: number;

  private constructor(
    fd: number,
    start: number,
    private readonly label: WitnessLabel,
  ) {
    this.fd = fd;
    this.last = start;
  }

  /** Opens (creating 0600) the witness file; `start` is the mark the store opened at. */
  static open(file: string, start: number, label: WitnessLabel = 'labedge-commit-mark'): CommitWitness {
    const fd = openSync(file, 'a+', 0o600);
    closeSync(fd);
    const witness = new CommitWitness(openSync(file, 'r+'), -1, label);
    witness.note(start);
    return witness;
  }

  /** Records a mark that is now durable in the database. Synchronous and cheap (one pwrite). */
  note(seq: number): void {
    if (this.fd === undefined || seq <= this.last) return;
    this.last = seq;
    const bytes = line(seq, this.label);
    writeSync(this.fd, bytes, 0, bytes.length, 0);
  }

  /** Sets the mark even below the last one: once the shortfall it showed has been dealt with. */
  reset(seq: number): void {
    this.last = -1;
    this.note(seq);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
