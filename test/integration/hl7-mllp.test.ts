/**
 * HL7 intake over real sockets into a real encrypted store: split and pipelined frames, junk,
 * missing end blocks, oversize frames, 50 concurrent connections, duplicates, mutual TLS with
 * pinning, a store that cannot commit, and a fuzzer that checks the listener never acknowledges
 * what it did not store.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { MllpClient } from '../../hardware/mllp-client.js';
import { MllpFramer, mllpFrame } from '../../gateway/hl7/mllp-framer.js';
import { parseHl7 } from '../../gateway/hl7/parser.js';
import { ackCodeFor, ackHeaderOf, applicationAckFollows } from '../../gateway/hl7/ack.js';
import { FakeClock } from '../../gateway/core/clock.js';
import { createLogger, silentLogger } from '../../gateway/core/logger.js';
import { Hl7Channel } from '../../gateway/daemon/hl7-channel.js';
import { makePki, oru, startChannel, stored } from './hl7-kit.js';

const fixtures = fileURLToPath(new URL('../fixtures/hl7/', import.meta.url));

/** Opens a raw socket, writes `chunks` one by one, collects the ACKs (MSA-1:MSA-2) until `expect` arrive or the socket idles. */
async function rawExchange(port: number, chunks: Buffer[], expect: number, idleMs = 1500): Promise<string[]> {
  const acks: string[] = [];
  const framer = new MllpFramer(new FakeClock(), {
    emit: (e) => {
      if (e.type !== 'frame') return;
      const msa = parseHl7(e.payload).messages[0]?.segment('MSA');
      acks.push(`${msa?.raw(1) ?? ''}:${msa?.raw(2) ?? ''}`);
    },
  });
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  socket.on('data', (c: Buffer) => framer.consume(c));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  for (const c of chunks) {
    socket.write(c);
    if (chunks.length > 1) await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + idleMs;
  while (acks.length < expect && Date.now() < deadline) await sleep(10);
  socket.destroy();
  return acks;
}

test('corpus over MLLP: every message stored and acknowledged; resend deduplicated; reused id flagged', async (t) => {
  const rig = await startChannel();
  t.after(() => rig.close());
  const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
  t.after(() => client.close());
  let expected = 0;
  const seen = new Set<string>();
  for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.hl7'))) {
    for (const m of parseHl7(readFileSync(fixtures + f)).messages) {
      const reply = await client.send(m.raw);
      const header = ackHeaderOf(m);
      assert.ok(header);
      if (m.controlId === '') {
        assert.equal(reply.code, ackCodeFor(header, 'rejected'), `${f}: empty MSH-10 is rejected`);
        expected++;
      } else {
        // AL/AL (the IG samples): the client holds the CA and resolves with the AA that follows it.
        const both = applicationAckFollows(header, 'accepted');
        assert.equal(reply.code, both ? 'AA' : ackCodeFor(header, 'accepted'), `${f} ${m.controlId}`);
        assert.equal(reply.commit?.code, both ? 'CA' : undefined);
        assert.equal(reply.controlId, m.controlId);
        // hapi-OUL_R22.hl7 is a byte copy of one message of the hapi multi file: stored once.
        const identity = [header.sendingApplication, header.sendingFacility, m.controlId, m.raw.toString('hex')].join('|');
        if (!seen.has(identity)) expected++;
        seen.add(identity);
      }
    }
  }
  // The corpus reuses some control ids with other bytes (two OUL files with MSH-10 1932): stored and flagged.
  const first = await stored(rig.store);
  assert.equal(first.length, expected);
  assert.ok(first.some((r) => r.meta.controlIdReused === true));
  // Resend the same bytes: AA again, nothing new stored.
  const again = await client.send(oru('DUP-1'));
  const dup = await client.send(oru('DUP-1'));
  assert.equal(again.code, 'AA');
  assert.equal(dup.code, 'AA');
  assert.equal(dup.controlId, 'DUP-1');
  const changed = await client.send(oru('DUP-1', { value: '9.9' }));
  assert.equal(changed.code, 'AA');
  const after = await stored(rig.store);
  const dups = after.filter((r) => r.controlId === 'DUP-1');
  assert.equal(dups.length, 2, 'same bytes stored once, different bytes stored again');
  assert.equal(dups[1]?.meta.controlIdReused, true);
  assert.equal(dups[0]?.meta.protocol, 'hl7');
  // Another sender with the same MSH-10 is another message.
  assert.equal((await client.send(oru('DUP-1', { sender: 'OTHER' }))).code, 'AA');
  assert.equal((await stored(rig.store)).filter((r) => r.controlId === 'DUP-1').length, 3);
});

