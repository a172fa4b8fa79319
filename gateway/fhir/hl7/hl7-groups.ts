/**
 * Segments → the groups the mapping works on: patients, orders (ORC/OBR), specimens (SPM) and
 * results (OBX), each with the NTE segments that follow it. Tolerant of real-world order.
 *
 * - ORC and OBR belong to one order whichever comes first (ORU has ORC, OBR; some OUL senders put
 *   ORC after OBR). A second ORC or OBR, or either after results, opens the next order.
 * - SPM placement follows the message structure. ORU_R01, OML, ORM: SPM follows its order
 *   (`OBR, {OBX}, {SPM, {OBX}}`); OBX after an SPM are observations about that specimen.
 *   OUL_R22 (no IG message map; grouped by SPM as the issue asks): SPM leads (`SPM, {OBX},
 *   {OBR, ORC, {OBX}}`), and the orders after it are done on that specimen. An OUL SPM that no OBR
 *   follows (HAPI's sample lists the specimens after the results) is read the ORU way.
 * - NTE goes to the last OBX, SPM, OBR/ORC or PID before it; NTE after MSH is left unmapped.
 */
import type { Hl7Message, Hl7Segment } from '../../hl7/parser.js';

export interface SpecimenNode {
  readonly spm: Hl7Segment;
  readonly notes: Hl7Segment[];
  /** OBX that describe the specimen itself (OUL: directly after SPM, before any OBR). */
  readonly results: ResultNode[];
}

export interface ResultNode {
  readonly obx: Hl7Segment;
  readonly notes: Hl7Segment[];
  /** The specimen the OBX is about, when the structure says so. */
  readonly specimen?: SpecimenNode;
}

export interface OrderNode {
  orc?: Hl7Segment;
  obr?: Hl7Segment;
  readonly notes: Hl7Segment[];
  readonly results: ResultNode[];
  /** Specimens of this order (ORU: the SPM after it; OUL: the SPM it was done on). */
  readonly specimens: SpecimenNode[];
}

export interface PatientNode {
  pid?: Hl7Segment;
  readonly orders: OrderNode[];
  /** OBX outside any order (ADT, OUL patient observations). */
  readonly results: ResultNode[];
  /** Specimens outside any order. */
  readonly specimens: SpecimenNode[];
}

type NoteTarget = { notes: Hl7Segment[] } | undefined;

export function groupSegments(message: Hl7Message): PatientNode[] {
  const segments = message.segments;
  const leadingSpm = message.messageType.toUpperCase() === 'OUL';
  const patients: PatientNode[] = [];
  let patient: PatientNode = { orders: [], results: [], specimens: [] };
  patients.push(patient);
  let order: OrderNode | undefined;
  let specimen: SpecimenNode | undefined; // the SPM that OBX currently describe
  let leading: SpecimenNode | undefined; // OUL: the SPM new orders are done on
  let noteTarget: NoteTarget;

  const newOrder = (): OrderNode => {
    const o: OrderNode = { notes: [], results: [], specimens: leading === undefined ? [] : [leading] };
    patient.orders.push(o);
    specimen = undefined;
    return o;
  };

  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === undefined) continue;
    switch (seg.name) {
      case 'PID':
        if (patient.pid !== undefined || patient.orders.length > 0 || patient.results.length > 0) {
          patient = { orders: [], results: [], specimens: [] };
          patients.push(patient);
        }
        patient.pid = seg;
        order = undefined;
        specimen = undefined;
        leading = undefined;
        noteTarget = { notes: [] };
        break;
      case 'ORC':
        if (order === undefined || order.orc !== undefined || order.results.length > 0 || specimen !== undefined) order = newOrder();
        order.orc = seg;
        noteTarget = order;
        break;
      case 'OBR':
        if (order === undefined || order.obr !== undefined || order.results.length > 0 || specimen !== undefined) order = newOrder();
        order.obr = seg;
        noteTarget = order;
        break;
      case 'SPM': {
        const node: SpecimenNode = { spm: seg, notes: [], results: [] };
        if (leadingSpm && (obrFollows(segments, i) || order === undefined)) {
          leading = node;
          order = undefined;
          patient.specimens.push(node);
        } else if (order !== undefined) order.specimens.push(node);
        else patient.specimens.push(node);
        specimen = node;
        noteTarget = node;
        break;
      }
      case 'OBX': {
        const result: ResultNode = specimen === undefined ? { obx: seg, notes: [] } : { obx: seg, notes: [], specimen };
        if (order !== undefined) order.results.push(result);
        else if (specimen !== undefined) specimen.results.push(result);
        else patient.results.push(result);
        noteTarget = result;
        break;
      }
      case 'NTE':
        noteTarget?.notes.push(seg);
        break;
      default:
        break;
    }
  }
  return patients.filter((p) => p.pid !== undefined || p.orders.length > 0 || p.results.length > 0 || p.specimens.length > 0);
}

/** An OBR comes after this SPM before the next SPM or PID. */
function obrFollows(segments: readonly Hl7Segment[], at: number): boolean {
  for (let j = at + 1; j < segments.length; j++) {
    const name = segments[j]?.name;
    if (name === 'OBR' || name === 'ORC') return true;
    if (name === 'SPM' || name === 'PID') return false;
  }
  return false;
}

/** Every result of a patient, in message order of groups (patient, specimens, orders). */
export function allResults(p: PatientNode): ResultNode[] {
  return [...p.results, ...p.specimens.flatMap((s) => s.results), ...p.orders.flatMap((o) => o.results)];
}
