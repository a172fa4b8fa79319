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
  // Sender role.
  | { kind: 'busy'; attempt: number }
  | { kind: 'contention' }
  | { kind: 'retransmit'; frameNumber: number; attempt: number; cause: 'nak' | 'timeout' }
  /** The receiver answered a frame with EOT (receiver interrupt). */
  | { kind: 'interrupted'; frameNumber: number };

export type LinkEventKind = LinkEvent['kind'];
