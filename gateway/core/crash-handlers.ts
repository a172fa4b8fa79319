import { crashReport, errorChain, stackFrames } from './scrub.js';
import { isLabedgeError } from './errors.js';

/**
 * Routes a CLI process's crashes through the scrubber: an uncaught exception or unhandled
 * rejection prints one line of error codes (plus stack frames with --debug, never the
 * message, which may quote patient data) and exits 1, instead of Node's default dump.
 */
export function installCrashHandlers(debug: boolean, write: (text: string) => void = (t) => void process.stderr.write(t)): void {
  const crash = (kind: string) => (e: unknown) => {
    write(crashReport(kind, e, debug));
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
}

/** The one-line failure report of a command (and its stack frames with --debug). */
export function failureReport(e: unknown, debug: boolean): string {
  // A LabedgeError's message is PHI-free by contract; anything else is named by its code chain.
  const head = isLabedgeError(e) ? e.message : errorChain(e).join(' <- ');
  const lines = [`labedge: ${head}`];
  if (debug) lines.push(...stackFrames(e));
  return `${lines.join('\n')}\n`;
}
