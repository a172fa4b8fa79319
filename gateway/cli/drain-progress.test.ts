import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateMeter, etaSeconds, formatDuration, renderBar, renderLine } from './drain-progress.js';

describe('drain progress', () => {
  it('renders a bar with percent, counts, rate and ETA', () => {
    const s = { done: 5000, total: 10_000, delivered: 4998, deadLettered: 2, rate: 312.4 };
    assert.equal(renderBar(s, 20), '[##########----------]  50%  5000/10000  312/s  ETA 0:17  (2 dead-lettered)');
    assert.equal(renderLine({ ...s, state: 'retrying: transient 503' }), 'drain: 5000/10000 (50%), 312 bundles/s, ETA 17 s, delivered=4998, dead-lettered=2, retrying: transient 503');
  });

  it('has no ETA without a rate, and zero when done', () => {
    assert.equal(etaSeconds({ done: 0, total: 5, delivered: 0, deadLettered: 0, rate: 0 }), undefined);
    assert.equal(etaSeconds({ done: 5, total: 5, delivered: 5, deadLettered: 0, rate: 0 }), 0);
    assert.equal(formatDuration(undefined), '--:--');
    assert.equal(formatDuration(3725), '1:02:05');
    assert.equal(renderBar({ done: 0, total: 0, delivered: 0, deadLettered: 0, rate: 0 }, 4), '[####] 100%  0/0  0/s  ETA 0:00');
  });

  it('measures the rate over a sliding window', () => {
    const m = new RateMeter(1000);
    assert.equal(m.sample(0, 0), 0);
    assert.equal(m.sample(500, 50), 100);
    assert.equal(m.sample(1000, 100), 100);
    m.sample(1500, 100);
    assert.equal(m.sample(2600, 100), 0, 'stalled: the old fast samples have left the window');
  });
});
