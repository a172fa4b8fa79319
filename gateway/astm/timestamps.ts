/**
 * ASTM timestamps `YYYY[MM[DD[HH[MM[SS]]]]]` → FHIR date / dateTime / instant.
 *
 * - Precision is kept down to the day; FHIR dateTime has no hour- or minute-only form, so times
 *   are padded with zero minutes/seconds.
 * - A time carries no zone in ASTM; it takes the offset of the configured IANA zone at that wall
 *   time (Intl, so DST is right). A wall time that occurs twice (autumn fall-back) takes the first
 *   occurrence; one that does not exist (spring gap) takes the offset in force before the gap.
 * - Null dates are absent: the Delphi epoch `18991230…` (Phadia) and all zeros.
 */

export interface AstmTimestamp {
  readonly year: number;
  readonly month?: number;
  readonly day?: number;
  readonly hour?: number;
  readonly minute?: number;
  readonly second?: number;
}

/** `undefined` = empty, `'null'` = an explicit null date, `'invalid'` = not a timestamp. */
export type TimestampParse = AstmTimestamp | 'null' | 'invalid' | undefined;

export function isNullDate(text: string): boolean {
  const t = text.trim();
  return /^18991230\d*$/.test(t) || /^0+$/.test(t);
}

export function parseAstmTimestamp(text: string): TimestampParse {
  const t = text.trim();
  if (t === '') return undefined;
  if (isNullDate(t)) return 'null';
  if (!/^\d+$/.test(t) || ![4, 6, 8, 10, 12, 14].includes(t.length)) return 'invalid';
  const part = (from: number): number | undefined => (t.length >= from + 2 ? Number(t.slice(from, from + 2)) : undefined);
  const year = Number(t.slice(0, 4));
  const ts: AstmTimestamp = { year, month: part(4), day: part(6), hour: part(8), minute: part(10), second: part(12) };
  if (year < 1) return 'invalid';
  if (ts.month !== undefined && (ts.month < 1 || ts.month > 12)) return 'invalid';
  if (ts.month !== undefined && ts.day !== undefined && (ts.day < 1 || ts.day > daysInMonth(year, ts.month))) return 'invalid';
  if (ts.hour !== undefined && ts.hour > 23) return 'invalid';
  if (ts.minute !== undefined && ts.minute > 59) return 'invalid';
  if (ts.second !== undefined && ts.second > 59) return 'invalid';
  return ts;
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function datePart(ts: AstmTimestamp): string {
  let s = pad(ts.year, 4);
  if (ts.month !== undefined) s += `-${pad(ts.month)}`;
  if (ts.month !== undefined && ts.day !== undefined) s += `-${pad(ts.day)}`;
  return s;
}

/** FHIR `date` (birth dates): the time of day, if any, is dropped. */
export function toFhirDate(ts: AstmTimestamp): string {
  return datePart(ts);
}

/** FHIR `dateTime`: date precision as given; a time gets seconds and the zone's offset. */
export function toFhirDateTime(ts: AstmTimestamp, timeZone: string): string {
  if (ts.hour === undefined || ts.month === undefined || ts.day === undefined) return datePart(ts);
  const minute = ts.minute ?? 0;
  const second = ts.second ?? 0;
  const wall = utcMs(ts.year, ts.month, ts.day, ts.hour, minute, second);
  const offset = offsetForWallTime(wall, timeZone);
  return `${datePart(ts)}T${pad(ts.hour)}:${pad(minute)}:${pad(second)}${formatOffset(offset)}`;
}

/** FHIR `instant` needs a time; date-only timestamps give undefined. */
export function toFhirInstant(ts: AstmTimestamp, timeZone: string): string | undefined {
  return ts.hour === undefined ? undefined : toFhirDateTime(ts, timeZone);
}

function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

function formatOffset(minutes: number): string {
  if (minutes === 0) return '+00:00';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Offset of the zone (minutes east of UTC) at a UTC instant, rounded to whole minutes (LMT has seconds). */
export function zoneOffsetAt(utc: number, timeZone: string): number {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(utc))) parts[p.type] = p.value;
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const wall = utcMs(year, Number(parts.month), Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return Math.round((wall - Math.floor(utc / 1000) * 1000) / 60_000);
}

const DAY = 86_400_000;

function offsetForWallTime(wall: number, timeZone: string): number {
  const before = zoneOffsetAt(wall - DAY, timeZone);
  const after = zoneOffsetAt(wall + DAY, timeZone);
  const fits = (o: number): boolean => zoneOffsetAt(wall - o * 60_000, timeZone) === o;
  const candidates = [before, after].filter(fits);
  // Two fits: the wall time occurs twice; the larger offset is the earlier instant.
  if (candidates.length > 0) return Math.max(...candidates);
  return before;
}

/** The configured zone if Intl knows it, else the system zone, else UTC. Never throws. */
export function resolveTimeZone(timeZone?: string): { timeZone: string; valid: boolean } {
  const system = (): string => {
    try {
      return new Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    } catch {
      return 'UTC';
    }
  };
  if (timeZone === undefined || timeZone === '') return { timeZone: system(), valid: true };
  try {
    formatter(timeZone);
    return { timeZone, valid: true };
  } catch {
    return { timeZone: system(), valid: false };
  }
}

/** An instant as an ASTM timestamp `YYYYMMDDHHMMSS` in the given zone's wall time. */
export function formatAstmTimestamp(utc: number, timeZone: string): string {
  const local = new Date(utc + zoneOffsetAt(utc, resolveTimeZone(timeZone).timeZone) * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(local.getUTCFullYear(), 4)}${p(local.getUTCMonth() + 1)}${p(local.getUTCDate())}${p(local.getUTCHours())}${p(local.getUTCMinutes())}${p(local.getUTCSeconds())}`;
}
