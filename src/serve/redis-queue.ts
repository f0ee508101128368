// The server's side of BullMQ on Redis: jobs are added to a BullMQ queue and taken by `toma worker`
// processes (redis-worker.ts) on any machine that reaches the same Redis. Job state, progress and
// results live in Redis (BullMQ's own records), so a restarted server loses nothing.
//
// Cancellation: a waiting job is removed from the queue; a running one is flagged with a key
// (`<prefix>:toma-cancel:<id>`, kept a day) and announced on a channel that every worker listens to;
// the worker running it aborts the generation through BullMQ's own Worker.cancelJob (the processor's
// AbortSignal) and fails the job as unrecoverable with the reason "cancelled", so it is never retried.
// A worker that starts a job also checks the key, so a cancel sent while the job changed hands holds.
import { EventEmitter } from 'node:events';
import { type ConnectionOptions, type Job, Queue, QueueEvents } from 'bullmq';
import type { JobEvent, JobInfo, JobQueue, JobResult, JobState } from './queue.js';
import { QueueFullError } from './queue.js';
import type { JobSpec } from './spec.js';

export const QUEUE_NAME = 'toma-images';
export const CANCELLED_REASON = 'cancelled';
/** Finished jobs stay in Redis (with their images) for a day, at most this many of each outcome. */
export const KEEP_FINISHED = { age: 24 * 3600, count: 1000 };

export function connectionFor(url: string): ConnectionOptions {
  // maxRetriesPerRequest null: BullMQ's blocking commands must wait through a Redis restart
  return { url, maxRetriesPerRequest: null };
}

/** The few plain Redis commands used beside BullMQ's own, on BullMQ's (ioredis) connection. */
export interface RedisCommands {
  exists(key: string): Promise<number>;
  set(key: string, value: string, ex: 'EX', seconds: number): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  duplicate(): RedisCommands;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  quit(): Promise<unknown>;
}

/** BullMQ's connection as the ioredis client it is (BullMQ types it more narrowly). */
export async function commandsOf(o: { client: Promise<unknown> }): Promise<RedisCommands> {
  return (await o.client) as RedisCommands;
}

/** How long a server or worker waits for Redis at start before it says it cannot reach it. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** `ready`, or an error naming the Redis after CONNECT_TIMEOUT_MS (the client retries forever meanwhile). */
export async function reachRedis(ready: Promise<unknown>, url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `cannot reach Redis at ${new URL(url).host} (REDIS_URL) after ${CONNECT_TIMEOUT_MS / 1000} s`,
          ),
        ),
      CONNECT_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([ready, late]);
  } finally {
    clearTimeout(timer);
  }
}

export const cancelKey = (prefix: string, id: string) => `${prefix}:toma-cancel:${id}`;
export const cancelChannel = (prefix: string) => `${prefix}:toma-cancel`;

/** What a worker returns: the images, base64. */
export type WorkerResult = JobResult;

export class RedisQueue implements JobQueue {
  readonly kind = 'redis';
  private readonly queue: Queue<JobSpec, WorkerResult>;
  private readonly queueEvents: QueueEvents;
  private readonly events = new EventEmitter();
  /** Submissions one at a time, so two requests cannot both pass the length check. */
  private submitting: Promise<unknown> = Promise.resolve();
  private readonly prefix = 'bull';

  private constructor(
    url: string,
    private readonly maxWaiting: number,
    onCompleted: (id: string) => void,
  ) {
    const connection = connectionFor(url);
    this.queue = new Queue(QUEUE_NAME, { connection, prefix: this.prefix });
    this.queueEvents = new QueueEvents(QUEUE_NAME, { connection, prefix: this.prefix });
    this.events.setMaxListeners(0);
    const emit = (id: string, e: JobEvent) => this.events.emit(id, e);
    this.queueEvents.on('active', ({ jobId }) => emit(jobId, { type: 'running' }));
    this.queueEvents.on('progress', ({ jobId, data }) => {
      const p = data as { step?: number; steps?: number };
      if (typeof p?.step === 'number' && typeof p.steps === 'number')
        emit(jobId, { type: 'progress', step: p.step, steps: p.steps });
    });
    this.queueEvents.on('completed', ({ jobId }) => {
      onCompleted(jobId);
      emit(jobId, { type: 'finished', state: 'completed' });
    });
    this.queueEvents.on('failed', ({ jobId, failedReason }) =>
      emit(jobId, { type: 'finished', state: failedReason === CANCELLED_REASON ? 'cancelled' : 'failed' }),
    );
    this.queueEvents.on('removed', ({ jobId }) => emit(jobId, { type: 'finished', state: 'cancelled' }));
  }

