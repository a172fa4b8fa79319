import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canariesIn, canariesInDir } from './canary.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `labedge ARGS` from source, asynchronously (several can run at once). */
export function runLabedge(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`labedge ${args.join(' ')} timed out`));
    }, options.timeoutMs ?? 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Collects every place PHI must not reach (command output, logs, events, files) under a
 * name, then reports each canary found with where it was: one assertion for the lot.
 */
export class PhiWitness {
  private readonly places: Array<[string, string]> = [];
  private readonly dirs: string[] = [];

  add(place: string, text: string): void {
    this.places.push([place, text]);
  }

  addCli(place: string, r: CliResult): void {
    this.add(`${place} (stdout)`, r.stdout);
    this.add(`${place} (stderr)`, r.stderr);
  }

  addDir(dir: string): void {
    this.dirs.push(dir);
  }

  get count(): number {
    return this.places.length + this.dirs.length;
  }

  /** "place: canary" for every hit. */
  async leaks(): Promise<string[]> {
    const hits: string[] = [];
    for (const [place, text] of this.places) for (const c of canariesIn(text)) hits.push(`${place}: ${c}`);
    for (const dir of this.dirs) hits.push(...(await canariesInDir(dir)));
    return hits;
  }
}

/**
 * Runs a command function in this process, as main.ts would (exit code from its result or
 * its error, the one-line failure report on stderr), capturing its lines. For commands that
 * take a CommandIo; saves a process start per call in long suites.
 */
export async function runInProcess(command: (argv: string[], io: { out(l: string): void; err(l: string): void }) => Promise<number>, argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io = { out: (l: string) => void (stdout += `${l}\n`), err: (l: string) => void (stderr += `${l}\n`) };
  try {
    const code = await command(argv, io);
    return { code, stdout, stderr };
  } catch (e) {
    const { failureReport } = await import('../../gateway/core/crash-handlers.js');
    const { isLabedgeError } = await import('../../gateway/core/errors.js');
    stderr += failureReport(e, false);
    const usage = isLabedgeError(e) && (e.code === 'LABEDGE_ERR_USAGE' || e.code === 'LABEDGE_ERR_CONFIG');
    return { code: usage ? 2 : 1, stdout, stderr };
  }
}
