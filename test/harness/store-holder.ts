/**
 * A process that holds a store open, as a running daemon does, for tests of what other
 * processes may do to it meanwhile: `node --import tsx store-holder.ts DATA_DIR KEY_FILE`.
 * Prints `ready` once open; each stdin line `commit` commits one record and prints its id;
 * stdin closing closes the store and exits. With `--try` after the paths: opens, prints
 * `opened` or the error's code, closes and exits (what an operator's command does).
 */
import { createInterface } from 'node:readline';
import { QueueStore } from '../../gateway/store/queue-store.js';

const [dataDir, keyFile, mode] = process.argv.slice(2);
if (!dataDir || !keyFile) throw new Error('usage: store-holder.ts DATA_DIR KEY_FILE [--try]');
if (mode === '--try') {
  try {
    await (await QueueStore.open({ dataDir, keyFile })).close();
    process.stdout.write('opened\n');
  } catch (e) {
    process.stdout.write(`${(e as { code?: string }).code ?? 'error'}\n`);
  }
  process.exit(0);
}
const store = await QueueStore.open({ dataDir, keyFile });
process.stdout.write('ready\n');
let n = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'commit') {
    const id = await store.commitInbound({ sourceId: 'analyzer-1', raw: Buffer.from(`H|\\^&\rP|1||held-${++n}\rL|1|N\r`), receivedAt: n });
    process.stdout.write(`${id}\n`);
  }
}
await store.close();
