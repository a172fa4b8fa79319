/**
 * HL7 v2 device profiles: the per-model quirks the intake and the v2-to-FHIR mapping need, so an
 * HL7 instrument is configured by naming its model (`"profile": "urit-5160"`) and, rarely,
 * overriding a field (`"overrides": { "numericStrings": true }`). Same shape and precedence as the
 * ASTM profiles (instrument-profile.ts): overrides > the named profile > generic (all off).
 */
import type { Hl7DeviceProfile } from '../fhir/hl7/hl7-context.js';

export interface Hl7Profile extends Hl7DeviceProfile {
  /**
   * Segments end with CR only (§3 #1 strict mode): a message without a CR is rejected (AR/CR with
   * ERR 100) instead of being read with the LF/CRLF fallback. Default false (fallback, warned).
   */
  readonly crOnly?: boolean;
}

/** Named profiles. Only quirks seen in real captures (test/fixtures/hl7) are listed. */
export const HL7_PROFILES: Readonly<Record<string, Hl7Profile>> = Object.freeze({
  generic: {},
  // URIT-5160 sends OBX-6 `10^9/L` with an unescaped component separator.
  'urit-5160': { unitsAsText: true },
  // Radiometer ABL7xx sends numeric results as OBX-2 ST and `.....` when nothing was measured.
  'radiometer-abl': { numericStrings: true, placeholderReason: 'error' },
});

export interface Hl7InstrumentExtras {
  /** Profile name (HL7_PROFILES); default `generic`. */
  profile?: string;
  overrides?: Hl7Profile;
}

const BOOLEAN_FIELDS = ['unitsAsText', 'numericStrings', 'stableOrderIds', 'crOnly'] as const;
const PLACEHOLDER_REASONS = ['error', 'not-performed', 'unknown'] as const;

/** Reads and checks `profile` and `overrides` of one HL7 instrument entry; problems go to `fail`. */
export function parseHl7InstrumentExtras(item: Record<string, unknown>, path: string, fail: (field: string, message: string) => void): Hl7InstrumentExtras {
  const out: Hl7InstrumentExtras = {};
  if (item.profile !== undefined) {
    if (typeof item.profile !== 'string' || !Object.hasOwn(HL7_PROFILES, item.profile)) {
      fail(`${path}.profile`, `must be one of the HL7 profiles: ${Object.keys(HL7_PROFILES).join(', ')}`);
    } else out.profile = item.profile;
  }
  const o = item.overrides;
  if (o === undefined) return out;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    fail(`${path}.overrides`, 'must be an object');
    return out;
  }
  const raw = o as Record<string, unknown>;
  const overrides: { -readonly [K in keyof Hl7Profile]: Hl7Profile[K] } = {};
  let ok = true;
  for (const [key, value] of Object.entries(raw)) {
    if ((BOOLEAN_FIELDS as readonly string[]).includes(key)) {
      if (typeof value !== 'boolean') {
        fail(`${path}.overrides.${key}`, 'must be true or false');
        ok = false;
      } else overrides[key as (typeof BOOLEAN_FIELDS)[number]] = value;
    } else if (key === 'placeholderReason') {
      if (!(PLACEHOLDER_REASONS as readonly unknown[]).includes(value)) {
        fail(`${path}.overrides.placeholderReason`, `must be one of ${PLACEHOLDER_REASONS.join(', ')}`);
        ok = false;
      } else overrides.placeholderReason = value as (typeof PLACEHOLDER_REASONS)[number];
    } else {
      fail(`${path}.overrides.${key}`, `is not an HL7 profile field (${[...BOOLEAN_FIELDS, 'placeholderReason'].join(', ')})`);
      ok = false;
    }
  }
  if (ok) out.overrides = overrides;
  return out;
}

/** The profile an HL7 instrument runs with. */
export function hl7Profile(instrument: Hl7InstrumentExtras | undefined): Hl7Profile {
  const base = HL7_PROFILES[instrument?.profile ?? 'generic'] ?? {};
  return Object.freeze({ ...base, ...instrument?.overrides });
}
