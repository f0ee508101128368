// A one-line progress bar on stderr (redrawn in place on a terminal, one line per update otherwise).

export class ProgressBar {
  private last = 0;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, total: number, detail = ''): void {
    const width = 24;
    const fill = Math.round((done / total) * width);
    const line = `${this.label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${done}/${total} ${detail}`;
    if (this.stream.isTTY) this.stream.write(`\r${line.padEnd(this.last)}`);
    else this.stream.write(`${line}\n`);
    this.last = line.length;
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
