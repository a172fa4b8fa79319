import { readFile } from 'node:fs/promises';
import { parseCommandArgs, usageError } from './args.js';
import { LabedgeError } from '../core/errors.js';
import { readTranscript } from '../astm/transcript.js';
import { simulateAstmInstrument } from '../sim/astm-instrument.js';

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
  if (values.protocol !== 'astm') throw usageError('--protocol must be astm (HL7 comes later)');
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
