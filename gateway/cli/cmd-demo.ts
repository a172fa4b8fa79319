import { join, resolve } from 'node:path';
import { parseCommandArgs } from './args.js';
import { runDemo, type DemoSummary } from '../demo/run-demo.js';
import { DEFAULT_DEMO_TRANSCRIPTS, fixturesDir } from '../demo/default-transcripts.js';

function formatSummary(s: DemoSummary): string[] {
  const types = Object.entries(s.resourcesByType)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  return [
    '',
    'summary',
    `  messages in          ${s.messagesSent} sent, ${s.messagesAcknowledged} acknowledged, ${s.messagesIngested} committed, ${s.messagesDelivered} delivered`,
    `  results              ${s.resultRecords} result records sent, ${s.observations} Observations stored upstream`,
    `  resources stored     ${types || 'none'}`,
    `  validation errors    ${s.validationErrors}`,
    `  queue depth          inbound ${s.queue.inbound}, outbound ${s.queue.outbound}, dead-letter ${s.queue.deadLetter}`,
    `  errors               ${s.errors}`,
    `  audit chain          ${s.audit.entries} entries, ${s.audit.ok ? 'verified' : `BROKEN at seq ${s.audit.firstBadSeq}`}; ${s.audit.provenanceMatched} of ${s.messagesIngested} Provenance digests upstream match the raw-bytes digests in it`,
    `  result               ${s.ok ? 'OK: every result is stored in the FHIR server and valid' : 'FAILED'}`,
  ];
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      json: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      transcript: { type: 'string', multiple: true },
      baud: { type: 'string', default: '9600' },
    },
    false,
  );
  const transcripts = values.transcript?.length ? values.transcript.map((f) => resolve(f)) : DEFAULT_DEMO_TRANSCRIPTS.map((f) => join(fixturesDir(), f));
  const summary = await runDemo({
    transcripts,
    dataDir: values['data-dir'],
    baudRate: Number(values.baud) || 9600,
    print: (line) => process.stdout.write(`${line}\n`),
  });
  for (const line of formatSummary(summary)) process.stdout.write(`${line}\n`);
  if (values.json) {
    const { dataDir: _dataDir, ...rest } = summary;
    process.stdout.write(`${JSON.stringify(rest)}\n`);
  }
  return summary.ok ? 0 : 1;
}
