/**
 * Profile name + per-instrument overrides → one frozen profile. Validation is pure and reports
 * every problem with its field path (config validate → plan → apply, STYLE §2.11).
 */
import { findProfile, GENERIC, profileNames } from './catalog.js';
import { adapterNames } from './adapters/registry.js';
import type { InstrumentProfile, ProfileOverrides } from './profile-types.js';

export interface ProfileIssue {
  field: string;
  message: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** Checks an `overrides` object from the config; returns the typed overrides and the problems found. */
export function parseProfileOverrides(raw: unknown, path: string): { overrides: ProfileOverrides; issues: ProfileIssue[] } {
  const issues: ProfileIssue[] = [];
  const fail = (field: string, message: string) => issues.push({ field: `${path}.${field}`, message });
  if (raw === undefined) return { overrides: {}, issues };
  if (!isObject(raw)) return { overrides: {}, issues: [{ field: path, message: 'must be an object' }] };
  const known = new Set(['framing', 'maxTextPerFrame', 'maxFrameBytes', 'encoding', 'timeZone', 'rawIdleMs', 'specimenId', 'testCode', 'decimalMark', 'recordFixes', 'codes', 'units', 'query', 'orders', 'payloadAdapter']);
  for (const key of Object.keys(raw)) if (!known.has(key)) fail(key, 'is not a profile field');
  const o = raw as ProfileOverrides & Json;
  if (o.framing !== undefined && !['e1381', 'raw', 'auto'].includes(String(o.framing))) fail('framing', 'must be e1381, raw or auto');
  if (o.maxTextPerFrame !== undefined && !isInt(o.maxTextPerFrame, 1, 63_993)) fail('maxTextPerFrame', 'must be an integer from 1 to 63993');
  if (o.maxFrameBytes !== undefined && !isInt(o.maxFrameBytes, 8, 16 * 1024 * 1024)) fail('maxFrameBytes', 'must be an integer of at least 8');
  if (o.encoding !== undefined && !['auto', 'utf-8', 'latin1'].includes(String(o.encoding))) fail('encoding', 'must be auto, utf-8 or latin1');
  if (o.timeZone !== undefined && (typeof o.timeZone !== 'string' || !validZone(o.timeZone))) fail('timeZone', 'is not a known IANA time zone');
  if (o.rawIdleMs !== undefined && !isInt(o.rawIdleMs, 1)) fail('rawIdleMs', 'must be a positive integer');
  if (o.decimalMark !== undefined && !['auto', 'point', 'comma'].includes(String(o.decimalMark))) fail('decimalMark', 'must be auto, point or comma');
  if (o.specimenId !== undefined && !(isObject(o.specimenId) && isInt(o.specimenId.field, 1) && isInt(o.specimenId.component, 1))) fail('specimenId', 'must be { field, component } with positive integers');
  if (o.testCode !== undefined && !(isObject(o.testCode) && isInt(o.testCode.component, 1) && (o.testCode.split === undefined || typeof o.testCode.split === 'string'))) fail('testCode', 'must be { component, split? }');
  if (o.recordFixes !== undefined && !(Array.isArray(o.recordFixes) && o.recordFixes.every((f: unknown) => isObject(f) && typeof f.record === 'string' && f.record.length === 1 && isInt(f.dropEmptyFieldAfter, 1)))) fail('recordFixes', 'must be a list of { record, dropEmptyFieldAfter }');
  for (const table of ['codes', 'units'] as const) {
    const t = o[table];
    if (t !== undefined && !isObject(t)) fail(table, 'must be an object');
  }
  if (isObject(o.codes)) {
    for (const [code, entry] of Object.entries(o.codes)) {
      if (!isObject(entry) || Object.values(entry).some((v) => typeof v !== 'string')) fail(`codes.${code}`, 'must be { loinc?, display?, unit? } strings');
    }
  }
  if (isObject(o.units) && Object.values(o.units).some((v) => typeof v !== 'string')) fail('units', 'values must be UCUM code strings');
  if (o.query !== undefined) {
    if (!isObject(o.query)) fail('query', 'must be an object');
    else {
      const q = o.query;
      if (q.specimenComponent !== undefined && !isInt(q.specimenComponent, 1)) fail('query.specimenComponent', 'must be a positive integer');
      if (q.reply !== undefined && !['lis02a2', 'roche'].includes(String(q.reply))) fail('query.reply', 'must be lis02a2 or roche');
      if (q.deadlineMs !== undefined && !isInt(q.deadlineMs, 100)) fail('query.deadlineMs', 'must be an integer of at least 100');
      if (q.lookupTimeoutMs !== undefined && !isInt(q.lookupTimeoutMs, 50)) fail('query.lookupTimeoutMs', 'must be an integer of at least 50');
    }
  }
  if (o.orders !== undefined) {
    if (!isObject(o.orders)) fail('orders', 'must be an object');
    else {
      if (o.orders.mode !== undefined && !['query', 'push', 'none'].includes(String(o.orders.mode))) fail('orders.mode', 'must be query, push or none');
      if (o.orders.pushSearch !== undefined && typeof o.orders.pushSearch !== 'string') fail('orders.pushSearch', 'must be a FHIR search string');
      if (o.orders.pushIntervalMs !== undefined && !isInt(o.orders.pushIntervalMs, 1000)) fail('orders.pushIntervalMs', 'must be an integer of at least 1000');
    }
  }
  if (o.payloadAdapter !== undefined && !adapterNames().includes(String(o.payloadAdapter))) fail('payloadAdapter', `must be one of ${adapterNames().join(', ')}`);
  return { overrides: issues.length === 0 ? (o as ProfileOverrides) : {}, issues };
}

/** Checks a profile name from the config. */
export function checkProfileName(name: unknown, path: string): ProfileIssue[] {
  if (name === undefined) return [];
  if (typeof name !== 'string' || findProfile(name) === undefined) return [{ field: path, message: `must be one of ${profileNames().join(', ')}` }];
  return [];
}

/** The named profile (default: generic) with overrides applied; sub-objects and tables are merged. */
export function resolveProfile(name: string | undefined, overrides: ProfileOverrides = {}): InstrumentProfile {
  const base = (name === undefined ? undefined : findProfile(name)) ?? GENERIC;
  const merged: InstrumentProfile = {
    ...base,
    ...overrides,
    name: base.name,
    description: base.description,
    specimenId: overrides.specimenId ?? base.specimenId,
    codes: { ...base.codes, ...overrides.codes },
    units: { ...base.units, ...overrides.units },
    query: { ...base.query, ...overrides.query },
    orders: { ...base.orders, ...overrides.orders },
  };
  return deepFreeze(merged);
}

function validZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
