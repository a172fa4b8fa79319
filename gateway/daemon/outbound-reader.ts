import { READ_AHEAD_CHARS, readAheadFull, type OutboundRecord, type QueueStore } from '../store/queue-store.js';

/**
 * The delivery worker's read-ahead over the outbound queue. Reading every source's head after
 * every delivery (decrypting each) costs more than the delivery itself when a backlog drains,
 * so this keeps up to `readAhead` records per source in memory (fewer when the bundles are
 * large: gateway/store/read-ahead.ts), in order, and goes back to the store only when it must:
 * - the store's outbound count differs from what this reader expects (new bundles arrived, or
 *   something other than the worker removed one), or something went wrong (`invalidate`): a
 *   full rescan that `heads` waits for, rebuilding every buffer;
 * - a source whose read was cut off is running low: a refill in the background
 *   (`heads` does not wait, the other sources keep delivering; `onRefill` wakes the worker)
 *   that reads on from the last record read for the source, never from its head again.
 * The worker is the only one that delivers or dead-letters outbound records, and it tells
 * the reader (`finished`), so the count check is exact.
 *
 * Order: a refill only ever appends to a source's buffer the records that follow the last one
 * read for it, which are neither taken nor finished (nobody has seen them); so a source's
 * records are offered strictly in store order, and one put back goes to the front. Scans never
 * overlap: a full rescan waits for a refill in progress first.
 */
export class OutboundReader {
  private readonly buffers = new Map<string, OutboundRecord[]>();
  private readonly order = new Map<string, number>();
  private readonly truncated = new Set<string>();
  /** Per source, the newest record read from the store since the last full rescan. */
  private readonly lastRead = new Map<string, string>();
  private readonly finishedDuringScan = new Set<string>();
  /** Taken by the worker and neither finished nor put back: a rescan must not offer them again. */
  private readonly taken = new Set<string>();
  private scanning = false;
  private refill: Promise<void> | undefined;
  private orderBase = 0;
  private expected = 0;
  private dirty = true;
  private readonly lowWater: number;

  constructor(
    private readonly store: Pick<QueueStore, 'outboundHeads' | 'outboundAfter' | 'stats'>,
    private readonly readAhead = 16,
    private readonly onRefill: () => void = () => undefined,
  ) {
    // A refill reads only records not yet read, so it can start early: half the buffer is
    // what a source delivers while the read is under way, even with the disk busy syncing.
    this.lowWater = Math.floor(readAhead / 2);
  }

  /** The next record of every source not in `busy`, oldest first. */
  async heads(busy: ReadonlySet<string>): Promise<OutboundRecord[]> {
    let { outbound } = await this.store.stats();
    if (this.dirty || outbound !== this.expected) {
      if (this.refill) {
        await this.refill;
        ({ outbound } = await this.store.stats());
      }
      await this.rescan(outbound);
    } else if (!this.refill && this.lowSources().length > 0) {
      this.refill = this.refillLow().finally(() => {
        this.refill = undefined;
        this.onRefill();
      });
    }
    const heads: OutboundRecord[] = [];
    for (const [sourceId, records] of this.buffers) {
      const head = records[0];
      if (head && !busy.has(sourceId)) heads.push(head);
    }
    return heads.sort((a, b) => (this.order.get(a.id) ?? 0) - (this.order.get(b.id) ?? 0));
  }

  /** The worker starts delivering this source's head. */
  take(sourceId: string): void {
    const record = this.buffers.get(sourceId)?.shift();
    if (record) this.taken.add(record.id);
  }

  /** Delivered or dead-lettered: removed from the store by the worker. */
  finished(id: string): void {
    this.taken.delete(id);
    this.order.delete(id);
    this.expected -= 1;
    if (this.scanning) this.finishedDuringScan.add(id);
  }

  /** A delivery will be retried: its record goes back to the front of its source. */
  putBack(record: OutboundRecord): void {
    // Untaken first: a rescan finishing after this point rebuilds the buffers from the store
    // and must find this record free to offer again (it is still the source's head there).
    this.taken.delete(record.id);
    const records = this.buffers.get(record.sourceId);
    if (records) records.unshift(record);
    else this.buffers.set(record.sourceId, [record]);
  }

