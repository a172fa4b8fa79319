import { pino, destination, type Logger } from 'pino';
import { CENSOR, scrubError, scrubObject } from './scrub.js';

export type { Logger };

/**
 * The one logging facility. Fields that could carry PHI are censored at construction,
 * so a careless `log.info({ raw })` cannot leak. Callers log ids, codes and positions only.
 */
export const REDACT_PATHS = [
  'raw',
  'text',
  'payload',
  'body',
  'bundle',
  'record',
  'records',
  'patient',
  'value',
  '*.raw',
  '*.text',
  '*.payload',
  '*.body',
  '*.bundle',
  '*.patient',
  '*.value',
  'response',
  '*.response',
  '*.*.raw',
  '*.*.value',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream; name?: string } = {}): Logger {
  const level = options.level ?? process.env.LABEDGE_LOG_LEVEL ?? 'info';
  return pino(
    {
      name: options.name ?? 'labedge',
      level,
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      base: undefined,
      // Errors become code chains (never messages that may quote input); stacks only at debug.
      serializers: { err: (e: unknown) => (typeof e === 'string' ? e : scrubError(e, { stack: level === 'debug' || level === 'trace' })) },
      // Beyond the fixed paths: PHI-bearing keys at any depth, and buffers, are censored (scrub.ts).
      formatters: { log: (obj) => scrubObject(obj, { stack: level === 'debug' || level === 'trace' }) as Record<string, unknown> },
    },
    options.destination ?? destination({ fd: 2, sync: true }),
  );
}

/** A logger that discards everything, for pure code paths and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
