import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadRecordsText } from '../../test/harness/astm-fixtures.js';
import { buildOrderDownload, buildQueryReply, readHostQueries, type HostOrder } from './host-query.js';
import { splitMessages } from './message.js';

const manual = loadRecordsText('manual-roche-cobas-e411-hostquery-reply.astm').toString('latin1').split('\r').filter(Boolean);

test('Q13 golden: the cobas e411 manual reply (p.51), byte for byte, from its query', () => {
  const [query] = readHostQueries(manual.slice(0, 3).join('\r'), { specimenComponent: 3 });
  assert.ok(query);
  assert.deepEqual(query.queries.map((q) => [q.specimenIds, q.status, q.cancel]), [[['000004'], 'O', false]]);
  const order: HostOrder = { specimenId: '000004', tests: [{ code: '10' }, { code: '30', dilution: '2' }, { code: '40' }] };
  const reply = buildQueryReply(query.queries[0]!, query, [order], { style: 'roche', hostName: 'host', timestamp: '20240101000000' });
  assert.deepEqual(reply, manual.slice(3, 7), 'with tests');
  const none = buildQueryReply(query.queries[0]!, query, [], { style: 'roche', hostName: 'host', timestamp: '20240101000000' });
  assert.deepEqual(none, manual.slice(7, 11), 'nothing found: the O without tests');
  const [cancel] = readHostQueries(manual.slice(11).join('\r'), { specimenComponent: 3 });
  assert.equal(cancel?.queries[0]?.cancel, true, 'status A cancels');
});

test('LIS02-A2 reply: P and O per specimen found, tests as repeats; nothing found: L|1|I', () => {
  const text = 'H|\\^&|||Analyzer^1\rQ|1|^S1\\^S2\\^S3||ALL||||||||O\rL|1|N\r';
  const [m] = readHostQueries(text, { specimenComponent: 2 });
  const q = m!.queries[0]!;
  assert.deepEqual(q.specimenIds, ['S1', 'S2', 'S3']);
  const orders: HostOrder[] = [
    { specimenId: 'S1', tests: [{ code: 'GLU' }, { code: 'NA' }], priority: 'S', patient: { id: 'P-1', family: 'Doe', given: 'Jo', birthDate: '19700102', sex: 'F' }, collected: '20240501083000', specimenType: 'SER' },
    { specimenId: 'S3', tests: [{ code: 'K' }] },
    { specimenId: 'OTHER', tests: [{ code: 'X' }] },
  ];
  const reply = buildQueryReply(q, m!, orders, { style: 'lis02a2', hostName: 'labedge', timestamp: '20240501090000' });
  assert.deepEqual(reply, [
    'H|\\^&|||labedge|||||Analyzer||P|LIS2-A2|20240501090000',
    'P|1||P-1||Doe^Jo||19700102|F',
    'O|1|S1||^^^GLU\\^^^NA|S||20240501083000||||N||||SER||||||||||O',
    'P|2',
    'O|1|S3||^^^K|R||||||N||||||||||||||O',
    'L|1|N',
  ]);
  assert.deepEqual(buildQueryReply(q, m!, [], { style: 'lis02a2', hostName: 'labedge', timestamp: '20240501090000' }).at(-1), 'L|1|I');
});

test('Q10: the reply is written in the instrument\'s own delimiters, values escaped', () => {
  const text = 'H|\\!~|||DxH\rQ|1|!000004287888||ALL||||||||O\rL|1|N\r';
  const [m] = readHostQueries(text, { specimenComponent: 2 });
  const reply = buildQueryReply(m!.queries[0]!, m!, [{ specimenId: '000004287888', tests: [{ code: 'CD' }], patient: { id: 'A|B!C' } }], { style: 'lis02a2', hostName: 'labedge', timestamp: 'T' });
  assert.equal(reply[0], 'H|\\!~|||labedge|||||DxH||P|LIS2-A2|T');
  assert.equal(reply[1], 'P|1||A~F~B~S~C');
  assert.equal(reply[2], 'O|1|000004287888||!!!CD|R||||||N||||||||||||||O');
  const parsed = splitMessages(reply.join('\r'))[0];
  assert.equal(parsed?.patients[0]?.record?.field(4), 'A|B!C', 'the escaped id reads back unchanged');
});

test('Erba multiple-tube query: every repeat is a specimen; lone components count as ids', () => {
  const [m] = readHostQueries('H|`^&\rQ|1|^0000000406`00001001|||S|||||||O\rL|1|N', { specimenComponent: 2 });
  assert.deepEqual(m?.queries[0]?.specimenIds, ['0000000406', '00001001']);
});

test('property (Q13): the query\'s sequence, carrier and position components come back unchanged', () => {
  const comp = fc.stringMatching(/^[A-Za-z0-9 &^\\|-]{0,6}$/);
  fc.assert(
    fc.property(fc.array(comp, { minLength: 9, maxLength: 9 }), fc.boolean(), (parts, found) => {
      const esc = (s: string) => s.replace(/&/g, '&E&').replace(/\|/g, '&F&').replace(/\\/g, '&R&').replace(/\^/g, '&S&');
      parts[2] = parts[2] === '' ? 'SID' : parts[2]!;
      const q = `Q|1|${parts.map(esc).join('^')}||ALL||||||||O`;
      const [m] = readHostQueries(`H|\\^&|||cobas\r${q}\rL|1|N`, { specimenComponent: 3 });
      const query = m!.queries[0]!;
      const orders = found ? [{ specimenId: query.specimenIds[0] ?? '', tests: [{ code: '1' }] }] : [];
      const reply = buildQueryReply(query, m!, orders, { style: 'roche', hostName: 'h', timestamp: 't' });
      const o = splitMessages(reply.join('\r'))[0]?.patients[0]?.orders[0]?.record;
      assert.deepEqual(o?.components(4), parts.slice(3, 9), 'O.4 echoes Q.3 components 4-9');
      assert.equal(o?.field(3), parts[2]!.trim());
    }),
    { numRuns: 300 },
  );
});

test('push: an order download is one LIS02-A2 message; nothing to send gives no records', () => {
  assert.deepEqual(buildOrderDownload([], { hostName: 'labedge', instrumentName: '', timestamp: 'T' }), []);
  const records = buildOrderDownload([{ specimenId: 'S9', tests: [{ code: 'HB' }] }], { hostName: 'labedge', instrumentName: '', timestamp: 'T' });
  assert.deepEqual(records, ['H|\\^&|||labedge|||||||P|LIS2-A2|T', 'P|1', 'O|1|S9||^^^HB|R||||||N||||||||||||||O', 'L|1|N']);
});

test('values from upstream with control characters are hex-escaped: the reply always frames and reads back', () => {
  const [m] = readHostQueries('H|\\^&\rQ|1|^^S1||ALL||||||||O\rL|1|N\r', { specimenComponent: 3 });
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 12 }), (family, code) => {
      const reply = buildQueryReply(m!.queries[0]!, m!, [{ specimenId: 'S1', tests: [{ code: code || 'X' }], patient: { family } }], { style: 'lis02a2', hostName: 'labedge', timestamp: 'T' });
      // eslint-disable-next-line no-control-regex -- the point: no control character survives in a record
      for (const r of reply) assert.doesNotMatch(r, /[\x00-\x1f\x7f]/);
      const parsed = splitMessages(reply.join('\r'))[0];
      assert.equal(parsed?.patients[0]?.record?.component(6, 1), family);
      assert.equal(parsed?.patients[0]?.orders[0]?.record?.component(5, 4), code || 'X');
    }),
    { numRuns: 300 },
  );
});
