/**
 * HL7 v2 DTM/TS/DT `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` → FHIR date / dateTime / instant.
 *
 * - Precision is kept: `1999` → `1999`, `199911` → `1999-11`, `20240115` → `2024-01-15`. FHIR has no
 *   hour- or minute-only dateTime, so `2024011512` becomes `2024-01-15T12:00:00±hh:mm` (padded).
 * - Fractional seconds are kept digit for digit (`.1` stays `.1`, `.1234` stays `.1234`).
 * - An offset is kept as sent, never converted: `-0500` → `-05:00`, `+00` → `+00:00`.
 * - A time without an offset takes the fallback the caller gives (MSH-7's offset, else the
 *   configured zone at that wall time) and the caller records which one was used.
 */
import { toFhirDateTime } from '../../astm/timestamps.js';

export interface V2DateTime {
  readonly year: number;
  readonly month?: number;
  readonly day?: number;
  readonly hour?: number;
  readonly minute?: number;
  readonly second?: number;
  /** Digits after the decimal point, as sent. */
  readonly fraction?: string;
  /** Minutes east of UTC, when the value carries an offset. */
  readonly offset?: number;
}

/** `undefined` = empty, `'invalid'` = not a v2 date/time. */
export function parseV2DateTime(text: string): V2DateTime | 'invalid' | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?(?:([+-])(\d{2})(\d{2})?)?$/.exec(t);
  if (m === null) return 'invalid';
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => num(m[i]));
  if (year === undefined || year < 1) return 'invalid';
  if (m[7] !== undefined && second === undefined) return 'invalid';
  if (month !== undefined && (month < 1 || month > 12)) return 'invalid';
  if (month !== undefined && day !== undefined && (day < 1 || day > daysInMonth(year, month))) return 'invalid';
  if (hour !== undefined && hour > 23) return 'invalid';
  if (minute !== undefined && minute > 59) return 'invalid';
  if (second !== undefined && second > 59) return 'invalid';
  let offset: number | undefined;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10] ?? '0');
    if (om > 59 || oh * 60 + om > 14 * 60) return 'invalid';
    offset = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return {
    year,
    ...(month !== undefined && { month }),
    ...(day !== undefined && { day }),
    ...(hour !== undefined && { hour }),
    ...(minute !== undefined && { minute }),
    ...(second !== undefined && { second }),
    ...(m[7] !== undefined && { fraction: m[7] }),
    ...(offset !== undefined && { offset }),
  };
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** True when the value has a time of day (and so needs an offset in FHIR). */
export function hasTime(dt: V2DateTime): boolean {
  return dt.hour !== undefined && dt.day !== undefined && dt.month !== undefined;
}

/** FHIR `date`: year, year-month or full date; a time of day is dropped. */
export function toFhirDate(dt: V2DateTime): string {
  let s = pad(dt.year, 4);
  if (dt.month !== undefined) s += `-${pad(dt.month)}`;
  if (dt.month !== undefined && dt.day !== undefined) s += `-${pad(dt.day)}`;
  return s;
}

/** Where the offset of a time without one comes from. */
export type OffsetFallback = { readonly kind: 'offset'; readonly minutes: number } | { readonly kind: 'zone'; readonly timeZone: string };

/** The offset of the zone at this wall time (DST-aware; reuses the ASTM timestamp rules). */
function zoneOffset(dt: V2DateTime, timeZone: string): string {
  const text = toFhirDateTime(
    { year: dt.year, month: dt.month ?? 1, day: dt.day ?? 1, hour: dt.hour ?? 0, minute: dt.minute ?? 0, second: dt.second ?? 0 },
    timeZone,
  );
  return text.slice(-6);
}

/**
 * FHIR `dateTime`: date precision as sent; a time gets seconds (padded), its fraction and an offset
 * (its own, else the fallback). `usedFallback` tells the caller to record the choice.
 */
export function v2ToFhirDateTime(dt: V2DateTime, fallback: OffsetFallback): { value: string; usedFallback: boolean } {
  if (!hasTime(dt)) return { value: toFhirDate(dt), usedFallback: false };
  const time = `${pad(dt.hour ?? 0)}:${pad(dt.minute ?? 0)}:${pad(dt.second ?? 0)}${dt.fraction !== undefined ? `.${dt.fraction}` : ''}`;
  let offset: string;
  let usedFallback = false;
  if (dt.offset !== undefined) offset = formatOffset(dt.offset);
  else {
    usedFallback = true;
    offset = fallback.kind === 'offset' ? formatOffset(fallback.minutes) : zoneOffset(dt, fallback.timeZone);
  }
  return { value: `${toFhirDate(dt)}T${time}${offset}`, usedFallback };
}
