import { createHash, timingSafeEqual } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { LabedgeError } from '../core/errors.js';

/**
 * Operator credentials for commands that show or change patient data (`audit trace` with
 * payloads, `queue dlq show|replay|purge`). The config lists operators as
 * `operators: [{ name, tokenSha256 }]`: only the SHA-256 of each token is kept on the box.
 * The operator presents the token in a file (`--operator-token-file`, mode 0600, so it never
 * shows up in `ps` or shell history). The caller audits both successes and failures.
 */
export interface OperatorCredential {
  /** Who the operator is (a staff id or name; recorded in the audit trail). */
  name: string;
  /** Lowercase hex SHA-256 of the token. */
  tokenSha256: string;
}

export interface Operator {
  name: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const MAX_TOKEN_BYTES = 4096;
const MIN_TOKEN_CHARS = 16;

function authError(message: string, cause?: unknown): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_OPERATOR_AUTH', message, cause === undefined ? undefined : { cause });
}

/** Validates the config's `operators` list; returns the problems with their field paths (config.ts style). */
export function parseOperators(raw: unknown, field = 'operators'): { operators: OperatorCredential[]; issues: { field: string; message: string }[] } {
  const issues: { field: string; message: string }[] = [];
  if (raw === undefined) return { operators: [], issues };
  if (!Array.isArray(raw)) return { operators: [], issues: [{ field, message: 'must be an array of {name, tokenSha256}' }] };
  const operators: OperatorCredential[] = [];
  const names = new Set<string>();
  raw.forEach((item: unknown, i: number) => {
    const o = item as { name?: unknown; tokenSha256?: unknown } | null;
    if (typeof o !== 'object' || o === null) return issues.push({ field: `${field}[${i}]`, message: 'must be an object' });
    // A misspelt `tokenSHA256` must not read as an operator without a token.
    for (const key of Object.keys(o)) if (key !== 'name' && key !== 'tokenSha256') issues.push({ field: `${field}[${i}].${key}`, message: 'is not a known setting' });
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9._@-]{1,64}$/.test(o.name)) issues.push({ field: `${field}[${i}].name`, message: 'must be 1-64 characters of letters, digits, . _ @ -' });
    else if (names.has(o.name)) issues.push({ field: `${field}[${i}].name`, message: 'is used twice' });
    if (typeof o.tokenSha256 !== 'string' || !HEX64.test(o.tokenSha256.toLowerCase())) issues.push({ field: `${field}[${i}].tokenSha256`, message: 'must be 64 hex digits (sha256 of the token)' });
    if (typeof o.name === 'string' && typeof o.tokenSha256 === 'string') {
      names.add(o.name);
      operators.push({ name: o.name, tokenSha256: o.tokenSha256.toLowerCase() });
    }
    return undefined;
  });
  return { operators: issues.length ? [] : operators, issues };
}

/** The SHA-256 to put in the config for a token (`tokenSha256`). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Reads a token file: a regular file, not accessible to group or others, one line. */
export async function readTokenFile(file: string): Promise<string> {
  let info;
  try {
    info = await stat(file);
  } catch (e) {
    throw authError(`operator token file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
  }
  if (!info.isFile()) throw authError(`operator token file ${file} is not a regular file`);
  if ((info.mode & 0o077) !== 0) throw authError(`operator token file ${file} is accessible to group or others (chmod 600)`);
  if (info.size > MAX_TOKEN_BYTES) throw authError(`operator token file ${file} is too large`);
  const handle = await open(file, 'r');
  try {
    const token = (await handle.readFile('utf8')).trim();
    if (token.length < MIN_TOKEN_CHARS) throw authError(`operator token in ${file} is too short (at least ${MIN_TOKEN_CHARS} characters)`);
    return token;
  } finally {
    await handle.close();
  }
}

/**
 * Finds the operator whose token digest matches. Every configured digest is compared in
 * constant time, so the time taken says nothing about which one (if any) matched.
 */
export function matchOperator(token: string, operators: readonly OperatorCredential[]): Operator | undefined {
  const presented = Buffer.from(tokenDigest(token), 'hex');
  let found: Operator | undefined;
  for (const op of operators) {
    const expected = Buffer.from(op.tokenSha256.toLowerCase(), 'hex');
    if (expected.length === presented.length && timingSafeEqual(expected, presented) && !found) found = { name: op.name };
  }
  return found;
}

/** Reads the token file and authenticates it; LABEDGE_ERR_OPERATOR_AUTH when it does not match. */
export async function authenticateOperator(tokenFile: string, operators: readonly OperatorCredential[]): Promise<Operator> {
  if (operators.length === 0) throw authError('no operators are configured (config "operators": [{ name, tokenSha256 }])');
  const operator = matchOperator(await readTokenFile(tokenFile), operators);
  if (!operator) throw authError('the operator token does not match any configured operator');
  return operator;
}
