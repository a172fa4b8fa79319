import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { CANARIES, canariesIn, canaryInputs } from '../../test/harness/canary.js';
import { crashReport, describeBytes, scrubError, scrubObject } from './scrub.js';
import { createLogger } from './logger.js';
import { LabedgeError } from './errors.js';

const PHI = CANARIES.join(' ');

test('describeBytes shows control bytes as hex and masks every data byte', async () => {
  const frame = await canaryInputs.framedCapture();
  const shown = describeBytes(frame);
  assert.match(shown, /^\d+ bytes \[05 02 \.\.×\d+ 0d/);
  assert.deepEqual(canariesIn(shown), []);
  assert.equal(describeBytes(Buffer.from('\x02ABC\x03\r\n')), '7 bytes [02 ..×3 03 0d 0a]');
  assert.equal(describeBytes(Buffer.from('\x05'), { names: true }), '1 bytes [ENQ]');
  assert.match(describeBytes(Buffer.alloc(500, 0x0d), { maxTokens: 4 }), /\[0d 0d 0d 0d …\]$/);
  // Property: no run of printable input survives, whatever the bytes.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const text = describeBytes(bytes).replace(/^\d+ bytes /, '');
      assert.ok(/^\[((?:[0-9a-f]{2}|\.\.×\d+)( (?:[0-9a-f]{2}|\.\.×\d+))*( …)?)?\]$/.test(text), text);
    }),
  );
});

test('scrubError keeps codes, class names and frames; never messages (which may quote input)', () => {
  const inner = Object.assign(new SyntaxError(`Unexpected token in JSON: "${PHI}"`), { code: 'ERR_JSON' });
  const outer = new LabedgeError('LABEDGE_ERR_MAPPING', 'message i-00000000000000aa: P.6 could not be mapped', { cause: inner });
  const s = scrubError(outer, { stack: true });
  assert.equal(s.error, 'LABEDGE_ERR_MAPPING: message i-00000000000000aa: P.6 could not be mapped');
  assert.deepEqual(s.causes, ['SyntaxError ERR_JSON']);
  assert.ok(s.stack && s.stack.length > 0 && s.stack.every((l) => l.trim().startsWith('at ')));
  assert.deepEqual(canariesIn(JSON.stringify(s)), []);
  assert.deepEqual(scrubError(s), s, 'idempotent');
  const report = crashReport('uncaught exception', new TypeError(PHI), true);
  assert.match(report, /^labedge: crashed \(uncaught exception\): TypeError\n {4}at /);
  assert.deepEqual(canariesIn(report), []);
});

test('scrubObject censors PHI keys at any depth, buffers and errors, and keeps counts', () => {
  const out = scrubObject({ id: 'i-1', resources: 4, nested: { a: [{ raw: Buffer.from(PHI), value: 4817.29, patient: { name: PHI } }] }, buf: Buffer.from(PHI), err: new Error(PHI), response: { issue: PHI } });
  assert.deepEqual(canariesIn(JSON.stringify(out)), []);
  assert.deepEqual(out, {
    id: 'i-1',
    resources: 4,
    nested: { a: [{ raw: '[redacted]', value: '[redacted]', patient: '[redacted]' }] },
    buf: `[${Buffer.byteLength(PHI)} bytes]`,
    err: { error: 'Error' },
    response: '[redacted]',
  });
});

test('the logger: careless fields, errors with PHI messages and buffers never reach the output', async () => {
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (d: Buffer) => (text += d.toString()));
  const log = createLogger({ destination: sink, level: 'debug' });
  log.info({ raw: PHI, text: PHI, bundle: { p: PHI }, deep: { inner: { patient: PHI, value: 4817.29, frames: [Buffer.from(PHI)] } } }, 'careless fields');
  log.error({ err: Object.assign(new Error(PHI), { cause: new Error(PHI) }) }, 'error object');
  log.error(new RangeError(PHI), 'error as first argument');
  log.warn({ upstream: canaryInputs.upstreamRejection }, 'a server reply');
  log.debug({ frame: describeBytes(await canaryInputs.framedCapture()) }, 'frame bytes');
  await new Promise((r) => setImmediate(r));
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 5);
  assert.deepEqual(canariesIn(text), []);
  assert.match(lines[1] ?? '', /"err":\{"error":"Error","causes":\["Error"\],"stack":\[/);
  assert.match(lines[4] ?? '', /"frame":"\d+ bytes \[05 02/);
});
