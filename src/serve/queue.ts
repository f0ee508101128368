// What the HTTP server needs of a job queue. Two implementations: the in-process queue with its own
// worker (memory-queue.ts, the default: one command, nothing else to run) and BullMQ on Redis
// (redis-queue.ts, with `toma worker` processes on any number of machines).
import { randomBytes } from 'node:crypto';
import type { JobSpec } from './spec.js';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export const TERMINAL: readonly JobState[] = ['completed', 'failed', 'cancelled'];

export interface JobResult {
  /** PNG files, base64 (how they cross Redis); emptied once the server has stored them (count stays). */
  images: string[];
  count: number;
  /** Generation time on the worker (ms). */
  ms: number;
  /** Which worker made them. */
  worker: string;
}

export interface JobInfo {
  id: string;
  state: JobState;
  /** Epoch ms. */
  createdAt: number;
  finishedAt?: number;
  spec: JobSpec;
  progress?: { step: number; steps: number };
  error?: string;
  /** The input was refused by the model (an unknown class): the client's mistake, not the server's. */
  invalid?: boolean;
  result?: JobResult;
}

/** What subscribers hear; they re-read the job for the details of a terminal state. */
export type JobEvent =
  | { type: 'running' }
  | { type: 'progress'; step: number; steps: number }
  | { type: 'finished'; state: JobState };

export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`the queue is full (${waiting} jobs waiting)`);
    this.name = 'QueueFullError';
  }
}

export interface JobQueue {
  /** 'in-process' or 'redis', for the startup line and /health. */
  readonly kind: string;
  /** Queues a job; throws QueueFullError when `maxWaiting` jobs already wait. */
  submit(id: string, spec: JobSpec): Promise<void>;
  get(id: string): Promise<JobInfo | undefined>;
  /** Cancels a queued or running job (a finished one is left as it is); the job as it is afterwards. */
  cancel(id: string): Promise<JobInfo | undefined>;
  /** Events of one job until it finishes; returns the unsubscribe function. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void;
  /** Jobs waiting to start. */
  waiting(): Promise<number>;
  /** Stops taking jobs; resolves once the accepted ones have finished (or `timeoutMs` passed). */
  close(timeoutMs: number): Promise<void>;
}

/** Job ids: 128 random bits in hex. Only names of this shape ever reach the file system. */
export const JOB_ID = /^[0-9a-f]{32}$/;
/** A result file: the job id and the image's index. */
export const RESULT_FILE = /^([0-9a-f]{32})-([0-9]{1,2})\.png$/;

export function newJobId(): string {
  return randomBytes(16).toString('hex');
}
