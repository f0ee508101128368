// `toma worker`: one per GPU, on any machine that reaches the Redis of `toma serve`. It loads the
// model once, takes one job at a time from the BullMQ queue, reports each step as the job's progress and
// returns the PNGs (base64) as the job's result, which the server stores.
//
// Losing a worker loses no job: BullMQ holds a lock on the running job that the worker renews every
// lockDuration/2 (its event loop stays free: generation runs in its own thread). A worker killed outright
// stops renewing; after lockDuration another worker's stalled-job check (every stalledInterval) puts
// the job back in the queue and a live worker runs it. Completion is recorded only by the lock's holder,
// so a job completes exactly once. Production defaults are BullMQ's: lockDuration 30 s, stalledInterval
// 30 s, a job may stall once (maxStalledCount 1) before it fails; the tests shorten the first two.
// A graceful shutdown (SIGTERM, Ctrl-C) takes no new job and finishes the running one.
import { hostname } from 'node:os';
import { UnrecoverableError, Worker } from 'bullmq';
import { GenerationError, Generator } from './generator.js';
import type { GeneratorOptions } from './generator-thread.js';
import {
  CANCELLED_REASON,
  cancelChannel,
  cancelKey,
  commandsOf,
  connectionFor,
  QUEUE_NAME,
  reachRedis,
  type WorkerResult,
} from './redis-queue.js';
import type { JobSpec } from './spec.js';

export interface WorkerOptions extends GeneratorOptions {
  redisUrl: string;
  /** How long a job's lock lasts without renewal (ms): how soon a dead worker's job moves on. */
  lockDuration: number;
  /** How often this worker looks for stalled jobs (ms). */
  stalledInterval: number;
  /** This worker's name in logs and results. */
  name: string;
  log: (line: string) => void;
}

export const DEFAULT_LOCK_MS = 30_000;
export const DEFAULT_STALLED_MS = 30_000;

export function defaultWorkerName(): string {
  return `${hostname()}:${process.pid}`;
}

export class QueueWorker {
  private constructor(
    private readonly worker: Worker<JobSpec, WorkerResult>,
    private readonly generator: Generator,
    private readonly closeSubscriber: () => Promise<void>,
  ) {}

  static async start(o: WorkerOptions): Promise<QueueWorker> {
    const prefix = 'bull';
    let workerRef: Worker<JobSpec, WorkerResult> | undefined;
    let generator!: Generator;
    const worker = new Worker<JobSpec, WorkerResult>(
      QUEUE_NAME,
      async (job, _token, signal) => {
        const id = job.id!;
        const client = await commandsOf(workerRef!);
        if (await client.exists(cancelKey(prefix, id))) throw new UnrecoverableError(CANCELLED_REASON);
        o.log(`job ${id} running${job.attemptsMade || job.stalledCounter ? ' (again)' : ''}`);
        try {
          const g = await generator.run(id, job.data, {
            signal,
            onProgress: (step, steps) => void job.updateProgress({ step, steps }).catch(() => {}),
          });
          o.log(`job ${id} generated in ${(g.ms / 1000).toFixed(2)} s`);
          return {
            images: g.pngs.map((p) => Buffer.from(p).toString('base64')),
            count: g.pngs.length,
            ms: g.ms,
            worker: o.name,
          };
        } catch (e) {
          // the thread died (not the job's fault): the job must not fail; it stays active here until
          // this worker exits, then its lock expires and another worker runs it
          if (generator.isBroken) await new Promise(() => {});
          if (e instanceof GenerationError && e.cancelled) throw new UnrecoverableError(CANCELLED_REASON);
          if (e instanceof GenerationError && e.invalid)
            throw new UnrecoverableError(`invalid input: ${e.message}`);
          throw e;
        }
      },
      {
        connection: connectionFor(o.redisUrl),
        prefix,
        concurrency: 1,
        lockDuration: o.lockDuration,
        stalledInterval: o.stalledInterval,
        name: o.name,
        // no job is taken before the model is loaded
        autorun: false,
      },
    );
    workerRef = worker;
    await reachRedis(worker.waitUntilReady(), o.redisUrl);
    generator = await Generator.start(o);
    worker.on('completed', (job) => o.log(`job ${job.id} completed`));
    worker.on('failed', (job, e) => {
      if (job)
        o.log(`job ${job.id} ${e.message === CANCELLED_REASON ? 'cancelled' : `failed: ${e.message}`}`);
    });
    worker.on('error', (e) => o.log(`worker error: ${e.message}`));
    // cancellations announced by any server
    const subscriber = (await commandsOf(worker)).duplicate();
    subscriber.on('message', (_channel: string, id: string) => worker.cancelJob(id, CANCELLED_REASON));
    await subscriber.subscribe(cancelChannel(prefix));
    void worker.run().catch((e: Error) => o.log(`worker error: ${e.message}`));
    return new QueueWorker(worker, generator, async () => {
      await subscriber.quit().catch(() => {});
    });
  }

  get device(): string {
    return this.generator.backend;
  }

  /** Resolves if the generation thread dies: the worker must exit (its job then moves to another). */
  get died(): Promise<Error> {
    return this.generator.died;
  }

  /**
   * Takes no new job; resolves when the running one has finished (or `timeoutMs` passed, or at once
   * with `force`: then the job is abandoned, and BullMQ gives it to another worker once its lock
   * expires).
   */
  async close(timeoutMs: number, force = false): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, force ? 0 : timeoutMs);
    });
    await Promise.race([this.worker.close(force), late]);
    clearTimeout(timer);
    await this.closeSubscriber();
    await this.generator.dispose();
  }
}
