/**
 * Retry timing for upstream delivery: exponential backoff with full jitter (a uniform delay
 * between 0 and the exponential ceiling), so a fleet of boxes that lost the server at the
 * same moment does not come back in lockstep. Pure: time and randomness come in as arguments.
 */
import { LabedgeError } from '../core/errors.js';

export interface BackoffOptions {
  /** Ceiling of the first retry (attempt 0). */
  baseMs: number;
  /** Largest delay ever returned. */
  capMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ baseMs: 1000, capMs: 300_000 });

/**
 * A delay in [0, min(capMs, baseMs * 2^attempt)] milliseconds (whole milliseconds).
 * `attempt` counts retries from 0; negative or non-finite attempts count as 0.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const { baseMs, capMs } = opts;
  if (!Number.isFinite(baseMs) || baseMs < 0 || !Number.isFinite(capMs) || capMs < 0) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', 'backoff baseMs and capMs must be finite and non-negative');
  }
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  // 2 ** n overflows to Infinity for huge n: min() with the cap keeps the ceiling finite,
  // and a zero base is special-cased because 0 * Infinity is NaN.
  const ceiling = baseMs === 0 ? 0 : Math.min(capMs, baseMs * 2 ** n);
  const r = random();
  const unit = r > 0 ? Math.min(r, 1) : 0;
  return Math.min(ceiling, Math.floor(unit * ceiling));
}

const DELAY_SECONDS = /^\d+$/;
const IMF_FIXDATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^[A-Za-z]+, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * The wait a Retry-After header asks for, in milliseconds from `now` (epoch ms), or undefined
 * when the header is absent or malformed. Accepts delay-seconds and the three HTTP-date forms
 * (RFC 9110 §10.2.3); a date in the past means "now" (0).
 */
export function parseRetryAfter(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (DELAY_SECONDS.test(value)) {
    const ms = Number(value) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  }
  let at = Number.NaN;
  if (IMF_FIXDATE.test(value) || RFC850_DATE.test(value)) at = Date.parse(value);
  // asctime carries no zone; HTTP dates are always GMT, so say so before parsing.
  else if (ASCTIME_DATE.test(value)) at = Date.parse(`${value} GMT`);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
