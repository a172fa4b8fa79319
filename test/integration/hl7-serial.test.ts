/**
 * HL7 over a real serial line (a socat pty pair opened with the real serialport bindings):
 * unframed (messages split by blank line, next MSH or silence; ACKs unframed) and MLLP-framed.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SerialPort } from 'serialport';
import { openPtyPair } from '../../hardware/pty-pair.js';
import { silentLogger } from '../../gateway/core/logger.js';
import { Hl7Channel } from '../../gateway/daemon/hl7-channel.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { mllpFrame } from '../../gateway/hl7/mllp-framer.js';
import { parseHl7 } from '../../gateway/hl7/parser.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { oru, stored } from './hl7-kit.js';

for (const framing of ['none', 'mllp'] as const) {
  test(`serial line, framing ${framing}: messages stored, each acknowledged after its commit`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-serial-'));
    const line = await openPtyPair();
    const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
    const events = new EventEmitter<DaemonEvents>();
    const channel = new Hl7Channel(
      { id: 'serial-hl7', protocol: 'hl7', encoding: 'auto', timeZone: 'UTC', transport: { type: 'serial', framing, path: line.hostPath, baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, idleMs: 300 } },
      { store, events, logger: silentLogger(), onCommitted: () => {} },
    );
    const port = new SerialPort({ path: line.instrumentPath, baudRate: 115200, autoOpen: false });
    t.after(async () => {
      if (port.isOpen) await new Promise<void>((r) => port.close(() => r()));
      await channel.stop();
      await store.close();
      await line.close();
      await rm(dir, { recursive: true, force: true });
    });
    await channel.start();
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    await sleep(200); // the host side opens its end
    let received = Buffer.alloc(0);
    port.on('data', (c: Buffer) => (received = Buffer.concat([received, c])));
    const write = (b: Buffer | string) => new Promise<void>((r) => port.write(b, () => port.drain(() => r())));
    if (framing === 'none') {
      // Blank line between the first two, the third straight after, the fourth ends by silence.
      await write(`${oru('S1')}\r${oru('S2')}${oru('S3')}`);
      await write(oru('S4').replaceAll('\r', '\r\n'));
    } else {
      await write(Buffer.concat([Buffer.from('\r\n'), mllpFrame(oru('S1')), mllpFrame(oru('S2'))]));
      await write(Buffer.concat([mllpFrame(oru('S3')), mllpFrame(oru('S4'))]));
    }
    const until = Date.now() + 5000;
    const acks = (): string[] => {
      const bytes = Buffer.from(received.filter((b) => b !== 0x0b && b !== 0x1c));
      return parseHl7(bytes).messages.map((m) => `${m.segment('MSA')?.raw(1)}:${m.segment('MSA')?.raw(2)}`);
    };
    while (acks().length < 4 && Date.now() < until) await sleep(20);
    assert.deepEqual(acks(), ['AA:S1', 'AA:S2', 'AA:S3', 'AA:S4']);
    if (framing === 'none') assert.ok(!received.includes(0x0b), 'unframed line: unframed ACKs');
    else assert.equal(received[0], 0x0b);
    assert.deepEqual((await stored(store)).map((r) => r.controlId), ['S1', 'S2', 'S3', 'S4']);
  });
}
