// A one-line progress bar on stderr. On a terminal it is redrawn in place at every update. Elsewhere
// (a pipe, a log file, CI) it prints sparse lines: one when a new tenth of the total is reached or
// when SPARSE_MS passed since the previous line, and always the last update, so a log neither fills
// with one line per step nor loses the final count.
//
// In the CLI the command runs in a worker thread whose stderr is a pipe to the supervisor; worker.ts
// copies the real stream's isTTY and columns onto it, so `stream.isTTY` below is the terminal's.

/** Outside a terminal: the longest silence between two lines while updates keep coming. */
export const SPARSE_MS = 5000;

/** The subset of a write stream a bar needs (tests pass a fake). */
export interface BarStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export class ProgressBar {
  private last = 0;
  private lastTenth = -1;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  /** Outside a terminal: the latest update's line when it was not printed. */
  private pending: string | null = null;

  constructor(
    private readonly label: string,
    private readonly stream: BarStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `counts` replaces the "done/total" text (e.g. "3.1/9.5 GiB"). */
  update(done: number, total: number, detail = '', counts = `${done}/${total}`): void {
    const width = 24;
    const fill = total > 0 ? Math.round((Math.min(done, total) / total) * width) : width;
    const line =
      `${this.label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${counts} ${detail}`.trimEnd();
    if (this.stream.isTTY) {
      // a line longer than the terminal would wrap, and \r would then redraw only its tail
      const cols = this.stream.columns;
      const shown = cols && line.length >= cols ? line.slice(0, cols - 1) : line;
      this.stream.write(`\r${shown.padEnd(this.last)}`);
      this.last = shown.length;
      return;
    }
    const tenth = total > 0 ? Math.floor((10 * Math.min(done, total)) / total) : 10;
    const t = this.now();
    if (done >= total || tenth > this.lastTenth || t - this.lastLineAt >= SPARSE_MS) {
      this.stream.write(`${line}\n`);
      this.lastTenth = tenth;
      this.lastLineAt = t;
      this.pending = null;
    } else this.pending = line;
  }

  /** Ends the bar: a newline on a terminal; elsewhere the latest update if it was not printed. */
  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
    else if (this.pending !== null) this.stream.write(`${this.pending}\n`);
    this.pending = null;
  }
}

/** A duration for people: "42 s", "3 min 20 s", "2 h 05 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * A bar over items that take a while each (eval's images): done/total, the mean time per item so
 * far and the time left at that pace.
 */
export class EtaBar {
  private readonly bar: ProgressBar;
  private readonly t0: number;

  constructor(
    label: string,
    private readonly unit: string,
    stream?: BarStream,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.bar = new ProgressBar(label, stream, now);
    this.t0 = now();
  }

  update(done: number, total: number): void {
    const elapsed = this.now() - this.t0;
    const per = done > 0 ? elapsed / done : 0;
    const left =
      done >= total ? `done in ${formatDuration(elapsed)}` : `~${formatDuration(per * (total - done))} left`;
    this.bar.update(
      done,
      total,
      `${(per / 1000).toFixed(2)} s/${this.unit}, ${left}`,
      `${done}/${total} ${this.unit}s`,
    );
  }

  done(): void {
    this.bar.done();
  }
}