  /** The worker gave up on this record without an outcome: the next rescan offers it again. */
  release(id: string): void {
    this.taken.delete(id);
  }

  /** Read from the store again at the next step. */
  invalidate(): void {
    this.dirty = true;
  }

  /** Settles when no background read is running (before the store closes). */
  async idle(): Promise<void> {
    await this.refill;
  }

  /** Reads the heads of every source; finished ids seen meanwhile are in finishedDuringScan. */
  private async scan(): Promise<OutboundRecord[]> {
    this.scanning = true;
    this.finishedDuringScan.clear();
    try {
      return await this.store.outboundHeads(this.readAhead);
    } finally {
      this.scanning = false;
    }
  }

  /** Not taken by the worker, not finished while the scan ran: a record this reader may offer. */
  private offerable(r: OutboundRecord): boolean {
    return !this.taken.has(r.id) && !this.finishedDuringScan.has(r.id);
  }

  private async rescan(outbound: number): Promise<void> {
    this.dirty = false;
    this.expected = outbound;
    let records: OutboundRecord[];
    try {
      records = await this.scan();
    } catch (e) {
      this.dirty = true;
      throw e;
    }
    this.buffers.clear();
    this.order.clear();
    this.truncated.clear();
    this.lastRead.clear();
    const base = this.nextOrderBase(records.length);
    const read = new ReadCount();
    records.forEach((r, i) => {
      read.add(r);
      this.lastRead.set(r.sourceId, r.id);
      if (!this.offerable(r)) return;
      const list = this.buffers.get(r.sourceId);
      if (list) list.push(r);
      else this.buffers.set(r.sourceId, [r]);
      this.order.set(r.id, base + i);
    });
    for (const sourceId of read.sources()) if (read.cutOff(sourceId, this.readAhead)) this.truncated.add(sourceId);
    this.finishedDuringScan.clear();
  }

  /** Sources whose last read was cut off, with their buffer down to half of what a read brings. */
  private lowSources(): string[] {
    return [...this.truncated].filter((s) => {
      const buffer = this.buffers.get(s) ?? [];
      return buffer.length <= this.lowWater && buffer.reduce((n, r) => n + r.bundleJson.length, 0) <= READ_AHEAD_CHARS / 2;
    });
  }

  /** Background top-up of the sources running low; never reorders, never drops a buffered record. */
  private async refillLow(): Promise<void> {
    const cursors = new Map<string, string>();
    for (const sourceId of this.lowSources()) {
      const id = this.lastRead.get(sourceId);
      if (id !== undefined) cursors.set(sourceId, id);
    }
    let records: OutboundRecord[];
    try {
      records = await this.store.outboundAfter(cursors, this.readAhead);
    } catch {
      // The next step does a full rescan, which reports the error.
      this.dirty = true;
      return;
    }
    if (this.dirty) return; // a full rescan is due anyway, and rebuilds everything
    const base = this.nextOrderBase(records.length);
    const read = new ReadCount();
    records.forEach((r, i) => {
      read.add(r);
      this.lastRead.set(r.sourceId, r.id);
      const buffer = this.buffers.get(r.sourceId);
      if (buffer) buffer.push(r);
      else this.buffers.set(r.sourceId, [r]);
      this.order.set(r.id, base + i);
    });
    for (const sourceId of cursors.keys()) if (!read.cutOff(sourceId, this.readAhead)) this.truncated.delete(sourceId);
  }

  private nextOrderBase(n: number): number {
    const base = this.orderBase;
    this.orderBase += n;
    return base;
  }
}

/** Records and bundle sizes per source in one read, to tell a read cut off (store/read-ahead.ts) from a source that ran out. */
class ReadCount {
  private readonly bySource = new Map<string, { records: number; chars: number }>();

  add(r: OutboundRecord): void {
    const n = this.bySource.get(r.sourceId) ?? { records: 0, chars: 0 };
    n.records += 1;
    n.chars += r.bundleJson.length;
    this.bySource.set(r.sourceId, n);
  }

  sources(): IterableIterator<string> {
    return this.bySource.keys();
  }

  cutOff(sourceId: string, perSource: number): boolean {
    const n = this.bySource.get(sourceId);
    return n !== undefined && readAheadFull(n.records, n.chars, perSource);
  }
}
