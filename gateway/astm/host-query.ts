/**
 * Host query (E1394 Q record) and the order download that answers it, as records. Pure.
 *
 * Reading (research Q13): Q.3 is the starting range id, `patient^specimen^…` in LIS02-A2
 * (`^032989325`), `^^sampleId^seqNo^rack^position^^sampleType^container` on Roche cobas
 * (`^^000004^40^0^5^^S1^SC`): the profile says which component is the specimen id. Several
 * specimens may come as repeats (Erba: `^0000000406\`00001001`); a repeat with a single
 * component is taken as an id on its own. Q.13 `A` cancels an earlier query (no reply is sent).
 *
 * Replying: `lis02a2` writes H, then per specimen found P and O (tests `^^^code` as repeats in
 * O.5), L|1|N; nothing found: H and `L|1|I` (no information). `roche` writes the layout of the
 * cobas e411 Host Interface Manual (TSDWN^REPLY in H.11; O.3 the specimen id; O.4 the query's
 * components 4–9 echoed unchanged; O.12 `A`; O.26 `O`); nothing found: the O without tests.
 */
import { DEFAULT_DELIMITERS, type Delimiters } from './delimiters.js';
import { encodeEscapes } from './escape.js';
import { splitMessages } from './message.js';
import type { AstmRecord } from './records.js';

export interface HostQuery {
  /** Record number of the Q in its message (for PHI-free diagnostics). */
  readonly record: number;
  /** Specimen ids asked about, in order, without duplicates. */
  readonly specimenIds: string[];
  /** Q.3 first repeat, components as received (decoded): echoed in the roche reply. */
  readonly range: string[];
  /** Q.13 status; `A` = cancel. */
  readonly status: string;
  readonly cancel: boolean;
}

export interface QueryMessage {
  readonly delimiters: Delimiters;
  /** H.5 component 1: the instrument's name, used as the receiver (H.10) of the reply. */
  readonly instrumentName: string;
  readonly queries: HostQuery[];
}

export interface QueryReadOptions {
  /** Q.3 component that holds the specimen id (2 in LIS02-A2, 3 on Roche). */
  specimenComponent: number;
}

/** All Q records of a message text (possibly several messages), grouped per message. */
export function readHostQueries(text: string, options: QueryReadOptions): QueryMessage[] {
  const out: QueryMessage[] = [];
  for (const message of splitMessages(text)) {
    if (message.queries.length === 0) continue;
    out.push({
      delimiters: message.delimiters,
      instrumentName: message.header?.component(5, 1).trim() ?? '',
      queries: message.queries.map((q) => readQuery(q.record, options)),
    });
  }
  return out;
}

function readQuery(q: AstmRecord, options: QueryReadOptions): HostQuery {
  const ids: string[] = [];
  const repeats = q.repeats(3).length;
  for (let r = 1; r <= repeats; r++) {
    const components = q.components(3, r);
    const id = (components.length === 1 ? components[0] : components[options.specimenComponent - 1])?.trim() ?? '';
    if (id !== '' && !ids.includes(id) && id.toUpperCase() !== 'ALL') ids.push(id);
  }
  const status = q.field(13).trim().toUpperCase();
  return { record: q.index, specimenIds: ids, range: q.components(3, 1), status, cancel: status === 'A' };
}

export interface OrderTest {
  readonly code: string;
  /** Roche dilution (O.5 component 5); usually empty. */
  readonly dilution?: string;
}

/** One specimen's orders as the host knows them. */
export interface HostOrder {
  readonly specimenId: string;
  readonly tests: readonly OrderTest[];
  readonly patient?: {
    readonly id?: string;
    readonly family?: string;
    readonly given?: string;
    /** YYYYMMDD */
    readonly birthDate?: string;
    /** M, F, U */
    readonly sex?: string;
  };
  /** S stat, A asap, R routine. */
  readonly priority?: string;
  /** YYYYMMDDHHMMSS */
  readonly collected?: string;
  readonly specimenType?: string;
}

export interface ReplyOptions {
  style: 'lis02a2' | 'roche';
  /** H.5 of the reply: the host's name. */
  hostName: string;
  /** H.14 (YYYYMMDDHHMMSS); omitted by the roche style, whose manual example has none. */
  timestamp: string;
  /** roche: O.16 specimen descriptor (default `1`, as in the manual's example). */
  rocheSpecimenDescriptor?: string;
}

