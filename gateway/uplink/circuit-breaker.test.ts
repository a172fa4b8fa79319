import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CircuitBreaker } from './circuit-breaker.js';
import { isLabedgeError } from '../core/errors.js';

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000, maxOpenMs: 8000 }, () => 0);
    assert.equal(b.failure(0, false), false);
    assert.equal(b.failure(0, false), false);
    assert.equal(b.success(false), false);
    assert.equal(b.failure(0, false), false);
    assert.equal(b.failure(0, false), false);
    assert.equal(b.failure(10, false), true);
    assert.equal(b.current, 'open');
    assert.equal(b.retryAt(), 10 + 500); // equal jitter, random 0: half the cool-down
    assert.equal(b.acquire(509), 'wait');
  });

  it('lets exactly one probe through when half-open; a failed probe doubles the cool-down, a good one closes', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000, maxOpenMs: 3000 }, () => 1);
    b.failure(0, false);
    assert.equal(b.retryAt(), 1000);
    assert.equal(b.acquire(1000), 'probe');
    assert.equal(b.current, 'half-open');
    assert.equal(b.acquire(1000), 'wait', 'one probe at a time');
    assert.equal(b.failure(1000, false), false, 'a straggler does not decide');
    assert.equal(b.failure(1200, true), true);
    assert.equal(b.retryAt(), 1200 + 2000);
    assert.equal(b.acquire(3200), 'probe');
    b.failure(3200, true);
    assert.equal(b.retryAt(), 3200 + 3000, 'capped');
    assert.equal(b.acquire(6200), 'probe');
    assert.equal(b.success(true), true);
    assert.equal(b.current, 'closed');
    assert.equal(b.acquire(6200), 'go');
  });

  it('a released probe (auth, store error) frees the slot without deciding', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 10, maxOpenMs: 10 }, () => 1);
    b.failure(0, false);
    assert.equal(b.acquire(10), 'probe');
    b.release(true);
    assert.equal(b.current, 'half-open');
    assert.equal(b.acquire(10), 'probe');
  });

  it('never waits longer than maxOpenMs and never less than half the cool-down', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, noNaN: true }), (fails, r) => {
        const b = new CircuitBreaker({ failureThreshold: 1, openMs: 100, maxOpenMs: 5000 }, () => r);
        let now = 0;
        b.failure(now, false);
        for (let i = 1; i < fails; i++) {
          now = b.retryAt();
          assert.equal(b.acquire(now), 'probe');
          b.failure(now, true);
        }
        const wait = b.retryAt() - now;
        const ceiling = Math.min(5000, 100 * 2 ** (fails - 1));
        return wait >= ceiling / 2 && wait <= ceiling;
      }),
    );
  });

  it('rejects nonsense options', () => {
    assert.throws(() => new CircuitBreaker({ failureThreshold: 0 }), isLabedgeError);
    assert.throws(() => new CircuitBreaker({ openMs: 10, maxOpenMs: 5 }), isLabedgeError);
  });
});
