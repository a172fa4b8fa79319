/**
 * Building E1394 records from values read out of a non-ASTM payload, with the standard
 * delimiters; every value is escaped, so a payload can never forge a field or a record.
 */
import { DEFAULT_DELIMITERS } from '../../astm/delimiters.js';
import { encodeEscapes } from '../../astm/escape.js';

/** One record: fields from position 2 on (`record('R', ['1', '^^^Na'])`), values escaped unless marked raw. */
export function record(type: string, fields: readonly (string | { raw: string })[]): string {
  const out = fields.map((f) => (typeof f === 'string' ? encodeEscapes(f, DEFAULT_DELIMITERS) : f.raw));
  // Trailing empty fields add nothing.
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return [type, ...out].join('|');
}

/** Components joined by `^`, each escaped. */
export function components(values: readonly string[]): { raw: string } {
  return { raw: values.map((c) => encodeEscapes(c, DEFAULT_DELIMITERS)).join('^') };
}

/** `^^^code` (LIS02-A2 universal test id with the local code in component 4), escaped. */
export function testId(code: string, ...more: string[]): { raw: string } {
  return components(['', '', '', code, ...more]);
}

export const HEADER_DELIMITERS = { raw: '\\^&' };

/** Two-digit year → four digits (instruments with YY dates are all post-2000). */
export function fullYear(yy: string): string {
  return `20${yy.padStart(2, '0')}`;
}

/** Fields of `H|\^&|||sender|||||||P|LIS2-A2|ts`. */
export function header(sender: string, timestamp: string): string {
  return record('H', [HEADER_DELIMITERS, '', '', { raw: sender }, '', '', '', '', '', '', 'P', 'LIS2-A2', timestamp]);
}
