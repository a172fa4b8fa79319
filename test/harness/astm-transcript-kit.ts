/**
 * Drives corpus transcripts through the whole ASTM intake as the daemon runs it, minus I/O:
 * bytes → AstmLine (the profile's framing, payload adapter) → message → prepareInbound → FHIR.
 */
import { createHash } from 'node:crypto';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { FakeClock } from '../../gateway/core/clock.js';
import { AstmLine, type LineMessage } from '../../gateway/astm/astm-line.js';
import { frameChecksum, formatChecksum } from '../../gateway/astm/checksum.js';
import { convertAstm, type MappingResult } from '../../gateway/fhir/astm-to-fhir.js';
import { findAdapter } from '../../gateway/profiles/adapters/registry.js';
import { mappingProfile, prepareInbound } from '../../gateway/profiles/prepare-inbound.js';
import type { InstrumentProfile } from '../../gateway/profiles/profile-types.js';
import type { LinkEvent } from '../../gateway/astm/link-events.js';
import { encodeFrames } from '../../gateway/astm/frame-encoder.js';
import { readTranscript } from '../../gateway/astm/transcript.js';

export interface Decoded {
  messages: LineMessage[];
  replies: Buffer;
  events: LinkEvent[];
}

/** Feeds chunks to a fresh line in the profile's framing, ACKing every message, then lets idle timers run. */
export function decodeWithProfile(chunks: readonly Uint8Array[], profile: InstrumentProfile): Decoded {
  const clock = new FakeClock();
  const messages: LineMessage[] = [];
  const replies: number[] = [];
  const events: LinkEvent[] = [];
  const adapter = findAdapter(profile.payloadAdapter);
  const line = new AstmLine({
    clock,
    framing: profile.framing,
    rawIdleMs: profile.rawIdleMs,
    link: { maxFrameBytes: profile.maxFrameBytes, maxTextPerFrame: profile.maxTextPerFrame },
    adapters: adapter ? [adapter] : [],
    write: (b) => replies.push(...b),
    onEvent: (e) => events.push(e),
    onMessage: (m, settle) => {
      messages.push(m);
      settle(true);
    },
  });
  for (const c of chunks) line.consume(c);
  clock.advance(60_000);
  line.flush();
  line.destroy();
  return { messages, replies: Buffer.from(replies), events };
}

/** One received message → FHIR, as the transform worker does it. */
export function mapLineMessage(message: LineMessage, profile: InstrumentProfile, sourceId = 'analyzer-1'): MappingResult & { rejected?: string } {
  const meta = { framing: message.framing, ...(message.adapter !== undefined && message.adapter !== null && { adapter: message.adapter }) };
  const prepared = prepareInbound(message.text, meta, profile);
  if (prepared.kind === 'reject') return { bundle: { resourceType: 'Bundle', type: 'transaction' }, warnings: [], unmapped: [], rejected: prepared.reasonCode };
  const messageId = createHash('sha256').update(message.text).digest('hex');
  const result = convertAstm(prepared.text, { sourceId, messageId, timeZone: profile.timeZone ?? 'Europe/Berlin', profile: mappingProfile(profile) });
  return { ...result, warnings: [...prepared.warnings, ...result.warnings] };
}

/** Observations of a bundle. */
export function observations(bundle: Bundle): Observation[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
}

/** The local code of an Observation (the labedge test-code coding). */
export function localCode(o: Observation): string | undefined {
  return o.code.coding?.find((c) => c.system?.endsWith(':test-code'))?.code;
}

/** Rewrites frame numbers 1,2,..7,0 and recomputes checksums (undoes senaite's renumbering of stored frames). */
export function renumberFrames(bytes: Buffer): Buffer {
  let fn = 1;
  const s = bytes
    .toString('latin1')
    // eslint-disable-next-line no-control-regex -- matching framing bytes is the point
    .replace(/\x02[0-7]([^\x02\x03\x17]*)([\x03\x17])[0-9A-Fa-f]{2}/g, (_m, text: string, end: string) => {
      const body = Buffer.from(String(fn) + text + end, 'latin1');
      fn = (fn + 1) & 7;
      return '\x02' + body.toString('latin1') + formatChecksum(frameChecksum(body, 0, body.length));
    });
  return Buffer.from(s, 'latin1');
}

/** A live session around a one-sided capture: ENQ first (if missing) and EOT last. */
export function asLiveSession(bytes: Buffer): { stream: Buffer; prefix: number } {
  const prefix = bytes.includes(0x05) ? Buffer.alloc(0) : Buffer.of(0x05);
  const suffix = bytes.at(-1) === 0x04 ? Buffer.alloc(0) : Buffer.of(0x04);
  return { stream: Buffer.concat([prefix, bytes, suffix]), prefix: prefix.length };
}

/** A records transcript as an instrument would send it in its profile's framing: E1381 frames (one session per message) or raw CR-terminated records. */
export function wireFromRecords(text: Buffer, framing: InstrumentProfile['framing'], maxTextPerFrame = 240): Buffer {
  if (framing !== 'e1381') return text;
  const sessions = readTranscript(text).map((records) =>
    Buffer.concat([Buffer.of(0x05), ...encodeFrames(records.map((r) => Buffer.from(r, 'latin1')), maxTextPerFrame), Buffer.of(0x04)]),
  );
  return Buffer.concat(sessions);
}
