/**
 * HL7 v2 parse throughput: labedge's parseHl7 against @medplum/core Hl7Message and node-hl7-client
 * Message, on the same messages in the same process. One operation = bytes → parse → read OBX-5.1 of
 * every OBX with escapes decoded. The peers take a string, so their timed work includes the
 * bytes → string decode ours does internally; every parser's OBX-5 values are checked against ours
 * first and a parser that disagrees is reported (and not counted as the fastest correct peer).
 *
 * Workloads: ORU = the NIST LRI CBC (28 OBX, 10 kB) with the BOM removed and LF → CR (as in
 * ../shared/research/perf-anchors.md §1); ESC = the same with OBX-5 of every TX/ST/NM result carrying
 * escape sequences; SMALL = a 1-OBX ORU. Round-robin, order reversed on alternate rounds, after warm-up.
 *
 *   npm run bench -- hl7-parse [rounds=7] [msPerCell=300]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Hl7Message as MedplumMessage } from '@medplum/core';
import { Message as NhcMessage } from 'node-hl7-client';
import { parseHl7 } from '../../gateway/hl7/parser.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/hl7/', import.meta.url));
const load = (f: string): string => readFileSync(fixtures + f, 'utf8').replace(/^\uFEFF/, '').trim().replaceAll('\n', '\r');

const oru = load('fhirconverter-ORU_R01-nist-lri-cbc.hl7');
let n = 0;
const esc = oru
  .split('\r')
  .map((seg) => {
    if (!seg.startsWith('OBX|')) return seg;
    const f = seg.split('|');
    f[5] = `Ratio 10\\S\\9/L \\T\\ A\\F\\B \\E\\ C\\R\\D #${n++}`;
    return f.join('|');
  })
  .join('\r');
const small = load('fhirconverter-ORU_R01-sn-glucose.hl7');
const workloads = { ORU: oru, ESC: esc, SMALL: small } as const;

type Reader = (bytes: Buffer) => string[];
const readers: Record<string, Reader> = {
  labedge: (bytes) => {
    const out: string[] = [];
    const m = parseHl7(bytes).messages[0];
    if (m) for (const s of m.segments) if (s.name === 'OBX') out.push(s.value(5));
    return out;
  },
  '@medplum/core': (bytes) => {
    const m = MedplumMessage.parse(bytes.toString('utf8'));
    return m.getAllSegments('OBX').map((s) => s.getComponent(5, 1));
  },
  'node-hl7-client': (bytes) => {
    const m = new NhcMessage({ text: bytes.toString('utf8') });
    const out: string[] = [];
    m.get('OBX').forEach((s) => out.push(s.get(5).toString()));
    return out;
  },
};

const rounds = Number(process.argv[2] ?? 7);
const msPerCell = Number(process.argv[3] ?? 300);
let sink = 0;

function measure(read: Reader, bytes: Buffer, ms: number): number {
  const end = performance.now() + ms;
  let ops = 0;
  let t = performance.now();
  const start = t;
  while (t < end) {
    for (let i = 0; i < 20; i++) sink += read(bytes).length;
    ops += 20;
    t = performance.now();
  }
  return (ops * 1000) / (t - start);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

const names = Object.keys(readers);
const results: Record<string, Record<string, number>> = {};
const correct: Record<string, Record<string, boolean>> = {};
for (const [w, text] of Object.entries(workloads)) {
  const bytes = Buffer.from(text, 'utf8');
  const reference = readers.labedge?.(bytes) ?? [];
  correct[w] = {};
  for (const name of names) {
    let ok = false;
    try {
      ok = JSON.stringify(readers[name]?.(bytes)) === JSON.stringify(reference);
    } catch {
      ok = false;
    }
    (correct[w] as Record<string, boolean>)[name] = ok;
  }
  for (const name of names) measure(readers[name] as Reader, bytes, 150); // warm-up
  const samples: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const name of order) samples[name]?.push(measure(readers[name] as Reader, bytes, msPerCell));
  }
  results[w] = Object.fromEntries(names.map((k) => [k, median(samples[k] ?? [])]));
}

console.log(`HL7 parse + read every OBX-5.1 (decoded), msg/s, median of ${rounds} × ${msPerCell} ms (sink ${sink % 7})`);
console.log(`${'parser'.padEnd(18)}${Object.keys(workloads).map((w) => w.padStart(12)).join('')}   OBX-5 == labedge (ORU/ESC/SMALL)`);
for (const name of names) {
  const cells = Object.keys(workloads).map((w) => Math.round(results[w]?.[name] ?? 0).toLocaleString('en').padStart(12));
  const ok = Object.keys(workloads).map((w) => (correct[w]?.[name] ? 'yes' : 'NO')).join('/');
  console.log(`${name.padEnd(18)}${cells.join('')}   ${ok}`);
}
// The headline: ours against the fastest peer on ORU (the 28-OBX message); a peer counts as correct
// when its OBX-5 values match on ORU. Ratios on the other workloads are printed for context.
const ratioOn = (w: string): number => {
  const peers = names.filter((k) => k !== 'labedge' && correct.ORU?.[k]);
  const fastest = Math.max(...peers.map((k) => results[w]?.[k] ?? 0));
  return (results[w]?.labedge ?? 0) / fastest;
};
for (const w of Object.keys(workloads)) console.log(`ratio vs fastest correct peer on ${w}: ${ratioOn(w).toFixed(2)}`);
console.log(JSON.stringify({ bench: 'hl7', metric: 'parse_vs_fastest_peer', value: Number(ratioOn('ORU').toFixed(2)), target: 3.0 }));
