/** `labedge simulate --protocol hl7`: a file's messages over MLLP (plain by opt-in, and mutual TLS), each waiting for its ACK. */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makePki, startChannel, stored } from './hl7-kit.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

test('simulate --protocol hl7 over plain MLLP and over mutual TLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-sim-'));
  const pki = await makePki(dir);
  const files = { ca: join(dir, 'c-ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') };
  await writeFile(files.ca, pki.ca.certPem);
  await writeFile(files.cert, pki.client.certPem);
  await writeFile(files.key, pki.client.keyPem, { mode: 0o600 });
  const plain = await startChannel();
  const tls = await startChannel({ tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey, caFile: pki.files.ca } }, { dir: join(dir, 'tls') });
  t.after(async () => {
    await plain.close();
    await tls.close();
    await rm(dir, { recursive: true, force: true });
  });
  const file = join(ROOT, 'test/fixtures/hl7/fhirconverter-ORU_R01-lab-cbc.hl7'); // LF-terminated, with a BOM
  const a = await cli(['simulate', '--protocol', 'hl7', '--tcp', `127.0.0.1:${plain.port}`, '--file', file]);
  assert.equal(a.code, 0, a.out);
  assert.match(a.out, /message 1\/1: AA/);
  const b = await cli(['simulate', '--protocol', 'hl7', '--tcp', `127.0.0.1:${tls.port}`, '--file', file, '--tls', '--ca', files.ca, '--cert', files.cert, '--key', files.key]);
  assert.equal(b.code, 0, b.out);
  // Without a client certificate the TLS listener refuses (after the handshake, in TLS 1.3): said so, not "no reply".
  const noCert = await cli(['simulate', '--protocol', 'hl7', '--tcp', `127.0.0.1:${tls.port}`, '--file', file, '--tls', '--ca', files.ca]);
  assert.equal(noCert.code, 1, noCert.out);
  assert.match(noCert.out, /message 1\/1: refused: the server requires a client certificate \(--cert FILE --key FILE\)/);
  assert.deepEqual((await stored(plain.store)).map((r) => r.controlId), ['182']);
  assert.deepEqual((await stored(tls.store)).map((r) => r.controlId), ['182']);
  // A message without MSH-10 is rejected: the simulator says so and exits 1.
  const multi = await cli(['simulate', '--protocol', 'hl7', '--tcp', `127.0.0.1:${plain.port}`, '--file', join(ROOT, 'test/fixtures/hl7/hapi-multi-OML_O21-OUL_R22-ORU_R01.hl7')]);
  assert.equal(multi.code, 1);
  assert.match(multi.out, /message 11\/13: AR/);
  const usage = await cli(['simulate', '--protocol', 'hl7', '--port', '/dev/null', '--file', file]);
  assert.equal(usage.code, 2);
});
