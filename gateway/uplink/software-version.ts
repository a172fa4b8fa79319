import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * labedge's version from its package.json (found by walking up from this module, so it works
 * from the sources and from dist/); "0.0.0-unknown" when it cannot be read.
 */
export function softwareVersion(): string {
  if (cached !== undefined) return cached;
  cached = '0.0.0-unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'labedge' && typeof pkg.version === 'string') {
        cached = pkg.version;
        break;
      }
    } catch {
      // not here: look one folder up
    }
    dir = dirname(dir);
  }
  return cached;
}
