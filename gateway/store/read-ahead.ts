/**
 * How much of one source a read-ahead read (outboundHeads, outboundAfter) brings into memory:
 * `perSource` records, or fewer once their bundles' JSON reaches READ_AHEAD_CHARS, and always
 * at least one. Without the size bound, a source of large bundles (HL7 results that embed PDF
 * reports) would hold megabytes per record times the read-ahead count. The delivery worker's
 * reader applies the same rule to tell a read that was cut off from a source that ran out.
 */
export const READ_AHEAD_CHARS = 1024 * 1024;

export function readAheadFull(records: number, chars: number, perSource: number): boolean {
  return records >= perSource || chars >= READ_AHEAD_CHARS;
}
