#!/usr/bin/env node
import { LabedgeError, isLabedgeError } from '../core/errors.js';
import { failureReport, installCrashHandlers } from '../core/crash-handlers.js';

const USAGE = `usage: labedge <command> [options]

  run --config FILE [--data-dir DIR]         run the gateway daemon
  demo [--json] [--data-dir DIR] [--transcript FILE]...
                                             everything on this machine: analyzers on pty serial
                                             lines, the daemon, a local mutual-TLS FHIR server
  convert [--from astm|hl7|auto] [--profile HL7PROFILE] FILE|-
                                             print the FHIR transaction Bundle for a message
  simulate --port PATH|--tcp HOST:PORT --file TRANSCRIPT [--baud N] [--protocol astm]
                                             act as an instrument on a serial line
  simulate --protocol hl7 --tcp HOST:PORT --file FILE [--tls --ca FILE [--cert FILE --key FILE]]
                                             send HL7 messages over MLLP, each waiting for its ACK
  queue stats|list|dlq list [--data-dir DIR] [--config FILE]
                                             inspect the store-and-forward queue
  queue dlq show|replay|purge [ID] --operator-token-file FILE --config FILE [--to inbound|outbound] [--older-than AGE]
                                             dead letters for an operator (audited)
  queue drain --config FILE [--data-dir DIR] [--progress] [--max-in-flight N] [--max-seconds N]
                                             deliver the outbound backlog now (daemon stopped)
  keys status|rotate [--wait]|erase --yes [--data-dir DIR] [--config FILE]
                                             rotate the data key, or crypto-erase the store
  audit verify [--from-checkpoint FILE] | export --since T [--format jsonl|fhir|syslog]
        | trace ID [--operator-token-file FILE] | checkpoints [--last]   [--data-dir DIR] [--config FILE]
                                             check, export and trace the hash-chained audit trail

  --debug   print stack traces on failure
`;

/** The USAGE lines of one command (its lines and their indented continuations). */
function usageOf(name: string): string {
  let mine = false;
  const lines = USAGE.split('\n').filter((line) => {
    if (/^ {2}\S/.test(line)) mine = line.startsWith(`  ${name} `);
    else if (!/^ {3,}\S/.test(line)) mine = false;
    return mine;
  });
  return `${lines.join('\n')}\n`;
}

type Command = (argv: string[]) => Promise<number>;
// Loaded on demand: `convert` need not load the daemon, the store or the TLS stack.
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./cmd-run.js')).runCommand,
  demo: async () => (await import('./cmd-demo.js')).demoCommand,
  convert: async () => (await import('./cmd-convert.js')).convertCommand,
  simulate: async () => (await import('./cmd-simulate.js')).simulateCommand,
  queue: async () => (await import('./cmd-queue.js')).queueCommand,
  audit: async () => (await import('./cmd-audit.js')).auditCommand,
  keys: async () => (await import('./cmd-keys.js')).keysCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  // No command is a usage error: the usage goes to stderr, as every usage error's line does.
  if (!name) {
    process.stderr.write(USAGE);
    return 2;
  }
  const load = COMMANDS[name];
  if (!load) throw new LabedgeError('LABEDGE_ERR_USAGE', `unknown command "${name}" (see labedge --help)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage:\n${usageOf(name)}`);
    return 0;
  }
  return (await load())(rest.filter((a) => a !== '--debug'));
}

const debug = process.argv.includes('--debug');
installCrashHandlers(debug);
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // One clear line; a stack only on request (it could quote input in a message).
    const usage = isLabedgeError(e) && (e.code === 'LABEDGE_ERR_USAGE' || e.code === 'LABEDGE_ERR_CONFIG');
    process.stderr.write(failureReport(e, debug));
    process.exitCode = usage ? 2 : 1;
  },
);
