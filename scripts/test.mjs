#!/usr/bin/env node
// Runs every *.test.ts under the source folders with Node's test runner.
// Node 20's runner does not expand globs itself, so the files are listed here.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['gateway', 'hardware', 'provisioning', 'test'];
const only = process.argv.slice(2);
const files = [];
for (const root of roots) {
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const dir = entry.parentPath ?? entry.path;
    if (entry.isFile() && entry.name.endsWith('.test.ts')) files.push(join(dir, entry.name));
  }
}
files.sort();
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...selected];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
