#!/usr/bin/env node
import { LabedgeError, describeError, isLabedgeError } from '../core/errors.js';

const USAGE = `usage: labedge <command> [options]

  run --config FILE [--data-dir DIR]         run the gateway daemon
  demo [--json] [--data-dir DIR] [--transcript FILE]...
                                             everything on this machine: analyzers on pty serial
                                             lines, the daemon, a local mutual-TLS FHIR server
  convert [--from astm|auto] FILE|-          print the FHIR transaction Bundle for a message
  simulate --port PATH|--tcp HOST:PORT --file TRANSCRIPT [--baud N] [--protocol astm]
                                             act as an instrument on a serial line
  queue stats|list|dlq list [--data-dir DIR] [--config FILE]
                                             inspect the store-and-forward queue

  --debug   print stack traces on failure
`;

type Command = (argv: string[]) => Promise<number>;
// Loaded on demand: `convert` need not load the daemon, the store or the TLS stack.
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./cmd-run.js')).runCommand,
  demo: async () => (await import('./cmd-demo.js')).demoCommand,
  convert: async () => (await import('./cmd-convert.js')).convertCommand,
  simulate: async () => (await import('./cmd-simulate.js')).simulateCommand,
  queue: async () => (await import('./cmd-queue.js')).queueCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) throw new LabedgeError('LABEDGE_ERR_USAGE', `unknown command "${name}" (see labedge --help)`);
  return (await load())(rest.filter((a) => a !== '--debug'));
}

const debug = process.argv.includes('--debug');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // One clear line; a stack only on request (it could quote input in a message).
    const usage = isLabedgeError(e) && (e.code === 'LABEDGE_ERR_USAGE' || e.code === 'LABEDGE_ERR_CONFIG');
    process.stderr.write(`labedge: ${isLabedgeError(e) ? e.message : describeError(e)}\n`);
    if (debug && e instanceof Error) process.stderr.write(`${e.stack ?? ''}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