test('a frame in 1-byte chunks, pipelined frames in one write, junk between frames', async (t) => {
  const rig = await startChannel();
  t.after(() => rig.close());
  const one = mllpFrame(oru('SPLIT'));
  assert.deepEqual(await rawExchange(rig.port, [...one].map((b) => Buffer.from([b])), 1), ['AA:SPLIT']);
  const piped = Buffer.concat([mllpFrame(oru('P1')), Buffer.from('\r\n\x00noise'), mllpFrame(oru('P2')), mllpFrame(oru('P3'))]);
  assert.deepEqual(await rawExchange(rig.port, [piped], 3), ['AA:P1', 'AA:P2', 'AA:P3']);
  assert.deepEqual((await stored(rig.store)).map((r) => r.controlId), ['SPLIT', 'P1', 'P2', 'P3']);
});

test('missing end block: no ACK, nothing stored, the connection still works afterwards', async (t) => {
  const rig = await startChannel({ openFrameTimeoutMs: 200 });
  t.after(() => rig.close());
  const framing: string[] = [];
  rig.events.on('link', (e) => framing.push(e.kind));
  const partial = mllpFrame(oru('NOEND')).subarray(0, -2);
  const acks = await rawExchange(rig.port, [partial, Buffer.alloc(0)], 1, 600);
  assert.deepEqual(acks, []);
  assert.ok(framing.includes('mllp-timeout') || framing.includes('mllp-abandoned'));
  // Same connection: a partial frame, silence past the timeout, then a whole frame.
  const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
  t.after(() => client.close());
  client.write(partial);
  await sleep(400);
  const reply = await client.send(oru('AFTER'));
  assert.equal(reply.code, 'AA');
  assert.deepEqual((await stored(rig.store)).map((r) => r.controlId), ['AFTER']);
});

test('oversize frame: AR by its MSH-10, not stored; the next frame is fine', async (t) => {
  const rig = await startChannel({ maxFrameBytes: 4096 });
  t.after(() => rig.close());
  const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
  t.after(() => client.close());
  const big = oru('BIG', { obx: 200 });
  assert.ok(big.length > 4096);
  const reply = await client.send(big);
  assert.equal(reply.code, 'AR');
  assert.equal(reply.controlId, 'BIG');
  const err = parseHl7(reply.raw).messages[0]?.segment('ERR');
  assert.equal(err?.value(3, 1), '207');
  assert.equal((await client.send(oru('SMALL'))).code, 'AA');
  assert.deepEqual((await stored(rig.store)).map((r) => r.controlId), ['SMALL']);
});

test('50 concurrent connections, each with its own framer state', async (t) => {
  const rig = await startChannel();
  t.after(() => rig.close());
  const perConnection = 4;
  const results = await Promise.all(
    Array.from({ length: 50 }, async (_, c) => {
      const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
      const codes: string[] = [];
      for (let i = 0; i < perConnection; i++) {
        // Interleave partial writes so frames from many sockets are open at once.
        const frame = mllpFrame(oru(`C${c}-${i}`));
        client.write(frame.subarray(0, 17));
        await sleep(1);
        const r = await client.sendRaw(frame.subarray(17));
        codes.push(`${r.code}:${r.controlId}`);
      }
      await client.close();
      return codes;
    }),
  );
  results.forEach((codes, c) => assert.deepEqual(codes, Array.from({ length: perConnection }, (_, i) => `AA:C${c}-${i}`)));
  const ids = (await stored(rig.store)).map((r) => r.controlId);
  assert.equal(ids.length, 50 * perConnection);
  assert.equal(new Set(ids).size, ids.length);
});

