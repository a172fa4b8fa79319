/**
 * A small UCUM syntax checker for OBX-6 units (no new dependency): terms of prefixed atoms with
 * exponents, joined by `.` and `/`, with annotations `{…}`, parentheses and `10*n` factors.
 *
 * Two levels:
 * - declared: the sender said the unit is UCUM (CWE.3 = `UCUM`); any UCUM atom and prefix is
 *   accepted, because UCUM is case-sensitive and the sender vouches for the spelling.
 * - undeclared: no coding system; only the atoms and prefixes common in laboratory results are
 *   accepted, so that `ML` (megalitre in UCUM, meant as mL), `S` (siemens, meant as seconds),
 *   `C`/`F` (coulomb/farad, meant as degrees) never become wrong UCUM codes.
 */
import { ucumCode } from '../astm-codes.js';

const METRIC_ATOMS = new Set([
  'm', 's', 'g', 'rad', 'K', 'C', 'cd', 'mol', 'sr', 'Hz', 'N', 'Pa', 'J', 'W', 'A', 'V', 'F', 'Ohm', 'S', 'Wb', 'Cel', 'T', 'H',
  'lm', 'lx', 'Bq', 'Gy', 'Sv', 'l', 'L', 'ar', 't', 'bar', 'u', 'eV', 'pc', 'Gal', 'dyn', 'erg', 'P', 'St', 'Mx', 'G', 'Oe',
  'Gb', 'sb', 'Lmb', 'ph', 'Ci', 'R', 'RAD', 'REM', 'cal', '[iU]', '[IU]', 'kat', 'U', 'eq', 'osm', 'B', 'Np', 'bit', 'By', 'Bd',
  'm[Hg]', 'm[H2O]', '[CFU]', '[PFU]', '[FFU]',
]);
const NON_METRIC_ATOMS = new Set([
  '10*', '10^', '[pi]', '%', '[ppth]', '[ppm]', '[ppb]', '[pptr]', 'gon', 'deg', 'min', 'h', 'd', 'a', 'wk', 'mo', 'a_t', 'a_j', 'mo_j',
  '[in_i]', '[ft_i]', '[lb_av]', '[oz_av]', '[degF]', '[pH]', "[arb'U]", "[USP'U]", "[GPL'U]", "[MPL'U]", "[APL'U]", "[beth'U]",
  "[anti'Xa'U]", "[todd'U]", "[dye'U]", "[smgy'U]", "[bdsk'U]", "[ka'U]", "[knk'U]", "[mclg'U]", "[tb'U]", '[CCID_50]', '[TCID_50]',
  '[EID_50]', '[BAU]', '[AU]', '[PNU]', '[Lf]', "[D'ag'U]", '[FEU]', '[ELU]', '[EU]', '[HPF]', '[LPF]', '[drp]', '[IR]', '[S]',
  '[MET]', '[Cal]', '[psi]', '[mi_i]', '[yd_i]', '[gal_us]', '[foz_us]', '[tsp_us]', '[tbs_us]', '[cup_us]', '[pt_us]', '[qt_us]',
]);
const PREFIXES = ['da', 'Ki', 'Mi', 'Gi', 'Ti', 'Y', 'Z', 'E', 'P', 'T', 'G', 'M', 'k', 'h', 'd', 'c', 'm', 'u', 'n', 'p', 'f', 'a', 'z', 'y'];

const LAB_ATOMS = new Set([
  'g', 'l', 'L', 'mol', 'eq', 'osm', 'U', '[iU]', '[IU]', 's', 'min', 'h', 'd', 'wk', 'mo', 'a', '%', 'Cel', 'm', 'm[Hg]', 'm[H2O]',
  'kat', '10*', '10^', '[pH]', '[ppm]', '[ppb]', '[ppth]', "[arb'U]", '[CFU]', '[PFU]', '[HPF]', '[LPF]', '[drp]', '[degF]', 'Pa', 'Gy', 'Bq',
]);
const LAB_PREFIXES = new Set(['k', 'd', 'c', 'm', 'u', 'n', 'p', 'f']);
/** Undeclared single atoms that read as something else in lab practice. */
const AMBIGUOUS_ALONE = new Set(['m', 'a', 'mo', 'Pa', 'Gy', 'Bq', 'kat', 'U']);

