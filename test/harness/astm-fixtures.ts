/**
 * Loaders for the ASTM corpus in test/fixtures/astm (formats: that directory's README.md).
 * Files are read as raw bytes and handled as latin-1 text, so every byte maps to itself.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'astm');

const TOKENS: Record<string, number> = {
  STX: 0x02,
  ETX: 0x03,
  EOT: 0x04,
  ENQ: 0x05,
  ACK: 0x06,
  NAK: 0x15,
  ETB: 0x17,
  LF: 0x0a,
  CR: 0x0d,
  RS: 0x1e,
  GS: 0x1d,
  FS: 0x1c,
  VT: 0x0b,
};

const NAMES = new Map<number, string>(Object.entries(TOKENS).map(([name, byte]) => [byte, name]));

/** Exact token names only: a literal `<3.00` in a result value stays as it is. */
const TOKEN_RX = /<(STX|ETX|EOT|ENQ|ACK|NAK|ETB|LF|CR|RS|GS|FS|VT|0x[0-9A-Fa-f]{2})>/g;

export function fixturePath(name: string): string {
  return join(FIXTURE_DIR, name);
}

/** All fixture names with the given extension (e.g. `.frames`), sorted. */
export function listFixtures(extension: string): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((n) => n.endsWith(extension))
    .sort();
}

export function unescapeWire(text: string): Buffer {
  const latin1 = text.replace(TOKEN_RX, (_m, token: string) =>
    String.fromCharCode(token.startsWith('0x') ? parseInt(token.slice(2), 16) : (TOKENS[token] as number)),
  );
  return Buffer.from(latin1, 'latin1');
}

/** The inverse of unescapeWire, for readable assertion messages. */
export function escapeWire(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const name = NAMES.get(b);
    if (name) out += `<${name}>`;
    else if (b < 0x20 || b === 0x7f) out += `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    else out += String.fromCharCode(b);
  }
  return out;
}

function fileLines(name: string): string[] {
  const text = readFileSync(fixturePath(name)).toString('latin1');
  // The file's own line endings are layout, not data: only escaped tokens are bytes.
  return text.split('\n').filter((line) => line.length > 0);
}

/** A `.frames` file as the byte stream on the wire. */
export function loadFramesBytes(name: string): Buffer {
  return Buffer.concat(fileLines(name).map(unescapeWire));
}

/** A `.chunks` file: one buffer per recorded serial read. */
export function loadChunks(name: string): Buffer[] {
  return fileLines(name).map(unescapeWire);
}

/** A `.astm` file as message text: records joined by CR, the last CR included. */
export function loadRecordsText(name: string): Buffer {
  return Buffer.concat(fileLines(name).map((line) => Buffer.concat([unescapeWire(line), Buffer.of(0x0d)])));
}
