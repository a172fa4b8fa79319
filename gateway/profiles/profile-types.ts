/**
 * An instrument profile: everything labedge needs to know about one analyzer model's ASTM, so
 * that an instrument is configured by naming its profile (`"profile": "sysmex-xn"`) and, rarely,
 * overriding a field or two. Profiles are data, validated once at startup, then frozen.
 */
import type { FramingMode } from '../astm/astm-line.js';
import type { TextEncodingOption } from '../astm/text-decode.js';
import type { DecimalMark } from '../astm/values.js';

export interface CodeMapEntry {
  /** LOINC code added as a second coding. */
  readonly loinc?: string;
  /** Display text for the LOINC coding. */
  readonly display?: string;
  /** UCUM code for this test's values when the instrument sends no unit. */
  readonly unit?: string;
}

/** A record rewrite applied before mapping, for vendors that shift fields. */
export interface RecordFix {
  /** Record type letter, e.g. 'R'. */
  readonly record: string;
  /** Drop field `after + 1` when it is empty (Beckman DxH adds an empty field after R.5). */
  readonly dropEmptyFieldAfter: number;
}

export interface QueryProfile {
  /** Q.3 component holding the specimen id: 2 in LIS02-A2 (`patient^specimen`), 3 on Roche cobas. */
  readonly specimenComponent: number;
  /**
   * Reply layout. `lis02a2`: H, P, O per order (tests in O.5), L|1|N; nothing found: L|1|I.
   * `roche`: H with TSDWN^REPLY, P, O echoing Q.3 components 4–9 in O.4; nothing found: the O
   * without tests (cobas e411 Host Interface Manual p.51).
   */
  readonly reply: 'lis02a2' | 'roche';
  /** Answer within this time or not at all (the cobas cancels after 15 s; default 10000 ms). */
  readonly deadlineMs: number;
  /** Upstream search timeout (default 6000 ms), well under deadlineMs. */
  readonly lookupTimeoutMs: number;
}

export interface OrdersProfile {
  /**
   * `query` (default): the instrument asks per specimen (host query). `push`: the box downloads
   * new orders unasked (an instrument that keeps a worklist). `none`: no orders are sent.
   */
  readonly mode: 'query' | 'push' | 'none';
  /** push: FHIR search for new orders, e.g. `status=active&performer=Device/x` (default `status=active`). */
  readonly pushSearch: string;
  /** push: how often to look (default 30000 ms). */
  readonly pushIntervalMs: number;
}

export interface InstrumentProfile {
  readonly name: string;
  readonly description: string;
  readonly framing: FramingMode;
  /** Text bytes per frame the box sends (default 240: the E1381-95 247-byte frame). */
  readonly maxTextPerFrame: number;
  /** Largest frame accepted, overhead included (default 64000, LIS01-A2). */
  readonly maxFrameBytes: number;
  readonly encoding: TextEncodingOption;
  /** IANA zone of the instrument's clock; absent: the instrument's configured zone. */
  readonly timeZone?: string;
  /** raw framing: silence that ends a message without a terminator (default 10000 ms). */
  readonly rawIdleMs: number;
  /** Where the specimen id lives in O (default field 3, component 1). */
  readonly specimenId: { readonly field: number; readonly component: number };
  /** Which component of R.3/O.5 holds the local test code; absent: the default rule. */
  readonly testCode?: { readonly component: number; readonly split?: string };
  readonly decimalMark: DecimalMark;
  readonly recordFixes: readonly RecordFix[];
  /** Local test code → LOINC / display / UCUM unit. */
  readonly codes: Readonly<Record<string, CodeMapEntry>>;
  /** Unit as written → UCUM code. */
  readonly units: Readonly<Record<string, string>>;
  readonly query: QueryProfile;
  readonly orders: OrdersProfile;
  /** Name of the payload adapter for non-ASTM payloads (gateway/profiles/adapters). */
  readonly payloadAdapter?: string;
}

/** What a config may override per instrument: any top-level field, sub-objects merged. */
export type ProfileOverrides = Partial<Omit<InstrumentProfile, 'name' | 'description' | 'query' | 'orders' | 'specimenId' | 'testCode'>> & {
  query?: Partial<QueryProfile>;
  orders?: Partial<OrdersProfile>;
  specimenId?: { field: number; component: number };
  testCode?: { component: number; split?: string };
};
