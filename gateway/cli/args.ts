import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LabedgeError } from '../core/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with usage errors turned into exit code 2. */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new LabedgeError('LABEDGE_ERR_USAGE', (e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

export function usageError(message: string): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_USAGE', message);
}
