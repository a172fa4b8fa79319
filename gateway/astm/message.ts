/**
 * Groups records into the E1394 hierarchy: H → P → O → R, with C (comment) records attached to
 * the record they follow and M/S records kept beside it. Lenient (research Q17): an O without a
 * P or an R without an O gets an implicit parent and a warning; sequence numbers are not checked
 * (real instruments reset `O|1` under each P and repeat `R|29`); a missing L is only a warning.
 */
import { DEFAULT_DELIMITERS, type Delimiters } from './delimiters.js';
import { parseRecords, type AstmRecord, type RecordWarning } from './records.js';

export interface AstmNode {
  /** Absent for an implicit node created for an orphan child. */
  readonly record?: AstmRecord;
  /** C records that followed this record. */
  readonly comments: AstmRecord[];
  /** M, S and unknown records that followed this record (or its comments). */
  readonly extras: AstmRecord[];
}

export interface ResultNode extends AstmNode {
  readonly record: AstmRecord;
}

export interface OrderNode extends AstmNode {
  readonly results: ResultNode[];
}

export interface PatientNode extends AstmNode {
  readonly orders: OrderNode[];
}

export interface QueryNode extends AstmNode {
  readonly record: AstmRecord;
}

export interface AstmMessage {
  /** 1-based message number within the text it came from. */
  readonly index: number;
  readonly delimiters: Delimiters;
  readonly header?: AstmRecord;
  /** Comments and extras that follow H before any P or Q. */
  readonly headerNode: AstmNode;
  readonly patients: PatientNode[];
  readonly queries: QueryNode[];
  readonly terminator?: AstmRecord;
  readonly records: readonly AstmRecord[];
  readonly warnings: RecordWarning[];
}

interface MutableNode {
  record?: AstmRecord;
  comments: AstmRecord[];
  extras: AstmRecord[];
}

// Built without object spread: this runs for every record, and spreads dominated parsing time.
function node<T extends object>(record: AstmRecord | undefined, extra: T): MutableNode & T {
  const n = Object.assign(extra, { comments: [] as AstmRecord[], extras: [] as AstmRecord[] }) as MutableNode & T;
  if (record !== undefined) n.record = record;
  return n;
}

/** Builds one message from its records (normally H … L). Never throws. */
export function buildMessage(records: readonly AstmRecord[], index = 1): AstmMessage {
  const warnings: RecordWarning[] = [];
  const headerNode: MutableNode = node(undefined, {});
  const patients: PatientNode[] = [];
  const queries: QueryNode[] = [];
  let header: AstmRecord | undefined;
  let terminator: AstmRecord | undefined;
  let patient: (MutableNode & PatientNode) | undefined;
  let order: (MutableNode & OrderNode) | undefined;
  let target: MutableNode = headerNode;

  const ensurePatient = (r: AstmRecord): MutableNode & PatientNode => {
    if (patient === undefined) {
      warnings.push({ record: r.index, message: `${r.type} record without a preceding P; implicit patient` });
      patient = node(undefined, { orders: [] as OrderNode[] });
      patients.push(patient);
    }
    return patient;
  };

  const sequence = new SequenceCheck(warnings);
  for (const r of records) {
    sequence.check(r);
    if (terminator !== undefined && r.type !== 'L') {
      warnings.push({ record: r.index, message: 'record after the L terminator' });
    }
    switch (r.type) {
      case 'H':
        if (header === undefined && r === records[0]) header = r;
        else warnings.push({ record: r.index, message: 'H record inside a message; ignored' });
        break;
      case 'P':
        patient = node(r, { orders: [] as OrderNode[] });
        patients.push(patient);
        order = undefined;
        target = patient;
        break;
      case 'O':
        order = node(r, { results: [] as ResultNode[] });
        ensurePatient(r).orders.push(order);
        target = order;
        break;
      case 'R': {
        if (order === undefined) {
          warnings.push({ record: r.index, message: 'R record without a preceding O; implicit order' });
          order = node(undefined, { results: [] as ResultNode[] });
          ensurePatient(r).orders.push(order);
        }
        const result = node(r, {}) as MutableNode & ResultNode;
        order.results.push(result);
        target = result;
        break;
      }
      case 'Q': {
        const query = node(r, {}) as MutableNode & QueryNode;
        queries.push(query);
        target = query;
        break;
      }
      case 'C':
        target.comments.push(r);
        break;
      case 'M':
      case 'S':
      case 'unknown':
        target.extras.push(r);
        break;
      case 'L':
        if (terminator === undefined) terminator = r;
        else warnings.push({ record: r.index, message: 'second L terminator' });
        break;
      default:
        r.type satisfies never;
    }
  }
  if (terminator !== undefined && terminator.field(2).trim() === '') {
    warnings.push({ record: terminator.index, position: 'L.2', message: 'terminator without a sequence number; accepted' });
  }
  const last = records[records.length - 1];
  if (last !== undefined && terminator === undefined) warnings.push({ record: last.index, message: 'message has no L terminator' });
  if (last !== undefined && header === undefined) warnings.push({ record: records[0]?.index ?? last.index, message: 'message has no H record' });
  return {
    index,
    delimiters: header?.delimiters ?? records[0]?.delimiters ?? DEFAULT_DELIMITERS,
    ...(header === undefined ? {} : { header }),
    headerNode,
    patients,
    queries,
    ...(terminator === undefined ? {} : { terminator }),
    records,
    warnings,
  };
}

