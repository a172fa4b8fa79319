/**
 * Identifier values instruments send when they have none: `0`, `000000`, `-`, `.`, `?`,
 * `unknown`, `N/A`. Taken as an identity, such a value would file every unidentified patient
 * (or specimen) of a source under one resource upstream, mixing different people's results.
 * So a placeholder counts as no identifier. The list is deliberately short: a real id is never
 * all zeros or punctuation, and only words that mean "none" are listed.
 */
const NONE_WORDS = new Set(['unknown', 'unk', 'n/a', 'na', 'none', 'null', 'nil', 'undefined', 'no id', 'noid']);

export function isPlaceholderId(value: string): boolean {
  const v = value.trim();
  if (v === '') return true;
  if (/^0+$/.test(v)) return true;
  if (/^[\p{P}\p{S}\s]+$/u.test(v)) return true;
  return NONE_WORDS.has(v.toLowerCase());
}
