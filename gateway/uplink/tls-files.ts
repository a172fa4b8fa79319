/**
 * The uplink's TLS material on disk: reading it, and noticing when renewal replaces it.
 *
 * Watching is on the folders (inotify through fs.watch), not the files, because renewal
 * usually writes a new file and renames it over the old one, which a watch on the old file
 * would miss. Events are debounced, since a certificate and its key are two writes.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { rootCertificates } from 'node:tls';
import { LabedgeError } from '../core/errors.js';
import type { TlsMaterial } from './transport.js';

export interface TlsFiles {
  /** Pinned server CA (PEM); may be empty when `trustSystemCas` is set. */
  caFile: string;
  certFile: string;
  keyFile: string;
  trustSystemCas?: boolean;
}

export async function readTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (file: string, what: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch (e) {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', `cannot read the uplink ${what} file ${file}`, { cause: e });
    }
  };
  const [ca, cert, key] = await Promise.all([files.caFile ? read(files.caFile, 'CA') : Promise.resolve(''), read(files.certFile, 'certificate'), read(files.keyFile, 'key')]);
  const pinned = ca.trim() === '' ? [] : splitPem(ca);
  if (pinned.length === 0 && !files.trustSystemCas) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.caFile holds no certificate (and trustSystemCas is off)');
  return { ca: files.trustSystemCas ? [...rootCertificates, ...pinned] : pinned, cert, key };
}

/** Each PEM certificate block of a bundle file. */
export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Calls `onChange` (debounced) when any of `paths` is written, replaced or removed. */
export function watchFiles(paths: readonly string[], onChange: () => void, debounceMs = 300): { close(): void } {
  const byDir = new Map<string, Set<string>>();
  for (const p of paths) {
    if (!p) continue;
    const names = byDir.get(dirname(p)) ?? new Set<string>();
    names.add(basename(p));
    byDir.set(dirname(p), names);
  }
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        // Some platforms omit the name: then any change in the folder counts.
        if (name === null || names.has(String(name))) fire();
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // A folder that cannot be watched: reload() (SIGHUP, `labedge renew`) still works.
    }
  }
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