interface Rules {
  readonly atom: (a: string) => boolean;
  readonly metric: (a: string) => boolean;
  readonly prefix: (p: string) => boolean;
}

const DECLARED: Rules = {
  atom: (a) => METRIC_ATOMS.has(a) || NON_METRIC_ATOMS.has(a),
  metric: (a) => METRIC_ATOMS.has(a),
  prefix: (p) => PREFIXES.includes(p),
};
const LAB: Rules = {
  atom: (a) => LAB_ATOMS.has(a),
  metric: (a) => LAB_ATOMS.has(a) && METRIC_ATOMS.has(a),
  prefix: (p) => LAB_PREFIXES.has(p),
};

function simpleUnit(text: string, rules: Rules): boolean {
  if (rules.atom(text)) return true;
  for (const p of PREFIXES) {
    if (text.length > p.length && text.startsWith(p) && rules.prefix(p) && rules.metric(text.slice(p.length))) return true;
  }
  return false;
}

function component(text: string, rules: Rules, depth: number): boolean {
  let t = text;
  const annotation = /\{[^{}]*\}$/.exec(t);
  if (annotation !== null) {
    t = t.slice(0, annotation.index);
    if (t === '') return true;
  }
  if (/^\d+$/.test(t)) return true;
  if (t.startsWith('(') && t.endsWith(')')) return depth < 4 && term(t.slice(1, -1), rules, depth + 1);
  const m = /^(.*?)([+-]?\d+)?$/.exec(t);
  const unit = m?.[1] ?? '';
  if (unit === '') return false;
  if (simpleUnit(unit, rules)) return true;
  // An atom ending in digits (`10*`) is matched above; try the whole text once more without exponent split.
  return m?.[2] !== undefined && simpleUnit(t, rules);
}

function term(text: string, rules: Rules, depth: number): boolean {
  if (text === '') return false;
  let t = text;
  if (t.startsWith('/')) t = t.slice(1);
  const parts: string[] = [];
  let level = 0;
  let start = 0;
  for (let i = 0; i < t.length; i++) {
    const ch = t[i];
    if (ch === '(' || ch === '[' || ch === '{') level++;
    else if (ch === ')' || ch === ']' || ch === '}') level--;
    else if (level === 0 && (ch === '.' || ch === '/')) {
      parts.push(t.slice(start, i));
      start = i + 1;
    }
    if (level < 0) return false;
  }
  if (level !== 0) return false;
  parts.push(t.slice(start));
  return parts.every((p) => p !== '' && component(p, rules, depth));
}

/** True when `text` is a syntactically valid UCUM expression (declared: any atom; else lab atoms only). */
export function isUcum(text: string, declared: boolean): boolean {
  if (text === '' || /\s/.test(text) || text.length > 64) return false;
  if (!declared && AMBIGUOUS_ALONE.has(text)) return false;
  return term(text, declared ? DECLARED : LAB, 0);
}

/** Common non-UCUM spellings with one unambiguous UCUM code. */
const ALIASES: ReadonlyMap<string, string> = new Map([
  ['mmHg', 'mm[Hg]'], ['micromol/L', 'umol/L'], ['micromol/l', 'umol/L'], ['ppm', '[ppm]'], ['IU/mL', '[IU]/mL'], ['IU/ml', '[IU]/mL'],
  ['cells/uL', '{cells}/uL'], ['x10^9/L', '10*9/L'], ['x10^12/L', '10*12/L'], ['10^9/l', '10*9/L'], ['10^12/l', '10*12/L'],
]);

/** The UCUM code for a unit text: a known alias, else the text itself when it is valid UCUM. */
export function ucumFor(unit: string, declared: boolean): string | undefined {
  const t = unit.trim();
  const alias = ucumCode(t) ?? ALIASES.get(t);
  if (alias !== undefined) return alias;
  return isUcum(t, declared) ? t : undefined;
}
