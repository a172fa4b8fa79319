import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Unusual strings planted as PHI in test/fixtures/canary; they must never leak. */
export const CANARIES = ['Zzcanaryfam', 'Quentessa', 'CANARY-PID-93817', 'CANLAB-44120', '19230817', 'CANSPEC-55121', 'CANARYNOTE-77'];

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
    for (const c of CANARIES) if (bytes.includes(Buffer.from(c, 'latin1'))) hits.push(`${path}: ${c}`);
  }
  return hits;
}
