/** A one-line progress bar for fit (rewritten in place on a terminal, one line per epoch otherwise). */
export class ProgressBar {
  private readonly started = performance.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly total: number,
    private readonly prefix: string,
  ) {}

  private line(done: number, logs: Record<string, number>): string {
    const width = 24;
    const filled = Math.round((done / this.total) * width);
    const bar =
      '='.repeat(Math.max(0, filled - 1)) +
      (filled > 0 ? (done === this.total ? '=' : '>') : '') +
      '.'.repeat(width - filled);
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : 0;
    const time = done === this.total ? `${elapsed.toFixed(1)}s` : `ETA ${eta.toFixed(0)}s`;
    const metrics = Object.entries(logs)
      .map(([k, v]) => `${k}: ${v.toFixed(4)}`)
      .join(' - ');
    return `${this.prefix} ${String(done).padStart(String(this.total).length)}/${this.total} [${bar}] - ${time}${metrics ? ' - ' + metrics : ''}`;
  }

  update(done: number, logs: Record<string, number>): void {
    if (this.tty) process.stderr.write(`\r${this.line(done, logs)}`);
  }

  finish(logs: Record<string, number>): void {
    const text = this.line(this.total, logs);
    if (this.tty) process.stderr.write(`\r${text}\n`);
    else console.log(text);
  }
}
