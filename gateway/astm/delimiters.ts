/**
 * E1394 delimiters. They are declared by each H record (characters 2–5: field, repeat, component,
 * escape) and never assumed: vendors use `|@^\` (GeneXpert), `` |`^& `` (Erba) and `|\!~` (Beckman).
 * An empty string means "this delimiter is disabled" (the header declared a clash or nothing usable).
 */
export interface Delimiters {
  readonly field: string;
  readonly repeat: string;
  readonly component: string;
  readonly escape: string;
}

export const DEFAULT_DELIMITERS: Delimiters = Object.freeze({ field: '|', repeat: '\\', component: '^', escape: '&' });

/** Delimiters must be printable punctuation: letters and digits would make escape sequences ambiguous. */
export function isValidDelimiter(ch: string | undefined): ch is string {
  if (ch === undefined || ch.length !== 1) return false;
  const code = ch.charCodeAt(0);
  return code > 0x20 && code < 0x7f && !/[A-Za-z0-9]/.test(ch);
}

export interface HeaderDelimiters {
  readonly delimiters: Delimiters;
  /** PHI-free problems found in H.2 (the delimiter definition). */
  readonly problems: string[];
}

/**
 * Reads the delimiters from an H record line (`H|\^&|…`).
 *
 * Interpretation rules (documented because real headers are mangled, research Q11):
 * - A header with nothing after the delimiters (`H|\^&`, LIS02-A2 figure 4) is normal.
 * - A doubled first character (`H|\\^&`, a logging artefact) is collapsed to `\^&` with a warning;
 *   read positionally it would make repeat == component, which splits every component as a repeat.
 * - Any other clash (repeat == component, escape == another delimiter) disables the later delimiter
 *   of the pair with a warning: components win over repeats, because components carry the test codes.
 * - A missing or invalid character takes the default when that does not clash, else stays disabled.
 */
export function parseHeaderDelimiters(line: string): HeaderDelimiters {
  const problems: string[] = [];
  const field = line.charAt(1);
  if (!isValidDelimiter(field)) {
    problems.push(line.length <= 1 ? 'no delimiter definition; defaults assumed' : 'invalid field delimiter; defaults assumed');
    return { delimiters: DEFAULT_DELIMITERS, problems };
  }
  const end = line.indexOf(field, 2);
  let def = line.slice(2, end < 0 ? line.length : end);
  if (def.length === 4 && def[0] === def[1] && new Set(def.slice(1)).size === 3) {
    problems.push('doubled delimiter character in the definition; collapsed');
    def = def.slice(1);
  } else if (def.length > 3) {
    problems.push('delimiter definition longer than 3 characters; extra characters ignored');
  }
  const used = new Set<string>([field]);
  const pick = (ch: string | undefined, fallback: string, name: string): string => {
    if (isValidDelimiter(ch) && !used.has(ch)) {
      used.add(ch);
      return ch;
    }
    if (ch !== undefined && isValidDelimiter(ch)) problems.push(`${name} delimiter repeats an earlier delimiter; ${name} delimiter disabled`);
    else problems.push(`${name} delimiter missing or invalid; ${used.has(fallback) ? 'disabled' : 'default assumed'}`);
    if (used.has(fallback)) return '';
    used.add(fallback);
    return fallback;
  };
  // Component is resolved before repeat so that, on a clash, components keep their delimiter.
  const rawRepeat = def[0];
  const rawComponent = def[1];
  let component: string;
  let repeat: string;
  if (rawRepeat !== undefined && rawRepeat === rawComponent && isValidDelimiter(rawRepeat) && rawRepeat !== field) {
    problems.push('repeat and component delimiters are the same; repeats are not split');
    component = pick(rawComponent, DEFAULT_DELIMITERS.component, 'component');
    repeat = '';
  } else {
    repeat = pick(rawRepeat, DEFAULT_DELIMITERS.repeat, 'repeat');
    component = pick(rawComponent, DEFAULT_DELIMITERS.component, 'component');
  }
  const escape = pick(def[2], DEFAULT_DELIMITERS.escape, 'escape');
  return { delimiters: Object.freeze({ field, repeat, component, escape }), problems };
}
