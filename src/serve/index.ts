// toma-webgpu/serve: the server and the queues behind `toma serve` and `toma worker`, for programs that
// embed them (the CLI commands in commands.ts are thin wrappers over these). A subpath of its own, so
// the main entry (and the browser bundle) never loads Fastify or BullMQ.
export { GenerationError, Generator } from './generator.js';
export type { GeneratorOptions } from './generator-thread.js';
export { MemoryQueue } from './memory-queue.js';
export {
  type JobEvent,
  type JobInfo,
  type JobQueue,
  type JobResult,
  type JobState,
  QueueFullError,
} from './queue.js';
export { RedisQueue } from './redis-queue.js';
export { QueueWorker, type WorkerOptions } from './redis-worker.js';
export { createServer, type ImageServer, type ServerOptions } from './server.js';
