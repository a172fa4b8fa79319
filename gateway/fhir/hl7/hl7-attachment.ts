/**
 * OBX-2 = ED (encapsulated data) and RP (reference pointer) → Attachment, carried in the R5
 * `Observation.value` cross-version extension (R4 Observation.value[x] has no Attachment; the
 * v2-to-FHIR IG maps both to that extension).
 *
 * ED: ED.2 type (table 0191) + ED.3 subtype (table 0291) → contentType; ED.4 encoding (Base64,
 * Hex, A = ASCII text) + ED.5 data → base64 `data`. The declared type is checked against the
 * data's magic bytes (PDF, JPEG, PNG, GIF, TIFF): senders are not always accurate, so the detected
 * type wins, with a warning. Data that is not valid for its encoding, or an ED whose data is not in
 * ED.5, is not mapped (dataAbsentReason `error` + warning): a corrupt document is never forwarded.
 * RP: RP.1 pointer → url, RP.3/RP.4 → contentType when recognised.
 */
import type { Attachment, Extension } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { fhirText } from '../astm-codes.js';
import type { Hl7Context } from './hl7-context.js';

export const OBSERVATION_VALUE_R5 = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value';

const SUBTYPES: ReadonlyMap<string, string> = new Map([
  ['PDF', 'application/pdf'], ['JPEG', 'image/jpeg'], ['JPG', 'image/jpeg'], ['PNG', 'image/png'], ['GIF', 'image/gif'],
  ['TIFF', 'image/tiff'], ['TIF', 'image/tiff'], ['HTML', 'text/html'], ['XML', 'application/xml'], ['RTF', 'application/rtf'],
  ['OCTET-STREAM', 'application/octet-stream'], ['DICOM', 'application/dicom'], ['POSTSCRIPT', 'application/postscript'],
  ['SGML', 'text/sgml'], ['BASIC', 'audio/basic'], ['FAX', 'image/g3fax'], ['PICT', 'image/x-pict'], ['PLAIN', 'text/plain'],
  ['TEXT', 'text/plain'], ['CDA', 'application/xml'], ['BMP', 'image/bmp'],
]);

/** Table 0191 type + table 0291 subtype → a MIME type, when recognisable. */
export function contentTypeOf(type: string, subtype: string): string | undefined {
  const sub = subtype.trim();
  if (/^[a-z]+\/[a-z0-9.+-]+$/i.test(sub)) return sub.toLowerCase();
  const known = SUBTYPES.get(sub.toUpperCase());
  if (known !== undefined) return known;
  switch (type.trim().toUpperCase()) {
    case 'TEXT':
    case 'FT': return 'text/plain';
    case 'AP':
    case 'APPLICATION': return sub === '' ? 'application/octet-stream' : undefined;
    default: return undefined;
  }
}

/** Content type from the first bytes, for the formats laboratories send. */
export function sniffContentType(bytes: Buffer): string | undefined {
  const starts = (...b: number[]): boolean => b.every((v, i) => bytes[i] === v);
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'application/pdf';
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'image/png';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'image/tiff';
  return undefined;
}

function decodeData(encoding: string, data: string): Buffer | undefined {
  switch (encoding.trim().toUpperCase()) {
    case 'BASE64': {
      const b64 = data.replace(/\s+/g, '');
      if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
      return Buffer.from(b64, 'base64');
    }
    case 'HEX': {
      const hex = data.replace(/\s+/g, '');
      if (hex.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(hex)) return undefined;
      return Buffer.from(hex, 'hex');
    }
    case 'A':
    case '':
      return Buffer.from(data, 'utf8');
    default:
      return undefined;
  }
}

export type AttachmentResult = { readonly extension: Extension } | { readonly error: true };

export function edAttachment(ctx: Hl7Context, obx: Hl7Segment, repetition: number): AttachmentResult | undefined {
  const c = (n: number): string => obx.value(5, n, 1, repetition);
  const position = 'OBX-5';
  const [type, subtype, encoding] = [fhirText(c(2)), fhirText(c(3)), fhirText(c(4))];
  const data = c(5);
  const declared = contentTypeOf(type, subtype);
  if (data.trim() === '') {
    // ED.1–4 are short codes; a long base64-like text there is the data in the wrong place.
    const stray = [1, 2, 3, 4].some((n) => /^[A-Za-z0-9+/=]{24,}$/.test(c(n).replace(/\s+/g, '')));
    if (stray) {
      ctx.warn(position, 'ED layout not recognised (data not in ED.5); not mapped');
      return { error: true };
    }
    if (type === '' && subtype === '') return undefined;
    const attachment: Attachment = { contentType: declared ?? 'application/octet-stream' };
    ctx.warn(position, 'ED without data');
    return { extension: { url: OBSERVATION_VALUE_R5, valueAttachment: attachment } };
  }
  const bytes = decodeData(encoding, data);
  if (bytes === undefined) {
    ctx.warn(position, 'ED data is not valid for its encoding; not mapped');
    return { error: true };
  }
  const sniffed = sniffContentType(bytes);
  let contentType = declared ?? sniffed ?? 'application/octet-stream';
  if (sniffed !== undefined && declared !== undefined && sniffed !== declared) {
    ctx.warn(position, 'declared content type does not match the data; the detected type is used');
    contentType = sniffed;
  }
  const attachment: Attachment = { contentType, data: bytes.toString('base64'), size: bytes.length };
  return { extension: { url: OBSERVATION_VALUE_R5, valueAttachment: attachment } };
}

export function rpAttachment(ctx: Hl7Context, obx: Hl7Segment, repetition: number): AttachmentResult | undefined {
  const c = (n: number): string => fhirText(obx.value(5, n, 1, repetition));
  const pointer = c(1);
  if (pointer === '') return undefined;
  const url = /\s/.test(pointer) ? encodeURI(pointer) : pointer;
  const attachment: Attachment = { url };
  const contentType = contentTypeOf(c(3), c(4));
  if (contentType !== undefined) attachment.contentType = contentType;
  else if (c(3) !== '' || c(4) !== '') ctx.warn('OBX-5', 'RP type of data not recognised; content type omitted');
  return { extension: { url: OBSERVATION_VALUE_R5, valueAttachment: attachment } };
}
