/**
 * Reading ASTM record transcripts (files of E1394 records, one per line, as kept in
 * test/fixtures/astm and as lab staff save them): CR, LF or CRLF separated; control
 * bytes inside records may be written as `<RS>`, `<GS>`, `<0x1F>` (exact names only,
 * so a value such as `<3.00` stays literal). Lines starting with `#` are comments.
 */
const TOKENS: Record<string, number> = {
  STX: 0x02, ETX: 0x03, EOT: 0x04, ENQ: 0x05, ACK: 0x06, NAK: 0x15, ETB: 0x17,
  LF: 0x0a, CR: 0x0d, RS: 0x1e, GS: 0x1d, FS: 0x1c, VT: 0x0b,
};
const TOKEN_RE = /<(STX|ETX|EOT|ENQ|ACK|NAK|ETB|LF|CR|RS|GS|FS|VT|0x[0-9A-Fa-f]{2})>/g;

/** Replaces the escape tokens of a transcript line by the bytes they stand for (latin1 in, latin1 out). */
export function unescapeTokens(line: string): string {
  return line.replace(TOKEN_RE, (_, name: string) => String.fromCharCode(name.startsWith('0x') ? parseInt(name.slice(2), 16) : (TOKENS[name] ?? 0)));
}

/**
 * Splits a transcript into messages, each a list of records (latin1 strings, so bytes
 * survive unchanged). A message starts at an H record; records before the first H form
 * a message of their own so nothing is silently dropped.
 */
export function readTranscript(bytes: Uint8Array): string[][] {
  const text = Buffer.from(bytes).toString('latin1');
  const messages: string[][] = [];
  let current: string[] = [];
  for (const rawLine of text.split(/\r\n|\r|\n/)) {
    if (rawLine.length === 0 || rawLine.startsWith('#')) continue;
    const record = unescapeTokens(rawLine);
    if (record.startsWith('H') && current.length > 0) {
      messages.push(current);
      current = [];
    }
    current.push(record);
  }
  if (current.length > 0) messages.push(current);
  return messages;
}

/** Counts R (result) records in a transcript: what a replay should deliver as Observations. */
export function countResultRecords(messages: string[][]): number {
  return messages.reduce((n, records) => n + records.filter((r) => /^R(?![A-Za-z0-9])/.test(r)).length, 0);
}

/**
 * An escaped wire capture (`<STX>1H|…<CR><ETX>A3<CR><LF>`, one token per line, as in the
 * corpus `.frames` files) back to the bytes on the wire: the file's own line breaks are
 * layout, only the tokens are data.
 */
export function unescapeWireCapture(text: string): Buffer {
  return Buffer.from(unescapeTokens(text.replace(/\r?\n/g, '')), 'latin1');
}

/** True for text that spells framing as tokens rather than carrying the control bytes. */
export function isEscapedWireCapture(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes);
  return !b.includes(0x02) && (b.includes('<STX>') || b.includes('<ENQ>'));
}
