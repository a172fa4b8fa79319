/**
 * `labedge convert` on HL7 v2 files: `--from hl7` and auto-detection, any terminator (CR, LF,
 * CRLF), a UTF-8 BOM, MLLP-framed captures with junk between frames, stdin; warnings and the
 * "not mapped" line on stderr name positions only (canary PHI never appears there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canariesIn } from '../harness/canary.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function labedge(args: string[], input?: Buffer): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), ...args], { cwd: ROOT, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A canary ORU (test/harness/canary.ts values) with quirks that cause warnings and unmapped fields. */
const SEGMENTS = [
  'MSH|^~\\&|URIT|URIT-5160|LIS|PC|20241017224800||ORU^R01|4|P|2.3.1||||||UNICODE',
  'PID|1||CANARY-PID-93817^^^LAB^MR||Zzcanaryfam^Quentessa||19230817|F||2106-3^White^HL70005',
  'OBR|1||CANLAB-44120|CBC^Blood count^L|||20241017224700',
  'OBX|1|NM|WBC^WBC^L||21.51|10^9/L|6.00-17.00|H|||F||||||CANSPEC-55121',
  'NTE|1||CANARYNOTE-77',
  'OBX|2|NM|HGB^HGB^L||141|g/L|110-190||||F|||2024131',
];

function values(stdout: string): number[][] {
  const parsed = JSON.parse(stdout);
  const bundles = Array.isArray(parsed) ? parsed : [parsed];
  return bundles.map((b: any) => b.entry.filter((e: any) => e.resource.resourceType === 'Observation').map((e: any) => e.resource.valueQuantity?.value));
}

test('convert --from hl7 and auto: any terminator, BOM, MLLP frames, stdin; stderr PHI-free', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-convert-'));
  try {
    const cr = SEGMENTS.join('\r') + '\r';
    const frame = (text: string): Buffer => Buffer.concat([Buffer.from([0x0b]), Buffer.from(text), Buffer.from([0x1c, 0x0d])]);
    const variants: Record<string, Buffer> = {
      cr: Buffer.from(cr),
      lf: Buffer.from(SEGMENTS.join('\n') + '\n'),
      crlf: Buffer.from(SEGMENTS.join('\r\n') + '\r\n'),
      bom: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(SEGMENTS.join('\n'))]),
      mllp: Buffer.concat([Buffer.from('line noise'), frame(cr), Buffer.from('\r\n'), frame(cr.replace('|4|P|', '|5|P|'))]),
    };
    let reference: string | undefined;
    for (const [name, bytes] of Object.entries(variants)) {
      const file = join(dir, `${name}.hl7`);
      await writeFile(file, bytes);
      for (const args of [['--from', 'hl7'], []]) {
        const r = labedge(['convert', '--source', 'urit', '--tz', 'Europe/Berlin', ...args, file]);
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        assert.deepEqual(canariesIn(r.stderr), [], `${name}: stderr names positions, never content`);
        assert.match(r.stderr, /labedge: warning: OBX-6: unescaped component separator read as part of the unit/);
        assert.match(r.stderr, /labedge: not mapped: .*PID-10/);
        const obs = values(r.stdout);
        assert.deepEqual(obs, name === 'mllp' ? [[21.51, 141], [21.51, 141]] : [[21.51, 141]], name);
        assert.ok(canariesIn(r.stdout).length > 0, 'the bundle itself carries the patient');
        if (name !== 'mllp') {
          const bundle = JSON.stringify(JSON.parse(r.stdout).entry);
          reference ??= bundle;
          assert.equal(bundle, reference, `${name}: the same message gives the same resources whatever the terminator`);
        }
      }
    }
    const stdin = labedge(['convert', '--tz', 'Europe/Berlin', '-'], variants.crlf);
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.deepEqual(values(stdin.stdout), [[21.51, 141]]);
    // Several MSH in a plain file are several messages, as in an MLLP capture: a JSON array, one Bundle each.
    const two = join(dir, 'two.hl7');
    await writeFile(two, cr + cr.replace('|4|P|', '|5|P|'));
    const several = labedge(['convert', '--tz', 'Europe/Berlin', two]);
    assert.equal(several.code, 0, several.stderr);
    assert.ok(Array.isArray(JSON.parse(several.stdout)));
    assert.deepEqual(values(several.stdout), [[21.51, 141], [21.51, 141]]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('convert --profile applies an HL7 device profile; an unknown one is a usage error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-convert-profile-'));
  try {
    const file = join(dir, 'urit.hl7');
    await writeFile(file, SEGMENTS.join('\r') + '\r');
    const r = labedge(['convert', '--from', 'hl7', '--profile', 'urit-5160', '--tz', 'Europe/Berlin', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /OBX-6: unescaped component separator/, 'the profile says OBX-6 is one string: nothing to warn about');
    const units = JSON.parse(r.stdout).entry.filter((e: any) => e.resource.resourceType === 'Observation').map((e: any) => e.resource.valueQuantity?.code);
    assert.deepEqual(units, ['10*9/L', 'g/L']);
    const bad = labedge(['convert', '--profile', 'no-such-analyzer', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--profile must be an HL7 profile: generic, urit-5160, radiometer-abl/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