  /** Connects (fails at once when Redis cannot be reached). `onCompleted` hears every completion. */
  static async connect(
    url: string,
    maxWaiting: number,
    onCompleted: (id: string) => void = () => {},
  ): Promise<RedisQueue> {
    const q = new RedisQueue(url, maxWaiting, onCompleted);
    await reachRedis(Promise.all([q.queue.waitUntilReady(), q.queueEvents.waitUntilReady()]), url);
    return q;
  }

  submit(id: string, spec: JobSpec): Promise<void> {
    const add = this.submitting.then(async () => {
      const waiting = await this.waiting();
      if (waiting >= this.maxWaiting) throw new QueueFullError(waiting);
      await this.queue.add('generate', spec, {
        jobId: id,
        // a failed generation is not retried (it would fail again); a worker that dies is another
        // matter: its job stalls and BullMQ hands it to another worker (maxStalledCount)
        attempts: 1,
        removeOnComplete: KEEP_FINISHED,
        removeOnFail: KEEP_FINISHED,
      });
    });
    this.submitting = add.catch(() => {});
    return add;
  }

  /**
   * The job and its state, read consistently: the job's record and its state are two reads, and a job
   * that finished between them is read again (its record then has the outcome the state names).
   */
  private async read(id: string): Promise<{ job: Job<JobSpec, WorkerResult>; state: string } | undefined> {
    for (let attempt = 0; ; attempt++) {
      const job = await this.queue.getJob(id);
      if (!job) return undefined;
      const state = await job.getState();
      const finished = state === 'completed' || state === 'failed';
      if (!finished || job.finishedOn || attempt === 2) return { job, state };
    }
  }

  async get(id: string): Promise<JobInfo | undefined> {
    const found = await this.read(id);
    if (!found) {
      const client = await commandsOf(this.queue);
      const cancelled = await client.exists(cancelKey(this.prefix, id));
      return cancelled ? { id, state: 'cancelled', createdAt: 0, spec: { prompt: '', n: 0 } } : undefined;
    }
    return this.infoOf(found.job, found.state);
  }

  private infoOf(job: Job<JobSpec, WorkerResult>, bullState: string): JobInfo | undefined {
    let state: JobState;
    if (bullState === 'active') state = 'running';
    else if (bullState === 'completed') state = 'completed';
    else if (bullState === 'failed') state = job.failedReason === CANCELLED_REASON ? 'cancelled' : 'failed';
    else if (bullState === 'unknown') return undefined;
    else state = 'queued'; // waiting, prioritized, delayed
    const p = job.progress as { step?: number; steps?: number } | number;
    const info: JobInfo = { id: job.id!, state, createdAt: job.timestamp, spec: job.data };
    if (typeof p === 'object' && typeof p.step === 'number' && typeof p.steps === 'number')
      info.progress = { step: p.step, steps: p.steps };
    if (job.finishedOn) info.finishedAt = job.finishedOn;
    if (state === 'failed') {
      info.error = job.failedReason ?? 'failed';
      info.invalid = info.error.startsWith('invalid input: ');
    }
    if (state === 'completed') info.result = job.returnvalue;
    return info;
  }

  async cancel(id: string): Promise<JobInfo | undefined> {
    const found = await this.read(id);
    if (!found) return this.get(id);
    const { job, state } = found;
    if (state === 'completed' || state === 'failed') return this.infoOf(job, state);
    const client = await commandsOf(this.queue);
    await client.set(cancelKey(this.prefix, id), '1', 'EX', 24 * 3600);
    if (state !== 'active') {
      try {
        await job.remove(); // fails if a worker took it meanwhile: then the key and the channel act
        return { ...this.infoOf(job, state)!, state: 'cancelled', finishedAt: Date.now() };
      } catch {}
    }
    await client.publish(cancelChannel(this.prefix), id);
    return this.get(id);
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  waiting(): Promise<number> {
    return this.queue.getJobCountByTypes('wait', 'prioritized', 'delayed', 'paused');
  }

  /** The server holds no jobs itself: the workers (and Redis) keep them; only the connections close. */
  async close(): Promise<void> {
    await this.submitting;
    await Promise.all([this.queueEvents.close(), this.queue.close()]);
  }
}
