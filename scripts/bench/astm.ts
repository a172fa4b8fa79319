/**
 * ASTM intake CPU cost: E1381 link (both roles' state machine, checksums, frame numbers, ACK
 * after each frame, real Node timers through systemClock) + E1394 record decode (text decode,
 * delimiters, escapes, hierarchy), on one core, measured with process.cpuUsage().
 *
 * Workload: every framed corpus transcript (test/fixtures/astm, .astm with E1381 profiles) as
 * instrument sessions (ENQ, frames of ≤ 240 text bytes, EOT), fed in serial-sized reads (16 bytes
 * by default: a USB-serial adapter at 9600 baud delivers a read every few milliseconds).
 * A 9600-baud 8N1 line carries 960 bytes/s, 3,456,000 bytes per hour flat out: CPU seconds per
 * line-hour = 3.456 MB / throughput, and lines per core at 10% CPU = 360 s / that.
 *
 * Peer, measured in the same run on the same bytes: a naive split-based parser of the kind
 * found in small open-source readers (decode to a string, split on STX/ETX, strip frame
 * numbers and checksums without checking them, split records on CR and fields on `|`). It does
 * less work (no checksums, no frame numbers, no replies, no escapes, no timers), so it bounds
 * what a parser this simple could reach.
 *
 *   npm run bench -- astm [rounds=7] [readBytes=16] [megabytes=8]
 *
 * Samples are long (8 MB each) and no collection is forced between them, so the garbage
 * collector's steady-state share is in the figures, as it would be on a box running for months.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { E1381Link } from '../../gateway/astm/e1381-link.js';
import { encodeFrames } from '../../gateway/astm/frame-encoder.js';
import { splitMessages } from '../../gateway/astm/message.js';
import { decodeText } from '../../gateway/astm/text-decode.js';
import { readTranscript } from '../../gateway/astm/transcript.js';
import { systemClock } from '../../gateway/core/clock.js';
import { loadRecordsText } from '../../test/harness/astm-fixtures.js';

const rounds = Number(process.argv[2] ?? 7);
const readBytes = Number(process.argv[3] ?? 16);
const megabytes = Number(process.argv[4] ?? 8);
const LINE_BYTES_PER_HOUR = (9600 / 10) * 3600;

const dir = fileURLToPath(new URL('../../test/fixtures/astm/', import.meta.url));
const sessions: Buffer[] = [];
for (const name of readdirSync(dir).filter((n) => n.endsWith('.astm') && !n.endsWith('-raw.astm')).sort()) {
  for (const records of readTranscript(loadRecordsText(name))) {
    sessions.push(Buffer.concat([Buffer.of(0x05), ...encodeFrames(records.map((r) => Buffer.from(r, 'latin1'))), Buffer.of(0x04)]));
  }
}
const one = Buffer.concat(sessions);
const copies = Math.max(1, Math.ceil((megabytes * 1024 * 1024) / one.length));
const stream = Buffer.concat(Array.from({ length: copies }, () => one));
const expectedMessages = sessions.length * copies;
const reads: Buffer[] = [];
for (let at = 0; at < stream.length; at += readBytes) reads.push(stream.subarray(at, at + readBytes));

interface Sample {
  cpuMs: number;
  messages: number;
  records: number;
}

function cpuMs(fn: () => { messages: number; records: number }): Sample {
  const before = process.cpuUsage();
  const out = fn();
  const used = process.cpuUsage(before);
  return { cpuMs: (used.user + used.system) / 1000, ...out };
}

/** labedge: the full link (replies written, timers armed) and record decode of every message. */
function labedge(): { messages: number; records: number } {
  let messages = 0;
  let records = 0;
  let replies = 0;
  const link = new E1381Link({
    clock: systemClock(),
    write: (b) => {
      replies += b.length;
    },
    onMessage: (m, settle) => {
      settle(true);
      if (!m.complete) return;
      messages++;
      for (const msg of splitMessages(decodeText(m.text, 'auto'))) records += msg.records.length;
    },
  });
  for (const r of reads) link.consume(r);
  link.destroy();
  if (replies === 0) throw new Error('no replies written');
  return { messages, records };
}

