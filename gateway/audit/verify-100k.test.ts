import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditStoreKit, fillChain } from '../../test/harness/audit-kit.js';
import { verifyChain } from './verify.js';

test('an untouched chain of 100,000 entries verifies (built through the audit API, streamed by verify)', async () => {
  const kit = await auditStoreKit();
  const store = await kit.open();
  try {
    await fillChain(store, 100_000, 5000);
    const report = await verifyChain(store.audit);
    assert.equal(report.ok, true, JSON.stringify(report.firstBreak));
    assert.equal(report.entries, 100_000);
    assert.equal(report.head.seq, 100_000);
    assert.deepEqual(report.head, store.audit.currentHead());
  } finally {
    await store.close();
    await kit.cleanup();
  }
});
