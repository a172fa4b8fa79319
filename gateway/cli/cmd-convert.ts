import { readFile } from 'node:fs/promises';
import { parseCommandArgs, usageError } from './args.js';
import { LabedgeError } from '../core/errors.js';
import { deframeCapture } from '../astm/capture-deframe.js';
import { decodeText } from '../astm/text-decode.js';
import { isEscapedWireCapture, unescapeTokens, unescapeWireCapture } from '../astm/transcript.js';
import { convertAstm } from '../fhir/astm-to-fhir.js';
import { holdsAstmMessage, splitAtHeaders } from '../astm/message-found.js';
import { convertHl7All } from '../fhir/hl7/hl7-to-fhir.js';
import { looksLikeHl7 } from '../fhir/hl7/hl7-capture.js';
import { HL7_PROFILES, hl7Profile } from '../profiles/hl7-profile.js';
import { messageDigest } from '../daemon/transform-worker.js';
import { systemTimeZone, type TextEncoding } from '../config/config.js';

async function readInput(file: string): Promise<Buffer> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(file);
  } catch {
    throw new LabedgeError('LABEDGE_ERR_USAGE', `cannot read ${file}`);
  }
}

/** Pure mapping: a message file (records, or a byte capture with E1381 framing) → FHIR Bundle(s) on stdout. */
export async function convertCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    from: { type: 'string', default: 'auto' },
    source: { type: 'string', default: 'convert' },
    tz: { type: 'string' },
    encoding: { type: 'string', default: 'auto' },
    profile: { type: 'string' },
  });
  const from = values.from;
  if (from !== 'astm' && from !== 'hl7' && from !== 'auto') throw usageError('--from must be astm, hl7 or auto');
  const encoding = values.encoding as TextEncoding;
  if (!['auto', 'utf-8', 'latin1'].includes(encoding)) throw usageError('--encoding must be auto, utf-8 or latin1');
  if (positionals.length !== 1) throw usageError('convert takes exactly one FILE (or - for stdin)');
  // HL7 device profile (gateway/profiles/hl7-profile.ts), as an instrument's `profile` would set it.
  if (values.profile !== undefined && !Object.hasOwn(HL7_PROFILES, values.profile)) {
    throw usageError(`--profile must be an HL7 profile: ${Object.keys(HL7_PROFILES).join(', ')}`);
  }
  const bytes = await readInput(positionals[0]!);
  if (from === 'hl7' || (from === 'auto' && looksLikeHl7(bytes))) {
    // Any terminator (CR, LF, CRLF), a BOM, batches, MLLP-framed captures: one Bundle per message.
    const results = convertHl7All(bytes, {
      sourceId: values.source,
      messageId: messageDigest(bytes),
      messageIdOf: messageDigest,
      timeZone: values.tz ?? systemTimeZone(),
      ...(encoding !== 'auto' ? { charset: encoding } : {}),
      ...(values.profile !== undefined ? { profile: hl7Profile({ profile: values.profile }) } : {}),
    });
    // Nothing found: one error line, not the parser's warnings about the garbage first.
    if (results.length === 1 && results[0]?.warnings.some((w) => w.startsWith('input: no MSH'))) throw nothingFound('HL7 v2 message (MSH segment)');
    for (const r of results) {
      for (const w of r.warnings) process.stderr.write(`labedge: warning: ${w}\n`);
      if (r.unmapped.length > 0) process.stderr.write(`labedge: not mapped: ${r.unmapped.join(' ')}\n`);
    }
    const hl7Bundles = results.map((r) => r.bundle);
    process.stdout.write(`${JSON.stringify(hl7Bundles.length === 1 ? hl7Bundles[0] : hl7Bundles, null, 2)}\n`);
    return 0;
  }

  // A capture may be raw bytes or spelled with <STX>-style tokens (as the corpus .frames files are).
  const wire = isEscapedWireCapture(bytes) ? unescapeWireCapture(bytes.toString('latin1')) : bytes;
  const { messages, framed } = deframeCapture(wire);
  // A records file may spell control bytes as <RS>-style tokens, as transcripts do.
  // Several messages in a records file are several messages, as in a capture: one Bundle each.
  const raws = framed ? messages : splitAtHeaders(unescapeTokens(wire.toString('latin1'))).map((m) => Buffer.from(m, 'latin1'));
  const bundles: unknown[] = [];
  const warnings: string[] = [];
  let found = 0;
  for (const raw of raws) {
    const text = decodeText(raw, encoding);
    if (holdsAstmMessage(text)) found += 1;
    const result = convertAstm(text, { sourceId: values.source, messageId: messageDigest(raw), timeZone: values.tz ?? systemTimeZone() });
    warnings.push(...result.warnings);
    bundles.push(result.bundle);
  }
  // Nothing found: one error line, not the parser's warnings about the garbage first.
  if (found === 0) throw nothingFound('ASTM message (H record)');
  for (const w of warnings) process.stderr.write(`labedge: warning: ${w}\n`);
  process.stdout.write(`${JSON.stringify(bundles.length === 1 ? bundles[0] : bundles, null, 2)}\n`);
  return 0;
}

/** Nothing to convert is a failure (exit 1), not an empty Bundle that looks like success. */
function nothingFound(what: string): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_MAPPING', `no ${what} found in the input; nothing converted`);
}
