/**
 * bioMérieux mini VIDAS: `<STX><RS>mtrsl|<RS>pi…|<RS>ci…|…|<GS>b0` — fields that each start with
 * RS and a two-letter key and end with `|`, then GS and a checksum: two hex digits of the sum of
 * every byte after STX through GS, mod 256 (verified on the corpus capture). Keys used: mt message
 * type (`rsl` = result), pi patient id, pn patient name, ci specimen id, rt assay code, rn assay
 * name, td date MM/DD/YY, tt time HH:MM, qn quantitative and ql qualitative result, y3 unit,
 * id instrument id. The host answers ACK once the payload is committed (NAK if it cannot commit).
 */
import type { PayloadAdapter } from '../../astm/foreign-payload.js';
import { ACK, GS, RS, STX } from '../../astm/control-bytes.js';
import { frameChecksum, hexDigitValue } from '../../astm/checksum.js';
import { components, fullYear, header, record, testId } from './text-records.js';

function checksumOk(payload: Uint8Array, gs: number): boolean {
  const c1 = hexDigitValue(payload[gs + 1] ?? -1);
  const c2 = hexDigitValue(payload[gs + 2] ?? -1);
  return c1 >= 0 && c2 >= 0 && ((c1 << 4) | c2) === frameChecksum(payload, 1, gs + 1);
}

function fields(payload: Uint8Array): Map<string, string> | undefined {
  if (payload[0] !== STX || payload[1] !== RS) return undefined;
  const gs = payload.lastIndexOf(GS);
  if (gs < 0 || !checksumOk(payload, gs)) return undefined;
  const out = new Map<string, string>();
  for (const part of Buffer.from(payload.subarray(1, gs)).toString('latin1').split('|')) {
    if (part === '') continue;
    if (part.charCodeAt(0) !== RS || part.length < 3) return undefined;
    out.set(part.slice(1, 3), part.slice(3));
  }
  return out;
}

export const miniVidas: PayloadAdapter = {
  name: 'mini-vidas',
  reply: Uint8Array.of(ACK),
  isComplete(payload) {
    const gs = payload.lastIndexOf(GS);
    return gs > 0 && payload.length >= gs + 3;
  },
  matches: (payload) => fields(payload)?.has('mt') === true,
  toRecords(payload) {
    const f = fields(payload);
    if (f === undefined) return undefined;
    const warnings: string[] = [];
    if (f.get('mt') !== 'rsl') warnings.push('payload: message type is not a result; no results read');
    const date = /^(\d{2})\/(\d{2})\/(\d{2})$/.exec(f.get('td') ?? '');
    const time = /^(\d{2}):(\d{2})$/.exec(f.get('tt') ?? '');
    const ts = date ? `${fullYear(date[3] ?? '')}${date[1]}${date[2]}${time ? `${time[1]}${time[2]}00` : ''}` : '';
    const code = f.get('rt') ?? '';
    const results: string[] = [];
    if (f.get('mt') === 'rsl' && code !== '') {
      const instrument = f.get('id') ?? '';
      const qn = f.get('qn') ?? '';
      const ql = f.get('ql') ?? '';
      if (qn !== '') results.push(record('R', ['1', testId(code), qn, f.get('y3') ?? '', '', '', '', 'F', '', '', '', ts, instrument]));
      if (ql !== '') results.push(record('R', [String(results.length + 1), testId(code, 'QUAL'), ql, '', '', '', '', 'F', '', '', '', ts, instrument]));
    }
    if (results.length === 0) warnings.push('payload: no results found');
    const patient = record('P', ['1', '', f.get('pi') ?? '', '', components((f.get('pn') ?? '').split(/\s+/).filter(Boolean))]);
    const order = record('O', ['1', f.get('ci') ?? '', '', code === '' ? '' : testId(code, f.get('rn') ?? ''), 'R', ts]);
    return { text: [header('mini VIDAS^bioMerieux', ts), patient, order, ...results, 'L|1|N'].join('\r') + '\r', warnings };
  },
};
