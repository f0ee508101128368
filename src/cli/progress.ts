// A one-line progress bar on stderr (redrawn in place on a terminal, one line per update otherwise).

export class ProgressBar {
  private last = 0;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  /** `counts` replaces the "done/total" text (e.g. "3.1/9.5 GiB"). */
  update(done: number, total: number, detail = '', counts = `${done}/${total}`): void {
    const width = 24;
    const fill = total > 0 ? Math.round((Math.min(done, total) / total) * width) : width;
    const line = `${this.label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${counts} ${detail}`;
    if (this.stream.isTTY) this.stream.write(`\r${line.padEnd(this.last)}`);
    else this.stream.write(`${line}\n`);
    this.last = line.length;
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
