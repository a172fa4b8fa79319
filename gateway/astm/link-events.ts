/**
 * Diagnostics from the E1381 link. PHI-free by construction: events carry kinds,
 * frame numbers and byte counts only, never frame text.
 */
export type FrameRejectReason =
  | 'checksum'
  | 'frame-number'
  | 'too-long'
  | 'restricted-char'
  | 'malformed'
  /** The frame would push the message past maxMessageBytes, or follows such a frame. */
  | 'message-too-long';

export type LinkEvent =
  // Receiver role.
  | { kind: 'session-start'; implicit: boolean }
  | { kind: 'session-end' }
  | { kind: 'frame-rejected'; reason: FrameRejectReason; frameNumber: number | null }
  /** A frame whose ETX/ETB never came (its trailer ran into the text): dropped without a reply. */
  | { kind: 'frame-abandoned'; frameNumber: number | null }
  | { kind: 'duplicate-frame'; frameNumber: number }
  /** Same FN as the previous frame but different text: kept as a new frame (seen from a Sysmex XN-550). */
  | { kind: 'frame-number-reused'; frameNumber: number }
  | { kind: 'timeout'; role: 'receiver' | 'sender' }
  | { kind: 'junk'; bytes: number }
  /** EOT arrived with records received but no terminator record. */
  | { kind: 'aborted'; frames: number }
  | { kind: 'message-too-long'; limit: number }
  /** ENQ answered with NAK because acceptSession() said no (e.g. the store refuses commits). */
  | { kind: 'busy-refused' }
  /** We answered an accepted frame with EOT (receiver interrupt) so that we can send. */
  | { kind: 'interrupt-sent'; frameNumber: number }
  // Sender role.
  | { kind: 'busy'; attempt: number }
  | { kind: 'contention' }
  | { kind: 'retransmit'; frameNumber: number; attempt: number; cause: 'nak' | 'timeout' }
  /** The receiver answered a frame with EOT (receiver interrupt). */
  | { kind: 'interrupted'; frameNumber: number }
  // Link (both roles on one line).
  /** A queued message's attempt failed; it goes back to the queue (or is given up). */
  | { kind: 'send-failed'; reason: string; attempt: number; requeued: boolean }
  /** A queued message expired before it could be sent (e.g. a query reply past its deadline). */
  | { kind: 'send-expired' }
  | { kind: 'sent'; attempt: number }
  /** Framing decided by auto-detection at a message boundary. */
  | { kind: 'framing'; mode: 'e1381' | 'raw' }
  /** A non-ASTM payload (no ENQ, STX…ETX or similar) was captured for a payload adapter or quarantine. */
  | { kind: 'foreign-payload'; bytes: number; adapter: string | null };

export type LinkEventKind = LinkEvent['kind'];
