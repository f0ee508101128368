// The `toma serve` and `toma worker` commands: option parsing and the process's life (start, one line
// per job, a graceful stop on SIGTERM / Ctrl-C). The work is in server.ts, the queues and the worker.
import { type Command, choice, num, parse, UsageError } from '../cli/args.js';
import { cliAbortFlag, requestGracePeriod } from '../cli/cancel.js';
import { GPU_OPTIONS, GPU_USAGE, gpuOptions } from '../cli/gpu-options.js';
import type { BackendChoice } from '../index.js';
import { MAX_STEPS } from '../models/limits.js';
import { MemoryQueue } from './memory-queue.js';
import type { JobQueue } from './queue.js';
import { RedisQueue } from './redis-queue.js';
import { DEFAULT_LOCK_MS, DEFAULT_STALLED_MS, defaultWorkerName, QueueWorker } from './redis-worker.js';
import { ResultStore } from './results.js';
import { createServer } from './server.js';
import { DEFAULT_LIMITS, type ServeLimits } from './spec.js';

const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'cpu'];
const DEFAULT_DRAIN_S = 120;

const serveUsage = `usage: toma serve [--port N] [--host ADDR] [--results DIR] [--max-queue N] [--public-url URL]
                  [--backend auto|webgpu|cpu] [--model embedded|ORG/NAME|DIR]
                  [--max-size PX] [--max-steps N] [--max-images N] [--drain-timeout S] [--robust] [--guard]

An HTTP API for image generation: OpenAI's POST /v1/images/generations (prompt, n, size,
response_format url|b64_json) plus steps, guidance, seed, method, ratio, cache; jobs with status,
server-sent progress and cancellation; results stored as files and served by URL (README: Serving).

Without REDIS_URL, jobs run in this process on the model it loads (one command, nothing else to start).
With REDIS_URL=redis://HOST:PORT, jobs go through BullMQ on that Redis and \`toma worker\` processes
(one per GPU, on any machine) run them; this process loads no model.

  --port N            TCP port (default 8080; 0: any free port, printed at start)
  --host ADDR         address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --results DIR       where result PNGs are stored (default out/serve)
  --max-queue N       jobs that may wait before requests get 429 (default 32)
  --public-url URL    base of result URLs (default: the request's scheme and Host)
  --backend, --model  the in-process worker's device and model (default auto, embedded)
  --max-size PX       largest image side a request may ask for (default ${DEFAULT_LIMITS.maxSize})
  --max-steps N       most steps a request may ask for (default ${DEFAULT_LIMITS.maxSteps})
  --max-images N      most images per request, n (default ${DEFAULT_LIMITS.maxImages})
  --drain-timeout S   on SIGTERM/Ctrl-C, how long accepted jobs may take to finish (default ${DEFAULT_DRAIN_S})
${GPU_USAGE}

Environment: REDIS_URL (the queue), TOMA_API_TOKEN (a bearer token every /v1 route then requires).`;

const workerUsage = `usage: REDIS_URL=redis://HOST:PORT toma worker [--backend auto|webgpu|cpu] [--model embedded|ORG/NAME|DIR]
                  [--name NAME] [--lock-duration MS] [--stalled-interval MS] [--drain-timeout S] [--robust] [--guard]

Takes image jobs from the BullMQ queue on REDIS_URL (put there by \`toma serve\`), one at a time, with
the model loaded once. Run one per GPU, on any number of machines. A worker killed mid-job loses
nothing: once its lock expires the job goes back to the queue and another worker runs it; SIGTERM or
Ctrl-C takes no new job and finishes the running one.

  --backend, --model    device and model (default auto, embedded)
  --name NAME           this worker's name in logs and results (default HOST:PID)
  --lock-duration MS    how long a job's lock holds without renewal (default ${DEFAULT_LOCK_MS}): how soon a
                        dead worker's job moves to another worker
  --stalled-interval MS how often to look for such jobs (default ${DEFAULT_STALLED_MS})
  --drain-timeout S     on SIGTERM/Ctrl-C, how long the running job may take to finish (default ${DEFAULT_DRAIN_S})
${GPU_USAGE}`;

