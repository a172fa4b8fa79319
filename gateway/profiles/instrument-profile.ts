/**
 * The ASTM instrument's profile fields in the config (`profile`, `overrides`), and the effective
 * profile of a configured instrument. Precedence: `overrides` > the instrument's own `encoding`
 * and `timeZone` (when set) > the named profile > the generic profile.
 */
import type { TextEncodingOption } from '../astm/text-decode.js';
import type { InstrumentProfile, ProfileOverrides } from './profile-types.js';
import { checkProfileName, parseProfileOverrides, resolveProfile } from './resolve.js';

export interface AstmInstrumentExtras {
  /** Profile name (gateway/profiles/catalog.ts); default `generic`. */
  profile?: string;
  overrides?: ProfileOverrides;
}

/** Reads and checks `profile` and `overrides` of one instrument entry, reporting problems through `fail`. */
export function parseAstmInstrumentExtras(item: Record<string, unknown>, path: string, fail: (field: string, message: string) => void): AstmInstrumentExtras {
  const issues = checkProfileName(item.profile, `${path}.profile`);
  const parsed = parseProfileOverrides(item.overrides, `${path}.overrides`);
  for (const i of [...issues, ...parsed.issues]) fail(i.field, i.message);
  return {
    ...(typeof item.profile === 'string' && issues.length === 0 && { profile: item.profile }),
    ...(item.overrides !== undefined && parsed.issues.length === 0 && { overrides: parsed.overrides }),
  };
}

/** The profile an instrument runs with. */
export function instrumentProfile(instrument: AstmInstrumentExtras & { encoding?: TextEncodingOption; timeZone?: string }): InstrumentProfile {
  const base = resolveProfile(instrument.profile);
  const own: ProfileOverrides = {
    ...(instrument.encoding !== undefined && instrument.encoding !== 'auto' && { encoding: instrument.encoding }),
    ...(base.timeZone === undefined && instrument.timeZone !== undefined && { timeZone: instrument.timeZone }),
  };
  return resolveProfile(instrument.profile, { ...own, ...instrument.overrides });
}
