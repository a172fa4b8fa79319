/**
 * Arkray Spotchem EL SE-1520: one printout line per sample between STX and ETX, no frame number,
 * checksum or ENQ (research Q9):
 *   `<STX>24/10/29 13:08 ID# 1DC042FP   [B. Plasma] Na   131  mmol/L K   9.7  mmol/L …<ETX>`
 * Date is YY/MM/DD. Each analyte is `name value unit`. Read into H, P, O, R…, L records.
 */
import type { PayloadAdapter } from '../../astm/foreign-payload.js';
import { ETX, STX } from '../../astm/control-bytes.js';
import { fullYear, header, record, testId } from './text-records.js';

const HEAD = /^(\d{2})\/(\d{2})\/(\d{2})\s+(\d{2}):(\d{2})\s+ID#\s*(\S+)\s+(?:\[([^\]]*)\]\s*)?/;
const ANALYTE = /([A-Za-z][A-Za-z0-9+-]*)\s+([<>]?-?\d+(?:[.,]\d+)?|-{2,}|\*{2,})\s+(\S+)/y;

function body(payload: Uint8Array): string | undefined {
  if (payload[0] !== STX) return undefined;
  const end = payload.lastIndexOf(ETX);
  if (end < 0) return undefined;
  return Buffer.from(payload.subarray(1, end)).toString('latin1');
}

export const spotchemEl: PayloadAdapter = {
  name: 'spotchem-el',
  isComplete: (payload) => payload.length > 1 && payload[payload.length - 1] === ETX,
  matches(payload) {
    const text = body(payload);
    return text !== undefined && HEAD.test(text);
  },
  toRecords(payload) {
    const text = body(payload);
    const head = text === undefined ? null : HEAD.exec(text);
    if (text === undefined || head === null) return undefined;
    const [, yy, mm, dd, hh, mi, specimen, type] = head;
    const ts = `${fullYear(yy ?? '')}${mm}${dd}${hh}${mi}00`;
    const warnings: string[] = [];
    const results: string[] = [];
    const codes: string[] = [];
    let pos = head[0].length;
    for (;;) {
      ANALYTE.lastIndex = pos;
      const m = ANALYTE.exec(text);
      if (m === null) break;
      const [, code = '', value = '', unit = ''] = m;
      codes.push(code);
      results.push(record('R', [String(results.length + 1), testId(code), value, unit, '', '', '', 'F', '', '', '', ts]));
      pos = ANALYTE.lastIndex;
      while (pos < text.length && /\s/.test(text.charAt(pos))) pos++;
    }
    if (text.slice(pos).trim() !== '') warnings.push('payload: trailing text not read as a result');
    if (results.length === 0) warnings.push('payload: no results found');
    const order = record('O', ['1', specimen ?? '', '', { raw: codes.map((c) => testId(c).raw).join('\\') }, 'R', ts, '', '', '', '', '', '', '', '', type?.trim() ?? '']);
    return { text: [header('Spotchem EL^Arkray', ts), 'P|1', order, ...results, 'L|1|N'].join('\r') + '\r', warnings };
  },
};
