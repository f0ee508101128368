// A PyTorch process that times ops on the same card as our kernels (bench/torch_kernels.py --serve):
// one JSON request per line on its stdin, one JSON reply per line on its stdout, so a benchmark can
// time ours and theirs back to back in every repetition.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export class TorchChild {
  private constructor(
    private proc: ChildProcess,
    readonly hello: Record<string, unknown>,
    private lines: AsyncIterableIterator<string>,
  ) {}

  /** Starts `python3 script --serve` and waits for its hello line (device, versions). */
  static async start(script: string): Promise<TorchChild> {
    const proc = spawn('python3', [script, '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`${script} exited before answering`);
    return new TorchChild(proc, JSON.parse(first.value), lines);
  }

  /** Per-iteration milliseconds (CUDA events) of one op request, e.g. {op: 'matmul', M, N, K, iters, warmup}. */
  async time(request: Record<string, unknown>): Promise<number[]> {
    this.proc.stdin!.write(`${JSON.stringify(request)}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('the PyTorch process exited');
    const reply = JSON.parse(r.value) as { ms?: number[]; error?: string };
    if (reply.error) throw new Error(`PyTorch: ${reply.error}`);
    return reply.ms!;
  }

  stop(): void {
    this.proc.stdin!.write('{"op":"quit"}\n');
    this.proc.stdin!.end();
  }
}
