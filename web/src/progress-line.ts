// The progress bar and line of one press of Generate. A finished run stays on the line ("dense: 28/28
// steps in 3.1 s") while the next one runs, and the last step is given a rendered frame before the line
// turns into the finished state, so "N/N" is always seen, never overwritten unseen.
import type { StepInfo } from './runner.js';

/** "850 ms", "7.86 s", "20.9 s". */
export const ms = (v: number): string =>
  v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 1 : 2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`;

/** Resolves once the current DOM has been painted (or soon, where a hidden tab renders no frames). */
export function nextPaint(): Promise<void> {
  return new Promise((resolve) => {
    // two frames: the first callback runs before the paint of the state set now, the second after it
    requestAnimationFrame(() => requestAnimationFrame(() => resolve()));
    setTimeout(resolve, 250);
  });
}

export class ProgressLine {
  private finished: string[] = [];

  constructor(
    private readonly text: HTMLElement,
    private readonly bar: HTMLProgressElement,
  ) {
    text.className = '';
    bar.value = 0;
  }

  /** Something without steps (warm-up, the start of a run). */
  phase(what: string): void {
    this.show(`${what}…`);
  }

  /** Step p.step of p.steps of timed run `index` (0-based) of `runs`. */
  step(index: number, runs: number, label: string, p: StepInfo): void {
    this.bar.value = (index + p.step / p.steps) / runs;
    const left = p.step < p.steps ? `, about ${ms(p.etaMs)} left` : '';
    this.show(`${label}: step ${p.step}/${p.steps} (${ms(p.stepMs)} for that step${left})`);
    if (p.step === p.steps) this.finished.push(`${label}: ${p.steps}/${p.steps} steps in ${ms(p.elapsedMs)}`);
  }

  /** The finished state, after the last step has been on screen. */
  async done(): Promise<void> {
    this.bar.value = 1;
    await nextPaint();
    this.text.textContent = `Done. ${this.finished.join('; ')}.`;
  }

  private show(current: string): void {
    this.text.textContent = [...this.finished, current].join(' · ');
  }
}