const positiveInt = (max: number) => (v: number) => Number.isInteger(v) && v >= 1 && v <= max;

/** A line with the time, for logs that several processes write. */
function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

/** Resolves when the supervisor's flag says SIGTERM / Ctrl-C arrived. */
function stopRequested(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (cliAbortFlag().aborted) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
}

function redisUrl(): string | undefined {
  const url = process.env.REDIS_URL?.trim();
  if (!url) return undefined;
  if (!/^rediss?:\/\//.test(url))
    throw new UsageError(`REDIS_URL must be redis://... or rediss://...; got "${url}"`);
  return url;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'an HTTP API for generation (OpenAI-style), in-process or over Redis workers',
  usage: serveUsage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        results: { type: 'string' },
        'max-queue': { type: 'string' },
        'public-url': { type: 'string' },
        backend: { type: 'string' },
        model: { type: 'string' },
        'max-size': { type: 'string' },
        'max-steps': { type: 'string' },
        'max-images': { type: 'string' },
        'drain-timeout': { type: 'string' },
        ...GPU_OPTIONS,
      },
      serveUsage,
    );
    if (values.help) {
      console.log(serveUsage);
      return 0;
    }
    const port = num(
      values.port,
      'port',
      8080,
      (v) => Number.isInteger(v) && v >= 0 && v <= 65535,
      'a port in 0..65535',
    );
    const host = values.host ?? '127.0.0.1';
    const maxQueue = num(
      values['max-queue'],
      'max-queue',
      32,
      positiveInt(100_000),
      'an integer in 1..100000',
    );
    const limits: ServeLimits = {
      maxSize: num(
        values['max-size'],
        'max-size',
        DEFAULT_LIMITS.maxSize,
        (v) => positiveInt(4096)(v) && v % 16 === 0,
        'a multiple of 16 in 16..4096',
      ),
      maxSteps: num(
        values['max-steps'],
        'max-steps',
        DEFAULT_LIMITS.maxSteps,
        positiveInt(MAX_STEPS),
        `an integer in 1..${MAX_STEPS}`,
      ),
      maxImages: num(
        values['max-images'],
        'max-images',
        DEFAULT_LIMITS.maxImages,
        positiveInt(16),
        'an integer in 1..16',
      ),
    };
    const drainMs =
      1000 *
      num(
        values['drain-timeout'],
        'drain-timeout',
        DEFAULT_DRAIN_S,
        (v) => v >= 0 && v <= 86_400,
        'seconds in 0..86400',
      );
    const backend = choice(values.backend, BACKENDS, 'backend', 'auto');
    const gpu = gpuOptions(values);
    const model = values.model ?? 'embedded';
    let publicUrl = values['public-url'];
    if (publicUrl !== undefined && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(publicUrl))
      throw new UsageError(`--public-url must be an http(s) URL; got "${publicUrl}"`);
    publicUrl = publicUrl?.replace(/\/+$/, '');
    const token = process.env.TOMA_API_TOKEN || undefined;
    const url = redisUrl();
    const store = new ResultStore(values.results ?? 'out/serve');
    // the store is told of each completion, so images reach the disk whoever waits for them
    const storeCompleted = (queue: JobQueue, id: string) =>
      void queue.get(id).then(
        (info) => info && store.store(info),
        (e: Error) => log(`job ${id}: could not store the images: ${e.message}`),
      );
    let queue: JobQueue;
    let where: string;
    let died: Promise<Error> = new Promise(() => {});
    if (url) {
      const q: RedisQueue = await RedisQueue.connect(url, maxQueue, (id) => storeCompleted(q, id));
      queue = q;
      where = `jobs on Redis ${new URL(url).host} for \`toma worker\` processes`;
    } else {
      log(`loading the ${model} model (${backend})...`);
      const q = await MemoryQueue.start({
        backend,
        gpu,
        model,
        maxWaiting: maxQueue,
        log,
        onCompleted: (info) => store.store(info),
      });
      queue = q;
      died = q.died;
      where = `in-process queue, ${q.device}`;
    }
    const server = createServer({ queue, store, limits, token, publicUrl });
    try {
      await server.app.listen({ port, host });
    } catch (e) {
      await queue.close(0);
      throw e;
    }
    const address = server.app.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    const shown = host.includes(':') ? `[${host}]` : host;
    log(
      `toma serve: listening on http://${shown}:${bound} (${where}; results in ${store.dir}${token ? '; bearer token required' : ''})`,
    );
    requestGracePeriod(drainMs + 5000);
    const death = await Promise.race([stopRequested().then(() => undefined), died]);
    if (death) {
      await server.shutdown(0);
      throw new Error(`the generation thread died: ${death.message}`);
    }
    log(`toma serve: stopping (finishing accepted jobs, at most ${drainMs / 1000} s)`);
    await server.shutdown(drainMs);
    log('toma serve: stopped');
    return 0;
  },
};

