import { LabedgeError } from '../core/errors.js';

/**
 * A state change on an id that is not (or no longer) in the queue: nothing was committed.
 * There is no dedicated code yet; the message starts with "no queue record".
 */
export function notFound(id: string): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_STORE_NOT_FOUND', `no queue record ${id}`);
}