/** Writes records in the instrument's own delimiters (a reply in `|\!~` to a DxH), escaping every value. */
class Writer {
  readonly d: Delimiters;
  constructor(d: Delimiters) {
    this.d = d.field && d.repeat && d.component && d.escape ? d : DEFAULT_DELIMITERS;
  }
  esc(s: string): string {
    return encodeEscapes(s, this.d);
  }
  comps(...parts: string[]): string {
    return parts.join(this.d.component);
  }
  reps(parts: readonly string[]): string {
    return parts.join(this.d.repeat);
  }
  get definition(): string {
    return this.d.repeat + this.d.component + this.d.escape;
  }
  /** Fields 2.. of a record, trailing empty fields dropped. */
  rec(type: string, fields: readonly string[]): string {
    const f = [...fields];
    while (f.length > 0 && f[f.length - 1] === '') f.pop();
    return [type, ...f].join(this.d.field);
  }
}

/** Records that answer one query (one session as the sender). Orders for specimens not asked about are ignored. */
export function buildQueryReply(query: HostQuery, message: QueryMessage, orders: readonly HostOrder[], options: ReplyOptions): string[] {
  const found = query.specimenIds.flatMap((id) => orders.filter((o) => o.specimenId === id));
  const w = new Writer(message.delimiters);
  return options.style === 'roche' ? rocheReply(w, query, message, found, options) : lis02a2Reply(w, message, found, options);
}

function lis02a2Reply(w: Writer, message: QueryMessage, orders: readonly HostOrder[], options: ReplyOptions): string[] {
  const header = w.rec('H', [w.definition, '', '', w.esc(options.hostName), '', '', '', '', w.esc(message.instrumentName), '', 'P', 'LIS2-A2', options.timestamp]);
  const withTests = orders.filter((o) => o.tests.length > 0);
  if (withTests.length === 0) return [header, w.rec('L', ['1', 'I'])];
  const records = [header];
  withTests.forEach((o, i) => {
    const p = o.patient;
    const name = p?.given ? w.comps(w.esc(p.family ?? ''), w.esc(p.given)) : w.esc(p?.family ?? '');
    records.push(w.rec('P', [String(i + 1), '', w.esc(p?.id ?? ''), '', name, '', p?.birthDate ?? '', p?.sex ?? '']));
    const tests = w.reps(o.tests.map((t) => w.comps('', '', '', w.esc(t.code))));
    records.push(w.rec('O', ['1', w.esc(o.specimenId), '', tests, o.priority ?? 'R', '', o.collected ?? '', '', '', '', 'N', '', '', '', w.esc(o.specimenType ?? ''), '', '', '', '', '', '', '', '', '', 'O']));
  });
  records.push(w.rec('L', ['1', 'N']));
  return records;
}

function rocheReply(w: Writer, query: HostQuery, message: QueryMessage, orders: readonly HostOrder[], options: ReplyOptions): string[] {
  const header = w.rec('H', [w.definition, '', '', w.comps(w.esc(options.hostName), '1'), '', '', '', '', w.esc(message.instrumentName), w.comps('TSDWN', 'REPLY'), 'P', '1']);
  // The instrument's own id and carrier position, echoed as received (research Q13).
  const specimen = query.range[2] ?? query.specimenIds[0] ?? '';
  const echo = w.comps(...query.range.slice(3, 9).map((c) => w.esc(c)));
  const tests = [...new Set(orders.flatMap((o) => o.tests).map((t) => w.comps('', '', '', w.esc(t.code), w.esc(t.dilution ?? ''))))];
  const priority = orders.find((o) => o.priority !== undefined)?.priority ?? 'R';
  const order = w.rec('O', ['1', w.esc(specimen.trim()), echo, w.reps(tests), priority, '', '', '', '', '', 'A', '', '', '', options.rocheSpecimenDescriptor ?? '1', '', '', '', '', '', '', '', '', '', 'O']);
  return [header, w.rec('P', ['1']), order, w.rec('L', ['1', 'N'])];
}

/**
 * An unsolicited order download (push mode, for instruments that keep a worklist): one LIS02-A2
 * message with a P and an O per specimen, in the default delimiters. Empty when no order has tests.
 */
export function buildOrderDownload(orders: readonly HostOrder[], options: { hostName: string; instrumentName: string; timestamp: string }): string[] {
  const message: QueryMessage = { delimiters: DEFAULT_DELIMITERS, instrumentName: options.instrumentName, queries: [] };
  const records = lis02a2Reply(new Writer(DEFAULT_DELIMITERS), message, orders, { style: 'lis02a2', hostName: options.hostName, timestamp: options.timestamp });
  return records.length > 2 ? records : [];
}
