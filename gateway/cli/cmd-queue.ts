import { parseCommandArgs, usageError } from './args.js';
import { loadConfigFile } from './load-config.js';
import { QueueStore } from '../store/queue-store.js';
import { defaultKeyFile } from '../config/config.js';
import { resolve } from 'node:path';

/** Operator view of the queue: counts and opaque ids only, never content. */
export async function queueCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'data-dir': { type: 'string' },
    'key-file': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const [sub, sub2] = positionals;
  let dataDir = resolve(values['data-dir'] ?? './data');
  let keyFile = values['key-file'] ?? defaultKeyFile(dataDir);
  if (values.config) {
    const config = await loadConfigFile(values.config, { dataDir: values['data-dir'] });
    dataDir = config.dataDir;
    keyFile = values['key-file'] ?? config.keyFile;
  }
  const store = await QueueStore.open({ dataDir, keyFile });
  try {
    if (sub === 'stats') {
      const stats = await store.stats();
      process.stdout.write(values.json ? `${JSON.stringify(stats)}\n` : `inbound ${stats.inbound}\noutbound ${stats.outbound}\ndead-letter ${stats.deadLetter}\n`);
      return 0;
    }
    if (sub === 'list') {
      for (const r of await store.listInbound(1000)) process.stdout.write(`inbound ${r.id} source=${r.sourceId} bytes=${r.raw.length} received=${new Date(r.receivedAt).toISOString()}\n`);
      for (const r of await store.outboundHeads()) process.stdout.write(`outbound-head ${r.id} source=${r.sourceId} attempts=${r.attempts}\n`);
      return 0;
    }
    if (sub === 'dlq' && sub2 === 'list') {
      for (const d of await store.listDeadLetters(1000)) process.stdout.write(`dead-letter ${d.id} source=${d.sourceId} stage=${d.stage} reason=${d.reasonCode} at=${new Date(d.at).toISOString()}\n`);
      return 0;
    }
    throw usageError('queue takes stats, list or dlq list');
  } finally {
    await store.close();
  }
}
