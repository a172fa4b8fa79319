import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkLoop } from './work-loop.js';

test('a step that fails is tried again by itself, with backoff, until it succeeds; no wake needed', async () => {
  let calls = 0;
  const errors: unknown[] = [];
  const at: number[] = [];
  const t0 = Date.now();
  const loop = new WorkLoop(
    async () => {
      calls += 1;
      at.push(Date.now() - t0);
      if (calls <= 3) throw new Error('transient');
      return false;
    },
    (e) => errors.push(e),
    { retryBaseMs: 20, retryMaxMs: 1000 },
  );
  loop.wake();
  await sleep(400);
  assert.equal(errors.length, 3);
  assert.equal(calls, 4, 'the fourth try succeeded, and nothing ran after it');
  // 20, 40, 80 ms apart (at least).
  assert.ok((at[1] ?? 0) - (at[0] ?? 0) >= 15 && (at[3] ?? 0) - (at[2] ?? 0) >= 70, JSON.stringify(at));
  await loop.stop();
});

test('stop() cancels a pending retry', async () => {
  let calls = 0;
  const loop = new WorkLoop(
    async () => {
      calls += 1;
      throw new Error('always');
    },
    () => undefined,
    { retryBaseMs: 30 },
  );
  loop.wake();
  await sleep(5);
  await loop.stop();
  await sleep(80);
  assert.equal(calls, 1);
});
