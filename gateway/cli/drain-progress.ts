/**
 * Progress of `labedge queue drain`: a rate meter and two renderings (pure, time passed in).
 * - a bar for a terminal: `[##########----------]  50%  5000/10000  312/s  ETA 0:16`
 * - a plain line for logs and pipes: `drain: 5000/10000 (50%) 312 bundles/s, ETA 16 s, ...`
 */

export interface DrainSnapshot {
  /** Bundles finished (delivered + dead-lettered). */
  done: number;
  total: number;
  delivered: number;
  deadLettered: number;
  /** Bundles per second (smoothed), 0 when unknown. */
  rate: number;
  /** e.g. "retrying: server unavailable", when delivery is held. */
  state?: string;
}

/** Rate over a sliding window of samples (default 5 s), so the ETA follows changes in speed. */
export class RateMeter {
  private readonly samples: { at: number; done: number }[] = [];
  constructor(private readonly windowMs = 5000) {}

  sample(at: number, done: number): number {
    this.samples.push({ at, done });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? at) < at - this.windowMs) this.samples.shift();
    const first = this.samples[0];
    if (!first || at <= first.at) return 0;
    return ((done - first.done) * 1000) / (at - first.at);
  }
}

export function etaSeconds(s: DrainSnapshot): number | undefined {
  const left = Math.max(0, s.total - s.done);
  if (left === 0) return 0;
  return s.rate > 0 ? Math.ceil(left / s.rate) : undefined;
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '--:--';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const sec = Math.floor(seconds % 60);
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

const percent = (s: DrainSnapshot): number => (s.total === 0 ? 100 : Math.min(100, Math.floor((s.done * 100) / s.total)));

export function renderBar(s: DrainSnapshot, width = 30): string {
  const filled = Math.round((percent(s) / 100) * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  const extra = [s.deadLettered > 0 ? `${s.deadLettered} dead-lettered` : '', s.state ?? ''].filter((x) => x !== '').join(', ');
  return `[${bar}] ${String(percent(s)).padStart(3)}%  ${s.done}/${s.total}  ${Math.round(s.rate)}/s  ETA ${formatDuration(etaSeconds(s))}${extra ? `  (${extra})` : ''}`;
}

export function renderLine(s: DrainSnapshot): string {
  const eta = etaSeconds(s);
  const parts = [`drain: ${s.done}/${s.total} (${percent(s)}%)`, `${Math.round(s.rate)} bundles/s`, `ETA ${eta === undefined ? 'unknown' : `${eta} s`}`, `delivered=${s.delivered}`, `dead-lettered=${s.deadLettered}`];
  if (s.state) parts.push(s.state);
  return parts.join(', ');
}
