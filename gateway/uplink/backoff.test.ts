import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_BACKOFF, backoffDelay, parseRetryAfter } from './backoff.js';
import { isLabedgeError } from '../core/errors.js';

const opts = fc.record({ baseMs: fc.integer({ min: 0, max: 60_000 }), capMs: fc.integer({ min: 0, max: 3_600_000 }) });
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

test('the delay is a whole number within [0, min(cap, base * 2^attempt)]', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2000 }), opts, unit, (attempt, o, r) => {
      const d = backoffDelay(attempt, o, () => r);
      assert.ok(Number.isInteger(d));
      const bound = o.baseMs === 0 ? 0 : Math.min(o.capMs, o.baseMs * 2 ** attempt);
      assert.ok(d >= 0 && d <= bound, `${d} for attempt ${attempt}`);
    }),
  );
});

test('the delay never decreases as the random draw grows (full jitter spans the window)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 40 }), opts, unit, unit, (attempt, o, a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      assert.ok(backoffDelay(attempt, o, () => lo) <= backoffDelay(attempt, o, () => hi));
    }),
  );
  // The extremes of the window are reachable.
  assert.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0), 0);
  assert.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0.999999), 7999);
  assert.equal(backoffDelay(30, DEFAULT_BACKOFF, () => 0.5), 150_000);
});

test('odd attempts and odd random draws stay in range; bad options are refused', () => {
  for (const attempt of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1e9]) {
    const d = backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.5);
    assert.ok(d >= 0 && d <= DEFAULT_BACKOFF.capMs);
  }
  assert.equal(backoffDelay(-1, DEFAULT_BACKOFF, () => 0.5), 500);
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => 7), 4000);
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => -1), 0);
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => Number.NaN), 0);
  assert.throws(() => backoffDelay(1, { baseMs: -1, capMs: 10 }), isLabedgeError);
  assert.throws(() => backoffDelay(1, { baseMs: 1, capMs: Number.NaN }), isLabedgeError);
});

test('Retry-After in seconds', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 4e12 }), (s, now) => {
      assert.equal(parseRetryAfter(String(s), now), s * 1000);
      assert.equal(parseRetryAfter(` ${s} `, now), s * 1000);
    }),
  );
  for (const bad of ['', '-1', '1.5', '2s', 'soon', '0x10', undefined]) assert.equal(parseRetryAfter(bad, 0), undefined, String(bad));
});

test('Retry-After as an HTTP-date, in all three forms, relative to now', () => {
  const now = Date.UTC(2015, 9, 21, 7, 27, 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now), 60_000);
  assert.equal(parseRetryAfter('Wednesday, 21-Oct-15 07:28:00 GMT', now), 60_000);
  assert.equal(parseRetryAfter('Wed Oct 21 07:28:00 2015', now), 60_000);
  // A date in the past means retry now.
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 PST', now), undefined);
  assert.equal(parseRetryAfter('2015-10-21T07:28:00Z', now), undefined);
  fc.assert(
    fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2090, 0, 1) }), fc.integer({ min: 0, max: 86_400 }), (t, ahead) => {
      const at = Math.floor(t / 1000) * 1000;
      assert.equal(parseRetryAfter(new Date(at + ahead * 1000).toUTCString(), at), ahead * 1000);
    }),
  );
});
