import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A virtual null-modem cable: two pseudo-terminals joined by socat. One end is the
 * instrument, the other the box. Used by the demo and the test harness; the real
 * serialport bindings open both ends exactly as they would a USB-serial adapter.
 */
export interface PtyPair {
  /** The instrument's end. */
  readonly instrumentPath: string;
  /** The box's end. */
  readonly hostPath: string;
  close(): Promise<void>;
}

export class SocatMissingError extends Error {
  constructor() {
    super('socat is not installed (apt-get install socat)');
    this.name = 'SocatMissingError';
  }
}

export async function socatAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('socat', ['-V'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('exit', (code) => resolve(code === 0));
  });
}

export async function openPtyPair(options: { timeoutMs?: number; dir?: string } = {}): Promise<PtyPair> {
  // A given folder lets a test re-create a line at the same path, as a re-plugged adapter would.
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'labedge-pty-')));
  const ownDir = options.dir === undefined;
  const instrumentPath = join(dir, 'instrument');
  const hostPath = join(dir, 'host');
  const child: ChildProcess = spawn(
    'socat',
    [`pty,raw,echo=0,link=${instrumentPath}`, `pty,raw,echo=0,link=${hostPath}`],
    { stdio: 'ignore' },
  );
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new SocatMissingError() : e));
    child.once('exit', (code) => reject(new Error(`socat exited with code ${code ?? 'null'}`)));
  });
  failed.catch(() => undefined);
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const ready = (async () => {
    for (;;) {
      const both = await Promise.all([access(instrumentPath), access(hostPath)]).then(() => true, () => false);
      if (both) return;
      if (Date.now() > deadline) throw new Error('socat did not create the pty pair in time');
      await sleep(10);
    }
  })();
  try {
    await Promise.race([ready, failed]);
  } catch (e) {
    child.kill('SIGKILL');
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    instrumentPath,
    hostPath,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
      else await Promise.all([rm(instrumentPath, { force: true }), rm(hostPath, { force: true })]);
    },
  };
}
