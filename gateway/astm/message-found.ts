import { isValidDelimiter } from './delimiters.js';
import { splitMessages } from './message.js';

/**
 * Whether records text holds at least one ASTM message: an H record that defines a usable field
 * delimiter, followed by a P, Q or L record written with it. Random bytes or a binary often start a
 * line with `H`; that alone is no message, and converting it would print an empty Bundle as success.
 */
export function holdsAstmMessage(text: string): boolean {
  return splitMessages(text).some((m) => {
    if (m.header === undefined || !isValidDelimiter(m.header.text.charAt(1))) return false;
    return m.patients.length > 0 || m.queries.length > 0 || m.terminator !== undefined;
  });
}

/**
 * Records text cut before each H record, keeping every byte (each part is one message's raw
 * text, digested as such). A record starts a line, and there an H is always a header; text
 * before the first H (junk, or records without a header) stays with the first message.
 */
export function splitAtHeaders(text: string): string[] {
  const parts = text.split(/(?<=[\r\n])(?=H)/);
  if (parts.length > 1 && !parts[0]!.startsWith('H')) parts.splice(0, 2, parts[0]! + parts[1]!);
  return parts;
}
