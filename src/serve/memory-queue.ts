// The embedded default: jobs in memory, run one at a time by a generation thread in this process.
// Nothing survives the process (use Redis and `toma worker` for that); a graceful shutdown finishes
// every accepted job first.
import { EventEmitter } from 'node:events';
import { type GenerationError, Generator } from './generator.js';
import type { GeneratorOptions } from './generator-thread.js';
import { type JobEvent, type JobInfo, type JobQueue, QueueFullError, TERMINAL } from './queue.js';
import type { JobSpec } from './spec.js';

/** Finished jobs kept for status queries (the oldest are forgotten first; their files stay on disk). */
const KEEP_FINISHED = 1000;

export class MemoryQueue implements JobQueue {
  readonly kind = 'in-process';
  private readonly jobs = new Map<string, JobInfo>();
  private readonly waitingIds: string[] = [];
  private readonly events = new EventEmitter();
  private running: { id: string; abort: AbortController } | undefined;
  private closing = false;
  private idle: (() => void) | undefined;

  private constructor(
    private readonly generator: Generator,
    private readonly maxWaiting: number,
    private readonly log: (line: string) => void,
    private readonly onCompleted: (info: JobInfo) => void,
  ) {
    this.events.setMaxListeners(0);
  }

  static async start(
    o: GeneratorOptions & {
      maxWaiting: number;
      log: (line: string) => void;
      /** Told of each completed job before anyone else: the server stores its images. */
      onCompleted: (info: JobInfo) => void;
    },
  ): Promise<MemoryQueue> {
    return new MemoryQueue(await Generator.start(o), o.maxWaiting, o.log, o.onCompleted);
  }

  get device(): string {
    return this.generator.backend;
  }

  /** Resolves if the generation thread dies: the server must stop (no job could run). */
  get died(): Promise<Error> {
    return this.generator.died;
  }

  async submit(id: string, spec: JobSpec): Promise<void> {
    if (this.closing) throw new Error('the server is shutting down');
    if (this.waitingIds.length >= this.maxWaiting) throw new QueueFullError(this.waitingIds.length);
    this.jobs.set(id, { id, state: 'queued', createdAt: Date.now(), spec });
    this.waitingIds.push(id);
    queueMicrotask(() => this.next());
  }

  async get(id: string): Promise<JobInfo | undefined> {
    const j = this.jobs.get(id);
    return j && { ...j };
  }

  async cancel(id: string): Promise<JobInfo | undefined> {
    const j = this.jobs.get(id);
    if (!j) return undefined;
    if (j.state === 'queued') {
      this.waitingIds.splice(this.waitingIds.indexOf(id), 1);
      this.finish(j, 'cancelled');
    } else if (j.state === 'running' && this.running?.id === id) {
      this.running.abort.abort();
    }
    return { ...j };
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  async waiting(): Promise<number> {
    return this.waitingIds.length;
  }

  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.running || this.waitingIds.length) {
      const drained = new Promise<void>((resolve) => {
        this.idle = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), timeoutMs);
      });
      if ((await Promise.race([drained, late])) === 'late') {
        for (const id of [...this.waitingIds]) await this.cancel(id);
        if (this.running) await this.cancel(this.running.id);
        else this.idle?.();
        await drained;
      }
      clearTimeout(timer);
    }
    await this.generator.dispose();
  }

  private finish(j: JobInfo, state: JobInfo['state'], extra: Partial<JobInfo> = {}): void {
    Object.assign(j, { state, finishedAt: Date.now(), progress: j.progress, ...extra });
    this.events.emit(j.id, { type: 'finished', state } satisfies JobEvent);
    this.forgetOld();
  }

  private forgetOld(): void {
    let finished = 0;
    for (const j of this.jobs.values()) if (TERMINAL.includes(j.state)) finished++;
    for (const [id, j] of this.jobs) {
      if (finished <= KEEP_FINISHED) break;
      if (TERMINAL.includes(j.state)) {
        this.jobs.delete(id);
        finished--;
      }
    }
  }

  private next(): void {
    if (this.running) return;
    const id = this.waitingIds.shift();
    if (id === undefined) {
      this.idle?.();
      return;
    }
    const j = this.jobs.get(id)!;
    const abort = new AbortController();
    this.running = { id, abort };
    j.state = 'running';
    this.events.emit(id, { type: 'running' } satisfies JobEvent);
    this.log(`job ${id} running`);
    this.generator
      .run(id, j.spec, {
        signal: abort.signal,
        onProgress: (step, steps) => {
          j.progress = { step, steps };
          this.events.emit(id, { type: 'progress', step, steps } satisfies JobEvent);
        },
      })
      .then(
        (g) => {
          const images = g.pngs.map((p) => Buffer.from(p).toString('base64'));
          j.result = { images, count: images.length, ms: g.ms, worker: 'in-process' };
          try {
            this.onCompleted({ ...j, state: 'completed' });
          } catch (e) {
            this.finish(j, 'failed', { error: `could not store the images: ${(e as Error).message}` });
            this.log(`job ${id} failed: ${(e as Error).message}`);
            return;
          }
          // the files are on disk now; memory keeps only their count
          this.finish(j, 'completed', { result: { ...j.result, images: [] } });
          this.log(`job ${id} completed in ${(g.ms / 1000).toFixed(2)} s`);
        },
        (e: GenerationError) => {
          if (e.cancelled) {
            this.finish(j, 'cancelled');
            this.log(`job ${id} cancelled`);
          } else {
            this.finish(j, 'failed', { error: e.message, invalid: e.invalid });
            this.log(`job ${id} failed: ${e.message}`);
          }
        },
      )
      .finally(() => {
        this.running = undefined;
        this.next();
      });
  }
}
