import { parseCommandArgs, usageError } from './args.js';
import { loadConfigFile } from './load-config.js';
import { createLogger } from '../core/logger.js';
import { Daemon } from '../daemon/daemon.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { config: { type: 'string' }, 'data-dir': { type: 'string' } }, false);
  if (!values.config) throw usageError('run needs --config FILE');
  const config = await loadConfigFile(values.config, { dataDir: values['data-dir'] });
  const logger = createLogger({ level: config.logLevel });
  const daemon = new Daemon({ config, logger });
  await daemon.start();
  // Keeps the process alive until a signal; the daemon's own timers are unref'd.
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  clearInterval(keepAlive);
  await daemon.stop();
  return 0;
}
