/**
 * HL7 v2 delimiters, read from MSH-1 (field separator) and MSH-2 (encoding characters, in order:
 * component, repetition, escape, subcomponent, truncation). Never assumed to be `|^~\&`.
 * An empty string means "this message has no such delimiter" (e.g. `MSH|^~&|`: no escape character).
 */
export interface Hl7Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  truncation?: string;
}

export const DEFAULT_DELIMITERS: Readonly<Hl7Delimiters> = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
});

function isDelimiterChar(c: string): boolean {
  const code = c.charCodeAt(0);
  // Printable, not a letter or digit, not a space (letters in MSH-2 mean MSH-2 is missing).
  return code > 0x20 && code < 0x7f && !/[A-Za-z0-9]/.test(c);
}

/**
 * Reads the delimiters from MSH-1 and the MSH-2 text. Returns warnings that name positions only.
 * Tolerated: 3 characters (`^~&`: no escape character when the third is not `\`), a doubled escape
 * character (`^~\\&`, seen in real files), a truncation character before v2.7 (ignored for parsing).
 */
export function readDelimiters(field: string, msh2: string): { delimiters: Hl7Delimiters; warnings: string[] } {
  const warnings: string[] = [];
  let chars = msh2;
  if (chars.length === 5 && chars[2] === chars[3] && chars[2] === '\\') {
    chars = chars.slice(0, 3) + chars[4];
    warnings.push('MSH-2: doubled escape character; read as 4 encoding characters');
  }
  if (chars.length < 1 || chars.length > 5 || ![...chars].every(isDelimiterChar)) {
    warnings.push('MSH-2: encoding characters missing or invalid; using ^~\\&');
    return { delimiters: { ...DEFAULT_DELIMITERS, field }, warnings };
  }
  const d: Hl7Delimiters = { field, component: chars[0] ?? '', repetition: chars[1] ?? '', escape: '', subcomponent: '' };
  if (chars.length === 3) {
    if (chars[2] === '\\') d.escape = '\\';
    else d.subcomponent = chars[2] ?? '';
    warnings.push('MSH-2: 3 encoding characters');
  } else if (chars.length >= 4) {
    d.escape = chars[2] ?? '';
    d.subcomponent = chars[3] ?? '';
    if (chars.length === 5) d.truncation = chars[4];
  } else {
    warnings.push(`MSH-2: ${chars.length} encoding characters`);
  }
  const used = [d.field, d.component, d.repetition, d.escape, d.subcomponent, d.truncation ?? ''].filter((c) => c !== '');
  if (new Set(used).size !== used.length) warnings.push('MSH-2: delimiters are not distinct');
  return { delimiters: d, warnings };
}

/** The MSH-2 text for a delimiter set (the inverse of readDelimiters, used by ACKs and the encoder). */
export function encodingCharacters(d: Hl7Delimiters): string {
  if (d.escape === '' && d.subcomponent !== '') return d.component + d.repetition + d.subcomponent;
  return d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
}
