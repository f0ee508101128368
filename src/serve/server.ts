// `toma serve`'s HTTP API (Fastify): OpenAI's POST /v1/images/generations with this project's own
// parameters, jobs with status, server-sent progress and cancellation, and the results as files.
//
//   POST   /v1/images/generations   the images (waits), or with "async": true 202 and the job
//   GET    /v1/jobs/:id             the job: status, progress, result URLs
//   GET    /v1/jobs/:id/events      server-sent events: status, running, progress, then the outcome
//   DELETE /v1/jobs/:id             cancels a queued or running job
//   GET    /v1/results/:file        a result PNG (<job id>-<index>.png)
//   GET    /health                  liveness and queue length (no token needed)
//
// With a token (TOMA_API_TOKEN) every route but /health wants `Authorization: Bearer <token>`, compared in
// constant time. Bodies over 16 KiB are refused unread, every field is bounded (spec.ts), the queue's
// length is bounded (429), and files are found only by names of the result shape, never by joining
// request text into a path.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  JOB_ID,
  type JobEvent,
  type JobInfo,
  type JobQueue,
  newJobId,
  QueueFullError,
  RESULT_FILE,
  TERMINAL,
} from './queue.js';
import type { ResultStore } from './results.js';
import {
  BODY_LIMIT_BYTES,
  type GenerationRequest,
  generationSchema,
  RequestError,
  type ServeLimits,
  toJobSpec,
} from './spec.js';

export interface ServerOptions {
  queue: JobQueue;
  store: ResultStore;
  limits: ServeLimits;
  /** Bearer token every /v1 route asks for; undefined: none. */
  token?: string;
  /** Base of result URLs (e.g. https://images.example.com); default: the request's own scheme and host. */
  publicUrl?: string;
}

