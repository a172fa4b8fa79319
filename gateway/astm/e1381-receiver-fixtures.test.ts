/**
 * Every real transcript in test/fixtures/astm through the receiver: whole, byte by byte,
 * and split at the recorded serial read boundaries, against the .astm records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  fixturePath,
  listFixtures,
  loadChunks,
  loadFramesBytes,
  loadRecordsText,
} from '../../test/harness/astm-fixtures.js';
import { receiverRig, splitLike } from '../../test/harness/e1381-kit.js';
import { frameChecksum, formatChecksum } from './checksum.js';
import type { LinkEvent } from './link-events.js';

/** Messages per transcript; every other transcript holds one. */
const MESSAGE_COUNT: Record<string, number> = {
  'rubyastm-erba-em200.frames': 2,
  'rubyastm-erba-em200-query.frames': 2,
};

/**
 * senaite stores reassembled M records renumbered as frame 1 (fixture README, caveats), so
 * this transcript is not valid on the wire: a live receiver must NAK those frames.
 */
const NOT_WIRE_VALID = new Set(['senaite-horiba-yumizen-h500.frames']);

/** Senaite-style captures start without ENQ (or with the host's ACKs); a live link needs one. */
function asLiveSession(bytes: Buffer): { stream: Buffer; prefix: number } {
  const prefix = bytes.includes(0x05) ? Buffer.alloc(0) : Buffer.of(0x05);
  const suffix = bytes.at(-1) === 0x04 ? Buffer.alloc(0) : Buffer.of(0x04);
  return { stream: Buffer.concat([prefix, bytes, suffix]), prefix: prefix.length };
}

interface Run {
  messages: string[];
  complete: boolean[];
  replies: string;
  rejected: LinkEvent[];
}

function run(feed: (consume: (b: Uint8Array) => void) => void): Run {
  const rig = receiverRig({ autoSettle: true });
  feed((b) => rig.receiver.consume(b));
  return {
    messages: rig.messages.map((m) => m.text.toString('latin1')),
    complete: rig.messages.map((m) => m.complete),
    replies: rig.takeReplies(),
    rejected: rig.events.filter((e) => e.kind === 'frame-rejected'),
  };
}

/** Rewrites frame numbers as 1,2,..7,0,.. and recomputes checksums (undoes senaite's renumbering). */
function renumberFrames(bytes: Buffer): Buffer {
  let fn = 1;
  const s = bytes
    .toString('latin1')
    // eslint-disable-next-line no-control-regex -- matching framing bytes is the point
    .replace(/\x02[0-7]([^\x02\x03\x17]*)([\x03\x17])[0-9A-Fa-f]{2}/g, (_m, text: string, end: string) => {
      const body = Buffer.from(String(fn) + text + end, 'latin1');
      fn = (fn + 1) & 7;
      return '\x02' + body.toString('latin1') + formatChecksum(frameChecksum(body, 0, body.length));
    });
  return Buffer.from(s, 'latin1');
}

for (const name of listFixtures('.frames')) {
  const chunksName = name.replace(/\.frames$/, '.chunks');
  const expected = loadRecordsText(name.replace(/\.frames$/, '.astm')).toString('latin1');

  test(`${name}: whole, byte by byte and at read boundaries give the same messages`, () => {
    const wire = NOT_WIRE_VALID.has(name) ? renumberFrames(loadFramesBytes(name)) : loadFramesBytes(name);
    const { stream, prefix } = asLiveSession(wire);
    const whole = run((consume) => consume(stream));
    const bytewise = run((consume) => {
      for (let i = 0; i < stream.length; i++) consume(stream.subarray(i, i + 1));
    });
    assert.deepEqual(bytewise, whole);
    if (existsSync(fixturePath(chunksName))) {
      // The stream is cut where the instrument's reads were cut (the raw chunks are tested below).
      const lengths = [prefix, ...loadChunks(chunksName).map((c) => c.length)].filter((n) => n > 0);
      const chunked = run((consume) => splitLike(stream, lengths).forEach(consume));
      assert.deepEqual(chunked, whole);
    }
    assert.deepEqual(whole.rejected, [], 'no frame of a real transcript is rejected');
    assert.equal(whole.messages.length, MESSAGE_COUNT[name] ?? 1);
    assert.ok(whole.complete.every(Boolean), 'every message ends with its terminator record');
    assert.equal(whole.messages.join(''), expected, 'message text equals the .astm records');
    assert.doesNotMatch(whole.replies, /NAK/);
  });
}

test('yumizen-h500 as stored (frames renumbered 1 by senaite) is NAKed for frame number', () => {
  const result = run((consume) => consume(asLiveSession(loadFramesBytes('senaite-horiba-yumizen-h500.frames')).stream));
  assert.ok(result.rejected.length >= 3);
  assert.ok(result.rejected.every((e) => e.kind === 'frame-rejected' && e.reason === 'frame-number'));
  assert.notEqual(result.messages.join(''), loadRecordsText('senaite-horiba-yumizen-h500.astm').toString('latin1'));
});

test('Stago raw reads (about one frame per read) decode to the .astm records', () => {
  const result = run((consume) => loadChunks('rubyastm-stago-sta-satellite-max.chunks').forEach(consume));
  assert.equal(result.messages.join(''), loadRecordsText('rubyastm-stago-sta-satellite-max.astm').toString('latin1'));
  assert.equal(result.replies, '<ACK>'.repeat(32)); // ENQ and 31 frames
});

test('e411 raw reads keep the pre-anonymisation checksum of the edited frame: that frame is NAKed (Q4)', () => {
  // The .chunks were not re-checksummed when the specimen id was replaced (.frames were).
  const midfield = run((consume) => loadChunks('rubyastm-roche-cobas-e411-etb-midfield.chunks').forEach(consume));
  // Frame 1 fails its checksum; in a live session the instrument would resend it, here frames 2 and 3 follow.
  assert.deepEqual(midfield.rejected, [
    { kind: 'frame-rejected', reason: 'checksum', frameNumber: 1 },
    { kind: 'frame-rejected', reason: 'frame-number', frameNumber: 2 },
    { kind: 'frame-rejected', reason: 'frame-number', frameNumber: 3 },
  ]);
  assert.equal(midfield.replies, '<ACK><NAK><NAK><NAK>');
  assert.equal(midfield.messages.length, 0);
  const fragmented = run((consume) => loadChunks('rubyastm-roche-cobas-e411-fragmented-reads.chunks').forEach(consume));
  assert.deepEqual(fragmented.rejected, [{ kind: 'frame-rejected', reason: 'checksum', frameNumber: 1 }]);
  assert.equal(fragmented.messages.length, 0);
});
