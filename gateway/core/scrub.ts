import { describeError } from './errors.js';

/**
 * The PHI scrubber shared by the logger, crash reports and diagnostics. It never tries to
 * recognise PHI in free text (it cannot); it keeps only what is known to be safe: error
 * codes and class names, stack frames (file, line, function), counts, and the control
 * bytes of a raw buffer. Everything else is dropped or masked.
 */

const CONTROL_NAMES: Record<number, string> = {
  0x00: 'NUL', 0x01: 'SOH', 0x02: 'STX', 0x03: 'ETX', 0x04: 'EOT', 0x05: 'ENQ', 0x06: 'ACK', 0x07: 'BEL',
  0x08: 'BS', 0x09: 'HT', 0x0a: 'LF', 0x0b: 'VT', 0x0c: 'FF', 0x0d: 'CR', 0x0e: 'SO', 0x0f: 'SI',
  0x10: 'DLE', 0x11: 'DC1', 0x12: 'DC2', 0x13: 'DC3', 0x14: 'DC4', 0x15: 'NAK', 0x16: 'SYN', 0x17: 'ETB',
  0x18: 'CAN', 0x19: 'EM', 0x1a: 'SUB', 0x1b: 'ESC', 0x1c: 'FS', 0x1d: 'GS', 0x1e: 'RS', 0x1f: 'US', 0x7f: 'DEL',
};

const isControl = (b: number): boolean => b < 0x20 || b === 0x7f;

/**
 * Raw bytes for a debug log: the length, then each control byte as hex and each run of
 * data bytes as `..×N` (masked: never the data itself). `05 02 ..×57 17 ..×2 0d 0a` shows
 * the framing of an E1381 frame and nothing of its content.
 */
export function describeBytes(bytes: Uint8Array, options: { maxTokens?: number; names?: boolean } = {}): string {
  const max = options.maxTokens ?? 64;
  const tokens: string[] = [];
  let run = 0;
  let truncated = false;
  const flush = (): void => {
    if (run > 0) tokens.push(`..×${run}`);
    run = 0;
  };
  for (const b of bytes) {
    if (!isControl(b)) {
      run += 1;
      continue;
    }
    flush();
    if (tokens.length >= max) {
      truncated = true;
      break;
    }
    tokens.push(options.names ? (CONTROL_NAMES[b] ?? b.toString(16).padStart(2, '0')) : b.toString(16).padStart(2, '0'));
  }
  if (!truncated) flush();
  return `${bytes.length} bytes [${tokens.join(' ')}${truncated ? ' …' : ''}]`;
}

/** The "    at …" frames of a stack (file, line, function): never the message lines above them. */
export function stackFrames(e: unknown, max = 20): string[] {
  const stack = e instanceof Error && typeof e.stack === 'string' ? e.stack : '';
  return stack
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .slice(0, max)
    .map((l) => l.trimEnd());
}

/** describeError of the error and its causes, outermost first (codes and class names only; bounded). */
export function errorChain(e: unknown, depth = 5): string[] {
  const out: string[] = [];
  let current: unknown = e;
  for (let i = 0; i < depth && current !== undefined && current !== null; i++) {
    out.push(describeError(current));
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return out;
}

/** A PHI-free error for logs: the code/class chain and, if asked, the stack frames. */
export type ScrubbedError = { error: string; causes?: string[]; stack?: string[] };

const isScrubbed = (e: unknown): e is ScrubbedError =>
  typeof e === 'object' && e !== null && !(e instanceof Error) && typeof (e as { error?: unknown }).error === 'string' && Object.keys(e).every((k) => k === 'error' || k === 'causes' || k === 'stack');

export function scrubError(e: unknown, options: { stack?: boolean } = {}): ScrubbedError {
  if (isScrubbed(e)) return e; // already scrubbed (the logger's formatter runs before its serializers)
  const [first, ...causes] = errorChain(e);
  const out: ScrubbedError = { error: first ?? 'unknown error' };
  if (causes.length > 0) out.causes = causes;
  if (options.stack) out.stack = stackFrames(e);
  return out;
}

/** The crash report of a CLI process (uncaughtException / unhandledRejection): one line, frames only with --debug. */
export function crashReport(kind: string, e: unknown, debug: boolean): string {
  const lines = [`labedge: crashed (${kind}): ${errorChain(e).join(' <- ')}`];
  if (debug) lines.push(...stackFrames(e));
  return `${lines.join('\n')}\n`;
}

/** Keys whose values may be patient data wherever they appear in a logged object. */
export const PHI_KEYS = new Set([
  'raw', 'text', 'payload', 'body', 'bundle', 'record', 'records', 'patient', 'value', 'values',
  'response', 'resource', 'entry', 'entries', 'birthDate', 'identifier', 'specimen', 'accession',
  'comment', 'note', 'notes', 'outcome_text', 'diagnostics', 'content', 'data',
]);
/** Keys censored even when the value is a number (result values are numbers). */
const ALWAYS = new Set(['value', 'values', 'raw', 'data']);
export const CENSOR = '[redacted]';

/**
 * A copy of a log object with PHI-bearing keys censored at any depth, buffers reduced to a
 * length, and Error objects reduced to their code chain. Numbers and booleans under most
 * PHI keys stay (counts like `resources: 4`), except result-like keys (`value`).
 */
export function scrubObject(value: unknown, options: { stack?: boolean } = {}, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (value instanceof Error) return scrubError(value, options);
  if (depth >= 8) return '[nested]';
  if (Array.isArray(value)) return value.map((v) => scrubObject(v, options, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (PHI_KEYS.has(k) && (ALWAYS.has(k) || (typeof v !== 'number' && typeof v !== 'boolean'))) out[k] = CENSOR;
    else out[k] = scrubObject(v, options, depth + 1);
  }
  return out;
}
