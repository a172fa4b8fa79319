import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrowableBuffer } from './growable-buffer.js';
import { ByteQueue } from './byte-queue.js';

test('GrowableBuffer grows up to its limit and refuses past it', () => {
  const b = new GrowableBuffer(1000);
  for (let i = 0; i < 1000; i++) assert.equal(b.push(i & 0xff), true);
  assert.equal(b.push(1), false);
  assert.equal(b.append(Uint8Array.of(1)), false);
  assert.equal(b.length, 1000);
  b.truncate(10);
  assert.deepEqual([...b.view()], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(b.append(new Uint8Array(990)), true);
  assert.equal(b.append(Uint8Array.of(1)), false);
  const copy = b.copy();
  b.clear();
  assert.equal(copy.length, 1000);
  assert.equal(b.length, 0);
});

test('GrowableBuffer.equals compares contents', () => {
  const a = new GrowableBuffer(10);
  const b = new GrowableBuffer(20);
  a.append(Buffer.from('abc'));
  b.append(Buffer.from('abc'));
  assert.equal(a.equals(b), true);
  b.push(0x64);
  assert.equal(a.equals(b), false);
});

test('ByteQueue keeps copies, drops past the room it is given', () => {
  const q = new ByteQueue();
  const src = Uint8Array.of(1, 2, 3);
  assert.equal(q.push(src), 0);
  src[0] = 9;
  assert.equal(q.push(Uint8Array.of(4, 5, 6), 2), 1);
  assert.equal(q.push(Uint8Array.of(7), -5), 1);
  assert.equal(q.length, 5);
  const out: number[] = [];
  for (let b = q.shift(); b >= 0; b = q.shift()) out.push(b);
  assert.deepEqual(out, [1, 2, 3, 4, 5]);
  assert.equal(q.length, 0);
});