test('mutual TLS: client certificate required; pinning refuses other certificates', async (t) => {
  const rigDir = await mkdtemp(join(tmpdir(), 'labedge-hl7-tls-'));
  const pki = await makePki(rigDir);
  const rig = await startChannel({
    tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey, caFile: pki.files.ca, pinnedFingerprints: [pki.fingerprint(pki.client)] },
  }, { dir: rigDir });
  const refused: string[] = [];
  rig.events.on('link', (e) => { if (e.kind === 'hl7-refused') refused.push(e.detail ?? ''); });
  t.after(async () => {
    await rig.close();
    await rm(rigDir, { recursive: true, force: true });
  });
  assert.equal(rig.channel.secure, true);
  const good = await MllpClient.connect({ host: '127.0.0.1', port: rig.port, tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem } });
  assert.equal((await good.send(oru('TLS-1'))).code, 'AA');
  await good.close();
  // No client certificate: the handshake fails (TLS 1.3 reports it on the first read).
  await assert.rejects(async () => {
    const c = await MllpClient.connect({ host: '127.0.0.1', port: rig.port, tls: { ca: pki.ca.certPem }, ackTimeoutMs: 2000 });
    await c.send(oru('TLS-2'));
  });
  // A valid certificate from the same CA that is not pinned for this instrument.
  await assert.rejects(async () => {
    const c = await MllpClient.connect({ host: '127.0.0.1', port: rig.port, tls: { ca: pki.ca.certPem, cert: pki.other.certPem, key: pki.other.keyPem }, ackTimeoutMs: 2000 });
    await c.send(oru('TLS-3'));
  });
  assert.deepEqual((await stored(rig.store)).map((r) => r.controlId), ['TLS-1']);
  assert.ok(refused.includes('not-pinned'));
});

test('plaintext needs an explicit opt-in and is visible', async (t) => {
  const rig = await startChannel();
  t.after(() => rig.close());
  assert.equal(rig.channel.secure, false);
  // Visible where an operator looks: a warning in the log and the listener's link status event.
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => lines.push(c.toString()));
  const links: string[] = [];
  rig.events.on('link', (e) => { if (e.kind === 'hl7-listening') links.push(e.detail ?? ''); });
  const visible = new Hl7Channel(
    { id: 'legacy-cable', protocol: 'hl7', encoding: 'auto', timeZone: 'UTC', transport: { type: 'mllp', host: '127.0.0.1', port: 0, allowPlaintext: true } },
    { store: rig.store, events: rig.events, logger: createLogger({ level: 'info', destination: sink }), onCommitted: () => {} },
  );
  await visible.start();
  await visible.stop();
  assert.match(links[0] ?? '', /^mllp-plaintext:\d+$/);
  const warning = lines.map((l) => JSON.parse(l) as { level?: number; msg?: string }).find((l) => /PLAINTEXT/.test(l.msg ?? ''));
  assert.ok(warning && (warning.level ?? 0) >= 40, 'a plaintext listener is logged as a warning');
  assert.throws(
    () => new Hl7Channel({ id: 'x', protocol: 'hl7', encoding: 'auto', timeZone: 'UTC', transport: { type: 'mllp', host: '127.0.0.1', port: 0 } }, { store: rig.store, events: rig.events, logger: silentLogger(), onCommitted: () => {} }),
    /TLS settings are required/,
  );
});

test('store cannot commit: AE with ERR 207, never AA', async (t) => {
  const rig = await startChannel();
  t.after(() => rig.close());
  const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
  t.after(() => client.close());
  assert.equal((await client.send(oru('OK-1'))).code, 'AA');
  // A real fault: the store is closed underneath the listener (as after a fatal disk error).
  await rig.store.close();
  const reply = await client.send(oru('FAIL-1'));
  assert.equal(reply.code, 'AE');
  assert.equal(parseHl7(reply.raw).messages[0]?.segment('ERR')?.value(3, 1), '207');
  const enhanced = await client.send(oru('FAIL-2').replace('|P|2.5.1', '|P|2.5.1|||AL|NE'));
  assert.equal(enhanced.code, 'CE');
});

