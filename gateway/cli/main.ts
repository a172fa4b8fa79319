#!/usr/bin/env node
import { LabedgeError, describeError, isLabedgeError } from '../core/errors.js';
import { runCommand } from './cmd-run.js';
import { simulateCommand } from './cmd-simulate.js';
import { convertCommand } from './cmd-convert.js';
import { queueCommand } from './cmd-queue.js';
import { demoCommand } from './cmd-demo.js';

const USAGE = `usage: labedge <command> [options]

  run --config FILE [--data-dir DIR]         run the gateway daemon
  demo [--json] [--data-dir DIR] [--transcript FILE]...
                                             everything on this machine: analyzers on pty serial
                                             lines, the daemon, a local mutual-TLS FHIR server
  convert [--from astm|auto] FILE|-          print the FHIR transaction Bundle for a message
  simulate --port PATH --file TRANSCRIPT [--baud N] [--protocol astm]
                                             act as an instrument on a serial line
  queue stats|list|dlq list [--data-dir DIR] [--config FILE]
                                             inspect the store-and-forward queue

  --debug   print stack traces on failure
`;

type Command = (argv: string[]) => Promise<number>;
const COMMANDS: Record<string, Command> = {
  run: runCommand,
  demo: demoCommand,
  convert: convertCommand,
  simulate: simulateCommand,
  queue: queueCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new LabedgeError('LABEDGE_ERR_USAGE', `unknown command "${name}" (see labedge --help)`);
  return command(rest.filter((a) => a !== '--debug'));
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