/** An OpenAI-shaped error body. */
function apiError(reply: FastifyReply, status: number, message: string, param: string | null = null) {
  const type =
    status === 401 ? 'authentication_error' : status < 500 ? 'invalid_request_error' : 'server_error';
  return reply.code(status).send({ error: { message, type, param, code: null } });
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface ImageServer {
  app: FastifyInstance;
  /** Stops taking jobs, lets the queue finish what it accepted (at most `drainMs`), then closes. */
  shutdown(drainMs: number): Promise<void>;
}

export function createServer(o: ServerOptions): ImageServer {
  const { queue, store, limits } = o;
  const app = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    // strict validation: no type coercion, unknown fields refused rather than dropped
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
  });
  /** Ends long-lived responses (waiting requests, event streams) when the server shuts down. */
  const shuttingDown = new AbortController();
  let closing = false;
  const expected = o.token === undefined ? undefined : digest(o.token);

  app.setErrorHandler(
    (e: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
      if (e.validation) {
        const first = (e.validation as { keyword?: string; params?: { additionalProperty?: string } }[])[0];
        const extra =
          first?.keyword === 'additionalProperties' ? first.params?.additionalProperty : undefined;
        return apiError(
          reply,
          400,
          extra ? `unknown field "${extra}"` : `request ${e.message}`,
          extra ?? null,
        );
      }
      if (e instanceof RequestError) return apiError(reply, 400, e.message, e.param);
      const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
      return apiError(reply, status, status === 500 ? 'internal error' : e.message);
    },
  );
  app.setNotFoundHandler((_req, reply) => apiError(reply, 404, 'no such route'));

  app.addHook('onRequest', async (req, reply) => {
    // by the route matched, not the raw URL: no spelling of a path reaches a route without the token
    if (!expected || req.routeOptions.url === '/health') return;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    // equal-length digests: the comparison takes the same time whatever the guess
    if (!m || !timingSafeEqual(digest(m[1]!), expected))
      return apiError(reply.header('www-authenticate', 'Bearer'), 401, 'a valid bearer token is required');
  });

  /** The base of result URLs for this request. */
  const base = (req: FastifyRequest) => o.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.host}`;

  /** A completed job's files (stored now if this server has not yet: it may have restarted). */
  const filesOf = (info: JobInfo) => (info.state === 'completed' ? store.store(info) : []);

  const jobView = (req: FastifyRequest, info: JobInfo) => ({
    id: info.id,
    object: 'image.generation.job',
    status: info.state,
    created: Math.floor(info.createdAt / 1000),
    progress: info.progress ?? null,
    ...(info.error !== undefined ? { error: info.error } : {}),
    ...(info.state === 'completed'
      ? { data: filesOf(info).map((f) => ({ url: `${base(req)}/v1/results/${f}` })) }
      : {}),
  });

  /** The job once it has finished (or undefined if the server shuts down first). */
  const finished = (id: string, signal: AbortSignal): Promise<JobInfo | undefined> =>
    new Promise((resolve) => {
      const done = () => {
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      };
      let settled = false;
      const check = async (): Promise<void> => {
        let info: JobInfo | undefined;
        try {
          info = await queue.get(id);
        } catch {
          // Redis briefly unreachable: look again soon (no later event may come for a finished job)
          if (!settled) setTimeout(() => void check(), 250);
          return;
        }
        if (!settled && (!info || TERMINAL.includes(info.state))) {
          settled = true;
          done();
          resolve(info);
        }
      };
      const unsubscribe = queue.subscribe(id, (e) => {
        if (e.type === 'finished') void check();
      });
      const onAbort = () => {
        settled = true;
        done();
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void check(); // it may have finished before the subscription
    });

  const jobId = (req: FastifyRequest) => {
    const { id } = req.params as { id: string };
    return JOB_ID.test(id) ? id : undefined;
  };

  app.get('/health', async () => ({
    status: closing ? 'closing' : 'ok',
    queue: queue.kind,
    waiting: await queue.waiting(),
  }));

  app.post('/v1/images/generations', { schema: { body: generationSchema(limits) } }, async (req, reply) => {
    const body = req.body as GenerationRequest;
    const spec = toJobSpec(body, limits);
    if (closing) return apiError(reply.header('retry-after', '10'), 503, 'the server is shutting down');
    const id = newJobId();
    try {
      await queue.submit(id, spec);
    } catch (e) {
      if (e instanceof QueueFullError)
        return apiError(reply.header('retry-after', '5'), 429, `${e.message}: try again later`);
      throw e;
    }
    reply.header('x-job-id', id);
    if (body.async) {
      const info = (await queue.get(id))!;
      return reply.code(202).header('location', `/v1/jobs/${id}`).send(jobView(req, info));
    }
    // the client that waits and goes away takes its job with it
    const gone = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableEnded) {
        gone.abort();
        void queue.cancel(id);
      }
    };
    reply.raw.on('close', onClose);
    const stop = AbortSignal.any([gone.signal, shuttingDown.signal]);
    const info = await finished(id, stop);
    if (gone.signal.aborted) return reply;
    if (!info)
      return apiError(reply, 503, `the server is shutting down; the job goes on: GET /v1/jobs/${id}`);
    if (info.state === 'cancelled') return apiError(reply, 409, `job ${id} was cancelled`);
    if (info.state === 'failed')
      return apiError(
        reply,
        info.invalid ? 400 : 500,
        info.error ?? 'the generation failed',
        info.invalid ? 'prompt' : null,
      );
    const files = filesOf(info);
    if (files.length === 1 && /^image\/png\b/.test(req.headers.accept ?? ''))
      return reply.type('image/png').send(store.read(files[0]!));
    const data = files.map((f) =>
      body.response_format === 'b64_json'
        ? { b64_json: store.read(f)?.toString('base64') ?? '' }
        : { url: `${base(req)}/v1/results/${f}` },
    );
    return { id, created: Math.floor(info.createdAt / 1000), data };
  });

  app.get('/v1/jobs/:id', async (req, reply) => {
    const id = jobId(req);
    const info = id && (await queue.get(id));
    return info ? jobView(req, info) : apiError(reply, 404, 'no such job');
  });

  app.delete('/v1/jobs/:id', async (req, reply) => {
    const id = jobId(req);
    let info = id && (await queue.cancel(id));
    if (!id || !info) return apiError(reply, 404, 'no such job');
    // a running job stops at its next operation: answer with the outcome when it comes soon
    if (!TERMINAL.includes(info.state)) info = (await finished(id, AbortSignal.timeout(5000))) ?? info;
    return jobView(req, info);
  });

  app.get('/v1/jobs/:id/events', async (req, reply) => {
    const id = jobId(req);
    if (!id) return apiError(reply, 404, 'no such job');
    // subscribed before the first read, so nothing between the two is missed
    const early: JobEvent[] = [];
    let onEvent = (e: JobEvent) => void early.push(e);
    const unsubscribe = queue.subscribe(id, (e) => onEvent(e));
    const info = await queue.get(id);
    if (!info) {
      unsubscribe();
      return apiError(reply, 404, 'no such job');
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      shuttingDown.signal.removeEventListener('abort', end);
      if (!res.writableEnded) res.end();
    };
    res.on('close', end);
    shuttingDown.signal.addEventListener('abort', end, { once: true });
    send('status', jobView(req, info));
    if (TERMINAL.includes(info.state)) return end();
    let ending = false;
    onEvent = (e) => {
      if (ending) return;
      if (e.type === 'running') send('running', { id });
      else if (e.type === 'progress') send('progress', { id, step: e.step, steps: e.steps });
      else {
        ending = true;
        void queue.get(id).then((last) => {
          if (last) send(last.state, jobView(req, last));
          end();
        }, end);
      }
    };
    for (const e of early.splice(0)) onEvent(e);
  });

  app.get('/v1/results/:file', async (req, reply) => {
    const { file } = req.params as { file: string };
    const m = RESULT_FILE.exec(file);
    if (!m) return apiError(reply, 404, 'no such result');
    let bytes = store.read(file);
    if (!bytes) {
      // completed on a worker while this server was down, or stored by another server
      const info = await queue.get(m[1]!);
      if (info) filesOf(info);
      bytes = store.read(file);
    }
    if (!bytes) return apiError(reply, 404, 'no such result');
    return reply
      .type('image/png')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'private, max-age=86400, immutable')
      .send(bytes);
  });

  return {
    app,
    async shutdown(drainMs: number) {
      closing = true;
      // the in-process queue finishes its jobs first (waiting clients get their images); Redis keeps its
      // jobs for the workers, so waiting clients are told where to look before the connections close
      if (queue.kind === 'in-process') {
        await queue.close(drainMs);
        shuttingDown.abort();
      } else {
        shuttingDown.abort();
        await queue.close(drainMs);
      }
      await app.close();
    },
  };
}
