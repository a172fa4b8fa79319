/**
 * One HL7 connection (a TCP/TLS socket or a serial line): bytes → de-framing → intake items →
 * commit → acknowledgement, strictly in arrival order. The ACK for a message is written only after
 * `commit` resolves for it (AA/CA), or reports that it could not store it (AE/CE); a frame that is
 * not an acceptable message is committed for quarantine and rejected (AR/CR, with ERR). Partial,
 * timed-out and abandoned frames are never acknowledged. Sans-I/O: the caller supplies `write`,
 * `commit` and the clock; one session per connection, never shared.
 */
import type { Clock } from '../core/clock.js';
import { applicationAckFollows, buildAck, fallbackAckHeader, HL7_ERROR, ackHeaderOf, type AckCode, type AckHeader, type Hl7ErrorDetail } from './ack.js';
import { intakeItems, type IntakeItem } from './intake.js';
import { MllpFramer, mllpFrame, MLLP_COMMIT_ACK, MLLP_COMMIT_NAK, type MllpEvent } from './mllp-framer.js';
import { parseHl7 } from './parser.js';
import { Hl7StreamSplitter } from './stream-splitter.js';

export type CommitResult =
  | { readonly ok: true; readonly id: string; readonly duplicate: boolean }
  | { readonly ok: false; readonly reason: string };

/** PHI-free: codes, counts, opaque ids. */
export type SessionEvent =
  | { readonly kind: 'ack'; readonly code: AckCode | 'none'; readonly applicationCode?: AckCode; readonly id?: string; readonly duplicate?: boolean; readonly reason?: string }
  | { readonly kind: 'framing'; readonly detail: 'junk' | 'oversize' | 'timeout' | 'abandoned' | 'bare-end'; readonly bytes?: number };

export interface Hl7SessionOptions {
  readonly clock: Clock;
  /** 'mllp' (default) or 'none' (unframed serial). */
  readonly framing?: 'mllp' | 'none';
  /** MLLP release 2: a commit block (ACK/NAK) after each commit, plus the HL7 ACK only when MSH-15/16 ask for one. */
  readonly release2?: boolean;
  readonly maxFrameBytes?: number;
  readonly openFrameTimeoutMs?: number;
  /** Unframed serial: silence that ends a message. */
  readonly idleMs?: number;
  /** Instrument profile charset override for MSH-18. */
  readonly charset?: string;
  /** Strict segment terminators: a message without CR gets AR/CR with ERR 100 (profile `crOnly`). */
  readonly crOnly?: boolean;
  write(bytes: Buffer): void;
  commit(item: IntakeItem): Promise<CommitResult>;
  /** The ACK's own MSH-10. */
  ackControlId(): string;
  onEvent?(event: SessionEvent): void;
}

interface Deframer {
  consume(chunk: Uint8Array): void;
  close(): void;
}

export class Hl7Session {
  private readonly deframer: Deframer;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private pendingCount = 0;

