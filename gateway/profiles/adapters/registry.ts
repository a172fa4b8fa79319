/** Payload adapters by name, as profiles and stored messages (meta.adapter) refer to them. */
import type { PayloadAdapter } from '../../astm/foreign-payload.js';
import { miniVidas } from './mini-vidas.js';
import { spotchemEl } from './spotchem-el.js';

const ADAPTERS: ReadonlyMap<string, PayloadAdapter> = new Map([spotchemEl, miniVidas].map((a) => [a.name, a]));

export function findAdapter(name: string | undefined): PayloadAdapter | undefined {
  return name === undefined ? undefined : ADAPTERS.get(name);
}

export function adapterNames(): string[] {
  return [...ADAPTERS.keys()];
}
