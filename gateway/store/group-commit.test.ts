import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabedgeError } from '../core/errors.js';
import { GroupCommitter, type WriteOp } from './group-commit.js';

const put = (key: string): WriteOp => ({ type: 'put', key, value: Buffer.from(key) });

/** A writer that records batches and can be held open, like a slow fsync. */
function recordingWriter() {
  const batches: string[][] = [];
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  return {
    batches,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release: () => open(),
    write: async (ops: WriteOp[]) => {
      await gate;
      batches.push(ops.map((o) => o.key));
    },
  };
}

describe('GroupCommitter', () => {
  it('puts submissions from the same window into one batch, extra ops last', async () => {
    const w = recordingWriter();
    const gc = new GroupCommitter(w.write, 5, () => [put('m!seq')]);
    await Promise.all([gc.submit([put('a')]), gc.submit([put('b'), put('c')]), gc.submit([put('d')])]);
    assert.deepEqual(w.batches, [['a', 'b', 'c', 'd', 'm!seq']]);
    assert.deepEqual(gc.stats(), { batches: 1, submissions: 3 });
  });

  it('settles a submission only after its batch is written', async () => {
    const w = recordingWriter();
    w.hold();
    const gc = new GroupCommitter(w.write, 0);
    let settled = false;
    const p = gc.submit([put('a')]).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(settled, false);
    w.release();
    await p;
    assert.equal(settled, true);
  });

  it('what arrives during a sync goes into the next batch, in order', async () => {
    const w = recordingWriter();
    w.hold();
    const gc = new GroupCommitter(w.write, 0);
    const first = gc.submit([put('a')]);
    await new Promise((r) => setTimeout(r, 5));
    const rest = [gc.submit([put('b')]), gc.submit([put('c')])];
    w.release();
    await Promise.all([first, ...rest]);
    assert.deepEqual(w.batches, [['a'], ['b', 'c']]);
  });

  it('rejects every submission of a failed batch with LABEDGE_ERR_STORE_COMMIT, then recovers', async () => {
    let fail = true;
    const gc = new GroupCommitter(async () => {
      if (fail) throw new Error('EIO');
    }, 1);
    const results = await Promise.allSettled([gc.submit([put('a')]), gc.submit([put('b')])]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof LabedgeError && r.reason.code === 'LABEDGE_ERR_STORE_COMMIT');
    }
    fail = false;
    await gc.submit([put('c')]);
    assert.deepEqual(gc.stats(), { batches: 1, submissions: 1 });
  });

  it('close flushes what is pending and refuses new submissions', async () => {
    const w = recordingWriter();
    const gc = new GroupCommitter(w.write, 1000);
    const p = gc.submit([put('a')]);
    await gc.close();
    await p;
    assert.deepEqual(w.batches, [['a']]);
    await assert.rejects(gc.submit([put('b')]), (e: unknown) => e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_COMMIT');
  });
});