export const workerCommand: Command = {
  name: 'worker',
  summary: 'takes generation jobs from the Redis queue of `toma serve` (one per GPU, any machine)',
  usage: workerUsage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        backend: { type: 'string' },
        model: { type: 'string' },
        name: { type: 'string' },
        'lock-duration': { type: 'string' },
        'stalled-interval': { type: 'string' },
        'drain-timeout': { type: 'string' },
        ...GPU_OPTIONS,
      },
      workerUsage,
    );
    if (values.help) {
      console.log(workerUsage);
      return 0;
    }
    const url = redisUrl();
    if (!url)
      throw new UsageError(
        `toma worker needs REDIS_URL (the Redis that \`toma serve\` uses)\n\n${workerUsage}`,
      );
    const backend = choice(values.backend, BACKENDS, 'backend', 'auto');
    const gpu = gpuOptions(values);
    const lockDuration = num(
      values['lock-duration'],
      'lock-duration',
      DEFAULT_LOCK_MS,
      (v) => positiveInt(3_600_000)(v) && v >= 500,
      'milliseconds in 500..3600000',
    );
    const stalledInterval = num(
      values['stalled-interval'],
      'stalled-interval',
      DEFAULT_STALLED_MS,
      (v) => positiveInt(3_600_000)(v) && v >= 100,
      'milliseconds in 100..3600000',
    );
    const drainMs =
      1000 *
      num(
        values['drain-timeout'],
        'drain-timeout',
        DEFAULT_DRAIN_S,
        (v) => v >= 0 && v <= 86_400,
        'seconds in 0..86400',
      );
    const name = values.name ?? defaultWorkerName();
    if (!/^[\w.:@-]{1,100}$/.test(name))
      throw new UsageError(`--name must be 1-100 letters, digits or ._:@-; got "${name}"`);
    const model = values.model ?? 'embedded';
    log(`toma worker ${name}: loading the ${model} model (${backend})...`);
    const worker = await QueueWorker.start({
      backend,
      gpu,
      model,
      redisUrl: url,
      lockDuration,
      stalledInterval,
      name,
      log,
    });
    log(`toma worker ${name}: ready on ${worker.device}, taking jobs from Redis ${new URL(url).host}`);
    requestGracePeriod(drainMs + 5000);
    const death = await Promise.race([stopRequested().then(() => undefined), worker.died]);
    if (death) {
      await worker.close(0, true);
      throw new Error(`the generation thread died (${death.message}); the job it ran goes to another worker`);
    }
    log(`toma worker ${name}: stopping (finishing the running job, at most ${drainMs / 1000} s)`);
    await worker.close(drainMs);
    log(`toma worker ${name}: stopped`);
    return 0;
  },
};
