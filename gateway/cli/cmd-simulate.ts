import { readFile } from 'node:fs/promises';
import { parseCommandArgs, usageError } from './args.js';
import { LabedgeError } from '../core/errors.js';
import { readTranscript } from '../astm/transcript.js';
import { simulateAstmInstrument } from '../sim/astm-instrument.js';
import { simulateHl7Instrument } from '../../hardware/mllp-simulate.js';
import { parseHl7 } from '../hl7/parser.js';

/** Acts as an instrument on a serial line, replaying a transcript of ASTM records. */
export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      port: { type: 'string' },
      tcp: { type: 'string' },
      file: { type: 'string' },
      baud: { type: 'string', default: '9600' },
      protocol: { type: 'string', default: 'astm' },
      'frame-size': { type: 'string', default: '240' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
    false,
  );
  if ((!values.port && !values.tcp) || !values.file) throw usageError('simulate needs --port PATH (or --tcp HOST:PORT) and --file TRANSCRIPT');
  let tcp: { host: string; port: number } | undefined;
  if (values.tcp) {
    const m = /^(.+):(\d{1,5})$/.exec(values.tcp);
    if (!m) throw usageError('--tcp must be HOST:PORT');
    tcp = { host: m[1]!, port: Number(m[2]) };
  }
  if (values.protocol === 'hl7') {
    if (!tcp) throw usageError('simulate --protocol hl7 needs --tcp HOST:PORT (MLLP)');
    return simulateHl7(tcp, values.file, values.tls ? { ca: values.ca, cert: values.cert, key: values.key } : undefined);
  }
  if (values.protocol !== 'astm') throw usageError('--protocol must be astm or hl7');
  const baudRate = Number(values.baud);
  if (!Number.isInteger(baudRate) || baudRate <= 0) throw usageError('--baud must be a positive integer');
  const frameSize = Number(values['frame-size']);
  if (!Number.isInteger(frameSize) || frameSize < 1) throw usageError('--frame-size must be a positive integer');
  let bytes: Buffer;
  try {
    bytes = await readFile(values.file);
  } catch {
    throw new LabedgeError('LABEDGE_ERR_USAGE', `cannot read ${values.file}`);
  }
  const messages = readTranscript(bytes);
  if (messages.length === 0) throw usageError(`${values.file} holds no records`);
  const result = await simulateAstmInstrument({
    settings: tcp ? { tcp, baudRate } : { path: values.port!, baudRate, dataBits: 8, parity: 'none', stopBits: 1 },
    messages,
    maxTextPerFrame: frameSize,
    onMessage: (i, ok, reason) => process.stdout.write(`message ${i + 1}/${messages.length}: ${ok ? 'acknowledged' : `not acknowledged (${reason})`}\n`),
  });
  process.stdout.write(`sent ${messages.length} messages: ${result.acknowledged} acknowledged, ${result.failed} failed\n`);
  return result.failed === 0 ? 0 : 1;
}

/** HL7 over MLLP (TCP, or TLS with --tls --ca FILE [--cert FILE --key FILE]): one message at a time, each waiting for its ACK. */
async function simulateHl7(tcp: { host: string; port: number }, file: string, tls: { ca?: string; cert?: string; key?: string } | undefined): Promise<number> {
  const read = async (f: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(f);
    } catch {
      throw new LabedgeError('LABEDGE_ERR_USAGE', `cannot read ${what} ${f}`);
    }
  };
  if (tls && !tls.ca) throw usageError('--tls needs --ca FILE (and --cert/--key for a client certificate)');
  if (tls && Boolean(tls.cert) !== Boolean(tls.key)) throw usageError('--cert and --key go together');
  const bytes = await read(file, 'message file');
  // Files with any terminator: messages go out CR-terminated, as MLLP peers expect.
  const messages = parseHl7(bytes).messages.map((m) => (m.raw.includes(0x0d) ? m.raw : Buffer.from(m.raw.toString('latin1').replaceAll('\n', '\r'), 'latin1')));
  if (messages.length === 0) throw usageError(`${file} holds no HL7 message`);
  const result = await simulateHl7Instrument({
    host: tcp.host,
    port: tcp.port,
    ...(tls?.ca ? { tls: { ca: await read(tls.ca, 'CA'), ...(tls.cert && tls.key ? { cert: await read(tls.cert, 'certificate'), key: await read(tls.key, 'key') } : {}) } } : {}),
    messages,
    onMessage: (i, code) => process.stdout.write(`message ${i + 1}/${messages.length}: ${code}\n`),
  });
  process.stdout.write(`sent ${messages.length} messages: ${result.acknowledged} acknowledged, ${result.failed} failed\n`);
  return result.failed === 0 ? 0 : 1;
}