/** The naive peer: string accumulation, split on control bytes, no checks. */
function naive(): { messages: number; records: number } {
  let messages = 0;
  let records = 0;
  let buffer = '';
  let message = '';
  for (const r of reads) {
    buffer += r.toString('latin1');
    for (;;) {
      const eot = buffer.indexOf('\x04');
      if (eot < 0) break;
      const session = buffer.slice(0, eot);
      buffer = buffer.slice(eot + 1);
      for (const part of session.split('\x02').slice(1)) {
        const end = Math.min(...['\x03', '\x17'].map((c) => { const i = part.indexOf(c); return i < 0 ? part.length : i; }));
        message += part.slice(1, end);
      }
      const lines = message.split('\r').filter((l) => l.length > 0);
      for (const line of lines) line.split('|');
      records += lines.length;
      messages += lines.filter((l) => l.startsWith('L|') || l === 'L').length > 0 ? 1 : 0;
      message = '';
    }
  }
  return { messages, records };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// Warm-up, then alternate so neither side always runs on a warmer heap.
labedge();
naive();
const ours: Sample[] = [];
const peer: Sample[] = [];
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? [labedge, naive] : [naive, labedge];
  for (const fn of order) (fn === labedge ? ours : peer).push(cpuMs(fn));
}
for (const s of ours) if (s.messages !== expectedMessages) throw new Error(`labedge decoded ${s.messages} of ${expectedMessages} messages`);

const mb = stream.length / (1024 * 1024);
const report = (label: string, samples: Sample[]) => {
  // All rounds together (total CPU over total bytes), so every collection is paid for; the median is shown beside it.
  const ms = samples.reduce((n, s) => n + s.cpuMs, 0) / samples.length;
  const med = median(samples.map((s) => s.cpuMs));
  const bytesPerCpuSecond = stream.length / (ms / 1000);
  const cpuSecondsPerLineHour = LINE_BYTES_PER_HOUR / bytesPerCpuSecond;
  const spread = (Math.max(...samples.map((s) => s.cpuMs)) - Math.min(...samples.map((s) => s.cpuMs))) / ms;
  process.stdout.write(
    `${label.padEnd(28)} ${(mb / (ms / 1000)).toFixed(1).padStart(7)} MB/s  ${(samples[0]!.messages / (ms / 1000)).toFixed(0).padStart(8)} msg/s  ` +
      `${(cpuSecondsPerLineHour * 1000).toFixed(1).padStart(7)} ms CPU per 9600-baud line-hour  (median round ${(mb / (med / 1000)).toFixed(1)} MB/s, spread ${(spread * 100).toFixed(0)}%)\n`,
  );
  return { bytesPerCpuSecond, cpuSecondsPerLineHour, linesAt10pct: (0.1 * 3600) / cpuSecondsPerLineHour };
};

process.stdout.write(
  `workload: ${sessions.length} corpus messages × ${copies} = ${expectedMessages} messages, ${mb.toFixed(1)} MB, reads of ${readBytes} bytes, ${rounds} rounds; CPU time of all rounds\n`,
);
const a = report('labedge link+records', ours);
const b = report('naive split parser (peer)', peer);
process.stdout.write(`lines per core at 10% CPU: labedge ${a.linesAt10pct.toFixed(0)}, naive peer ${b.linesAt10pct.toFixed(0)}; labedge/peer speed ${(a.bytesPerCpuSecond / b.bytesPerCpuSecond).toFixed(2)}\n`);
process.stdout.write(`${JSON.stringify({ bench: 'astm', metric: 'lines_per_core_at_10pct', value: Math.round(a.linesAt10pct), target: 1000 })}\n`);
process.stdout.write(`${JSON.stringify({ bench: 'astm', metric: 'link_record_decode_vs_naive_split_parser', value: Number((a.bytesPerCpuSecond / b.bytesPerCpuSecond).toFixed(2)) })}\n`);
