import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrames } from '../../gateway/astm/frame-encoder.js';

/**
 * Unusual strings planted as PHI in test/fixtures/canary; they must never leak. The first
 * seven are in canary-result.astm; the rest cover every other PHI-bearing field of an ASTM
 * message (canary-all-fields.astm), a result value, and what an upstream server may echo.
 */
export const CANARIES = [
  'Zzcanaryfam', // P.6 family name
  'Quentessa', // P.6 given name
  'CANARY-PID-93817', // P.3 practice patient id
  'CANLAB-44120', // P.4 laboratory patient id
  '19230817', // P.8 birth date
  'CANSPEC-55121', // O.3 specimen id
  'CANARYNOTE-77', // C.4 comment
  'CANALT-66012', // P.5 alternate patient id
  'Xyzcanarymaiden', // P.7 mother's maiden name
  'Canarystrasse', // P.11 address
  '0301239876', // P.13 telephone
  'Drzzcanaryvet', // P.14 attending physician
  'CANINST-88013', // O.4 instrument specimen id
  '4817.29', // R.4 result value
];

export function canariesIn(text: string): string[] {
  return CANARIES.filter((c) => text.includes(c));
}

/** Every file under `dir` (recursively) searched byte-wise for every canary; returns "file: canary" hits. */
export async function canariesInDir(dir: string): Promise<string[]> {
  const hits: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? (entry as { path?: string }).path ?? dir, entry.name);
    const bytes = await readFile(path);
    for (const c of CANARIES) {
      for (const encoding of ['latin1', 'utf16le'] as const) if (bytes.includes(Buffer.from(c, encoding))) hits.push(`${path}: ${c}`);
    }
  }
  return hits;
}

const FIXTURES = fileURLToPath(new URL('../fixtures/canary/', import.meta.url));

/**
 * Canary PHI in every kind of input labedge takes, for the PHI canary suite:
 * - `transcripts`: ASTM record files (one message with canaries in every PHI field, the
 *   classic one, and malformed messages whose broken fields hold canaries);
 * - `framedCapture`: the all-fields message as an E1381 byte capture (frames, checksums);
 * - `badFrames`: E1381 frames that fail (bad checksum, wrong frame number, oversize) with canaries inside;
 * - `upstreamRejection` / `upstreamError`: server replies that echo canaries (OperationOutcome text);
 * - `configText`: a config file whose invalid values are canaries.
 */
export const canaryInputs = {
  transcripts: {
    allFields: join(FIXTURES, 'canary-all-fields.astm'),
    classic: join(FIXTURES, 'canary-result.astm'),
    malformed: join(FIXTURES, 'canary-malformed.astm'),
  },
  async framedCapture(): Promise<Buffer> {
    const records = (await readFile(join(FIXTURES, 'canary-all-fields.astm'), 'latin1')).split(/\r?\n/).filter((r) => r !== '');
    return Buffer.concat([Buffer.from([0x05]), ...encodeFrames(records), Buffer.from([0x04])]);
  },
  badFrames(): Buffer[] {
    const [one] = encodeFrames(['H|\\^&\rP|1|CANARY-PID-93817||||Zzcanaryfam^Quentessa\rL|1|N']);
    const badChecksum = Buffer.from(one as Buffer);
    badChecksum[badChecksum.length - 4] = badChecksum[badChecksum.length - 4] === 0x30 ? 0x31 : 0x30; // the frame fails its checksum
    const [two] = encodeFrames(['x', 'x', 'H|\\^&\rP|1|CANLAB-44120||||Xyzcanarymaiden\rL|1|N']).slice(2); // frame number 3 where 1 is due
    return [
      Buffer.concat([Buffer.from([0x05]), badChecksum, Buffer.from([0x04])]),
      Buffer.concat([Buffer.from([0x05]), two as Buffer, Buffer.from([0x04])]),
      Buffer.concat([Buffer.from([0x05, 0x02]), Buffer.from(`1${'Drzzcanaryvet^CANSPEC-55121|'.repeat(2300)}`, 'latin1'), Buffer.from([0x04])]),
    ];
  },
  upstreamRejection: {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'invalid', diagnostics: 'Patient Zzcanaryfam^Quentessa (CANARY-PID-93817) born 19230817: rejected', details: { text: 'CANSPEC-55121 value 4817.29' } }],
  },
  upstreamError: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'internal error near Drzzcanaryvet / Canarystrasse' }] },
  configText: JSON.stringify({ deviceId: 'Zzcanaryfam Quentessa', uplink: { baseUrl: 'http://CANARY-PID-93817' }, instruments: [{ id: 'CANSPEC-55121 19230817', transport: { type: 'serial' } }] }),
};
