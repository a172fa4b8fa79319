import { LabedgeError } from '../core/errors.js';
import { FRAME_OVERHEAD_BYTES } from './control-bytes.js';

/** Constructor checks for link options: reject bad values at once, saying what is allowed. */
export function checkPositive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `${name} must be a positive number`);
  }
  return value;
}

export function checkCount(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `${name} must be an integer of at least ${min}`);
  }
  return value;
}

/** A frame limit must leave room for at least one text byte after the 7 overhead bytes. */
export function checkFrameLimit(name: string, value: number): number {
  return checkCount(name, value, FRAME_OVERHEAD_BYTES + 1);
}