test('fuzz: random byte streams never crash the listener and never get AA for an unstored message', async (t) => {
  const rig = await startChannel({ maxFrameBytes: 2048, openFrameTimeoutMs: 100 });
  t.after(() => rig.close());
  const pieces = fc.oneof(
    fc.constantFrom(Buffer.from([0x0b]), Buffer.from([0x1c]), Buffer.from([0x0d]), Buffer.from([0x1c, 0x0d])),
    fc.nat(999).map((n) => Buffer.from(oru(`FZ${n}`))),
    fc.nat(999).map((n) => mllpFrame(oru(`FF${n}`))),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    fc.nat(999).map((n) => Buffer.from(`MSH|^~\\&|A|B|C|D|2024||ORU^R01|FM${n}|P|2.5\r`)),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(pieces, { minLength: 1, maxLength: 12 }), async (parts) => {
      const acks = await rawExchange(rig.port, [Buffer.concat(parts)], 1_000, 250);
      const ids = new Set((await stored(rig.store)).map((r) => r.controlId));
      for (const a of acks) {
        const [code, id] = a.split(':');
        if (code === 'AA' || code === 'CA') assert.ok(ids.has(id ?? ''), `AA for ${id} that is not stored`);
      }
    }),
    { numRuns: 25 },
  );
  // Still alive and accepting.
  const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
  assert.equal((await client.send(oru('ALIVE'))).code, 'AA');
  await client.close();
});

test('duplicates are recognised after a restart, and forgotten after the dedupe window', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-dedupe-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const sendOnce = async (port: number, id: string): Promise<string> => {
    const c = await MllpClient.connect({ host: '127.0.0.1', port });
    const r = await c.send(oru(id));
    await c.close();
    return r.code;
  };
  let rig = await startChannel({}, { dir });
  assert.equal(await sendOnce(rig.port, 'R-1'), 'AA');
  await rig.close();
  rig = await startChannel({}, { dir, dedupeWindowMs: 60_000 });
  assert.equal(await sendOnce(rig.port, 'R-1'), 'AA', 'the resend after a restart is acknowledged');
  assert.equal((await stored(rig.store)).filter((r) => r.controlId === 'R-1').length, 1, 'and not stored twice');
  assert.equal(await rig.channel.prune(), 0, 'inside the window nothing is pruned');
  await rig.close();
  rig = await startChannel({}, { dir, dedupeWindowMs: -1 });
  t.after(() => rig.close());
  assert.equal(await rig.channel.prune(), 1);
  assert.equal(await sendOnce(rig.port, 'R-1'), 'AA');
  assert.equal((await stored(rig.store)).filter((r) => r.controlId === 'R-1').length, 2, 'after the window the same message is new');
});

test('MLLP release 2 over a socket: a commit block only after the durable commit, a NAK block when the store cannot commit', async (t) => {
  const rig = await startChannel({ release2: true });
  t.after(() => rig.close());
  const client = await MllpClient.connect({ host: '127.0.0.1', port: rig.port });
  t.after(() => client.close());
  assert.equal((await client.send(oru('R2-1'))).code, 'commit-ack');
  assert.deepEqual((await stored(rig.store)).map((r) => r.controlId), ['R2-1'], 'stored before the commit block');
  // A sender that also asks for an HL7 ACK gets the commit block, then the CA.
  const [block, ack] = await Promise.all([client.send(oru('R2-2').replace('|P|2.5.1', '|P|2.5.1|||AL|NE')), client.sendRaw(Buffer.alloc(0))]);
  assert.deepEqual([block.code, ack.code, ack.controlId], ['commit-ack', 'CA', 'R2-2']);
  await rig.store.close();
  assert.equal((await client.send(oru('R2-3'))).code, 'commit-nak');
});
