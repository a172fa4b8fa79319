import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/**
 * Real analyzer transcripts replayed by `labedge demo` (copied from shared/corpus into
 * test/fixtures/astm): different vendors, delimiters, value quirks and frame layouts.
 */
export const DEFAULT_DEMO_TRANSCRIPTS = [
  'senaite-sysmex-xn550.astm',
  'goastm-euroimmun-analyzer1.astm',
  'senaite-roche-cobas-c311.astm',
  'senaite-horiba-pentra-xlr.astm',
  'tgenaux-phadia-immunocap.astm',
  'rubyastm-erba-em200.astm',
  'rubyastm-stago-sta-satellite-max.astm',
  'senaite-siemens-dca-vantage.astm',
];

/** The fixtures folder, found from this file both when run from source (tsx) and from dist/. */
export function fixturesDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const fromSource = join(here, '..', '..', 'test', 'fixtures', 'astm');
  return here.includes(`${'/'}dist${'/'}`) ? join(here, '..', '..', '..', 'test', 'fixtures', 'astm') : fromSource;
}