/**
 * Splits records into messages: a message starts at every H and at the first record after an L
 * (records that trail a terminator without a new H form a headerless message of their own).
 */
export function groupMessages(records: readonly AstmRecord[]): AstmRecord[][] {
  const groups: AstmRecord[][] = [];
  let current: AstmRecord[] | undefined;
  let terminated = false;
  for (const r of records) {
    if (current === undefined || r.type === 'H' || (terminated && r.type !== 'L')) {
      current = [];
      groups.push(current);
      terminated = false;
    }
    current.push(r);
    if (r.type === 'L') terminated = true;
  }
  return groups;
}

/** Parses a text that may hold several H … L messages; parse warnings go to the message that holds the record. */
export function splitMessages(text: string): AstmMessage[] {
  const parsed = parseRecords(text);
  return groupMessages(parsed.records).map((group, i) => {
    const message = buildMessage(group, i + 1);
    const first = group[0]?.index ?? 0;
    const last = group[group.length - 1]?.index ?? 0;
    const own = parsed.warnings.filter((w) => w.record >= first && w.record <= last);
    message.warnings.unshift(...own);
    return message;
  });
}

/**
 * Sequence numbers (field 2) count 1, 2, 3… within their parent: P within the message, O within
 * its P, R within its O, C within the record it follows, Q within the message. Instruments get
 * this wrong (`R|29` twice, `O|1` after `O|3`, empty numbers): never a failure, one warning per
 * record type and message, naming the position only.
 */
class SequenceCheck {
  private readonly next = new Map<string, number>();
  private readonly warned = new Set<string>();

  constructor(private readonly warnings: RecordWarning[]) {}

  check(r: AstmRecord): void {
    switch (r.type) {
      case 'H':
      case 'L':
      case 'M':
      case 'S':
      case 'unknown':
        return;
      case 'P':
        this.next.delete('O');
        this.next.delete('R');
        break;
      case 'O':
        this.next.delete('R');
        break;
      default:
        break;
    }
    if (r.type !== 'C') this.next.delete('C');
    const expected = this.next.get(r.type) ?? 1;
    const seq = Number(r.field(2).trim());
    if (!Number.isInteger(seq) || seq !== expected) this.warn(r);
    this.next.set(r.type, (Number.isInteger(seq) && seq > 0 ? seq : expected) + 1);
  }

  private warn(r: AstmRecord): void {
    if (this.warned.has(r.type)) return;
    this.warned.add(r.type);
    this.warnings.push({ record: r.index, position: `${r.type}.2`, message: 'sequence number out of order or missing; accepted' });
  }
}