  constructor(private readonly opts: Hl7SessionOptions) {
    const handlers = { emit: (e: MllpEvent): void => this.onFramerEvent(e) };
    this.deframer =
      opts.framing === 'none'
        ? new Hl7StreamSplitter(opts.clock, handlers, { ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}), ...(opts.idleMs ? { idleMs: opts.idleMs } : {}) })
        : new MllpFramer(opts.clock, handlers, {
            ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}),
            ...(opts.openFrameTimeoutMs ? { openFrameTimeoutMs: opts.openFrameTimeoutMs } : {}),
          });
  }

  /** Frames received but not yet acknowledged (for back-pressure: pause reading when large). */
  get pending(): number {
    return this.pendingCount;
  }

  consume(chunk: Uint8Array): void {
    if (!this.closed) this.deframer.consume(chunk);
  }

  /** The connection ended: an open frame is dropped (never acknowledged); queued frames still commit. */
  close(): Promise<void> {
    this.closed = true;
    this.deframer.close();
    return this.tail;
  }

  /** Resolves when every frame received so far has been handled. */
  drained(): Promise<void> {
    return this.tail;
  }

  private onFramerEvent(e: MllpEvent): void {
    switch (e.type) {
      case 'frame':
        if (e.bareEnd) this.opts.onEvent?.({ kind: 'framing', detail: 'bare-end' });
        this.enqueue(() => this.handleFrame(e.payload));
        break;
      case 'oversize':
        this.opts.onEvent?.({ kind: 'framing', detail: 'oversize', bytes: e.bytes });
        this.enqueue(() => this.rejectOversize(e.head));
        break;
      case 'junk':
      case 'timeout':
      case 'abandoned':
        this.opts.onEvent?.({ kind: 'framing', detail: e.type, bytes: e.bytes });
        break;
      case 'commit':
        break; // commit blocks from the peer: labedge only receives messages here
      default:
        e satisfies never;
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.pendingCount++;
    this.tail = this.tail.then(work).then(
      () => {
        this.pendingCount--;
      },
      () => {
        this.pendingCount--;
      },
    );
  }

  private async handleFrame(payload: Buffer): Promise<void> {
    for (const item of intakeItems(payload, { ...(this.opts.charset !== undefined ? { charset: this.opts.charset } : {}), ...(this.opts.crOnly ? { crOnly: true } : {}) })) {
      let result: CommitResult;
      try {
        result = await this.opts.commit(item);
      } catch (e) {
        result = { ok: false, reason: e instanceof Error ? e.message : 'commit failed' };
      }
      if (!result.ok) {
        this.reply(item.header, 'error', { condition: HL7_ERROR.applicationInternalError }, undefined, false, result.reason);
      } else if (item.rejection !== undefined) {
        this.reply(item.header, 'rejected', item.rejection, result.id, result.duplicate);
      } else {
        this.reply(item.header, 'accepted', undefined, result.id, result.duplicate);
      }
    }
  }

  /** An oversize frame was discarded: reject it by its MSH-10 if the head shows one. */
  private rejectOversize(head: Buffer): Promise<void> {
    const m = parseHl7(head).messages[0];
    const header: AckHeader = (m && ackHeaderOf(m)) ?? fallbackAckHeader();
    this.reply(header, 'rejected', { condition: HL7_ERROR.applicationInternalError }, undefined, false, 'oversize');
    return Promise.resolve();
  }

  private reply(
    header: AckHeader,
    outcome: 'accepted' | 'error' | 'rejected',
    error: Hl7ErrorDetail | undefined,
    id: string | undefined,
    duplicate: boolean,
    reason?: string,
  ): void {
    const release2 = this.opts.release2 === true;
    if (release2) this.opts.write(outcome === 'error' ? MLLP_COMMIT_NAK : MLLP_COMMIT_ACK);
    const asked = header.acceptAckType !== '' || header.applicationAckType !== '';
    const ack = release2 && !asked
      ? undefined
      : buildAck(header, outcome, { controlId: this.opts.ackControlId(), now: this.opts.clock.now(), ...(error ? { error } : {}) });
    const frame = (b: Buffer): Buffer => (this.opts.framing === 'none' ? b : mllpFrame(b));
    if (ack !== undefined) this.opts.write(frame(ack.bytes));
    // Enhanced mode asking for both: the application ACK follows the commit ACK at once (the commit is the application's work).
    const application = ack !== undefined && applicationAckFollows(header, outcome)
      ? buildAck(header, outcome, { controlId: this.opts.ackControlId(), now: this.opts.clock.now(), application: true })
      : undefined;
    if (application !== undefined) this.opts.write(frame(application.bytes));
    this.opts.onEvent?.({
      kind: 'ack',
      code: ack?.code ?? 'none',
      ...(application !== undefined ? { applicationCode: application.code } : {}),
      ...(id !== undefined ? { id } : {}),
      ...(duplicate ? { duplicate } : {}),
      ...(reason !== undefined ? { reason } : {}),
    });
  }
}
