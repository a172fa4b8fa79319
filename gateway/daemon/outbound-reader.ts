import type { OutboundRecord, QueueStore } from '../store/queue-store.js';

/**
 * The delivery worker's read-ahead over the outbound queue. Reading every source's head after
 * every delivery (decrypting each) costs more than the delivery itself when a backlog drains,
 * so this keeps up to `readAhead` records per source in memory, in order, and goes back to
 * the store only when it must:
 * - the store's outbound count differs from what this reader expects (new bundles arrived, or
 *   something other than the worker removed one);
 * - a source whose read was cut off at `readAhead` has run out while it is free;
 * - something went wrong (`invalidate`).
 * The worker is the only one that delivers or dead-letters outbound records, and it tells
 * the reader (`finished`), so the count check is exact.
 */
export class OutboundReader {
  private readonly buffers = new Map<string, OutboundRecord[]>();
  private readonly order = new Map<string, number>();
  private readonly truncated = new Set<string>();
  private readonly finishedDuringScan = new Set<string>();
  /** Taken by the worker and neither finished nor put back: a rescan must not offer them again. */
  private readonly taken = new Set<string>();
  private scanning = false;
  private expected = 0;
  private dirty = true;

  constructor(
    private readonly store: Pick<QueueStore, 'outboundHeads' | 'stats'>,
    private readonly readAhead = 16,
  ) {}

  /** The next record of every source not in `busy`, oldest first. */
  async heads(busy: ReadonlySet<string>): Promise<OutboundRecord[]> {
    const { outbound } = await this.store.stats();
    const starving = [...this.truncated].some((s) => !busy.has(s) && (this.buffers.get(s)?.length ?? 0) === 0);
    if (this.dirty || outbound !== this.expected || starving) await this.rescan(outbound);
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

  private async rescan(outbound: number): Promise<void> {
    this.dirty = false;
    this.expected = outbound;
    this.scanning = true;
    this.finishedDuringScan.clear();
    let records: OutboundRecord[];
    try {
      records = await this.store.outboundHeads(this.readAhead);
    } catch (e) {
      this.dirty = true;
      throw e;
    } finally {
      this.scanning = false;
    }
    this.buffers.clear();
    this.order.clear();
    this.truncated.clear();
    const counts = new Map<string, number>();
    records.forEach((r, i) => {
      counts.set(r.sourceId, (counts.get(r.sourceId) ?? 0) + 1);
      // Taken and not put back, or finished while the scan ran: not ours to offer again.
      if (this.taken.has(r.id) || this.finishedDuringScan.has(r.id)) return;
      const list = this.buffers.get(r.sourceId);
      if (list) list.push(r);
      else this.buffers.set(r.sourceId, [r]);
      this.order.set(r.id, i);
    });
    for (const [sourceId, n] of counts) if (n >= this.readAhead) this.truncated.add(sourceId);
    this.finishedDuringScan.clear();
  }
}
