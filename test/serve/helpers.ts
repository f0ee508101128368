// Helpers for the serving tests: the built CLI as child processes (`toma serve`, `toma worker`), a real
// redis-server on a free port, HTTP calls and server-sent events.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Small, quick jobs on the CPU backend (about 0.5 s on 2 cores). */
export const QUICK = { prompt: 'green-meadow', size: '32x32', steps: 2 };
/** A job long enough to act on while it runs (a few seconds). */
export const LONG = { prompt: 'cat', size: '64x64', steps: 16 };

export interface Proc {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the first match of `re` in the output (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The built CLI as a child process. TOMA_CLI_CHILD=1 makes the spawned process the one that runs the
 * command (no filtering parent): a SIGKILL reaches the process that holds the job.
 */
export function startCli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, TOMA_CLI_CHILD: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => out,
    waitFor(re, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} in:\n${out}`));
        }, ms);
        waiters.add(check);
        void exited.then(() => {
          if (waiters.has(check)) {
            check();
            if (waiters.has(check)) {
              waiters.delete(check);
              clearTimeout(timer);
              reject(new Error(`exited before ${re}:\n${out}`));
            }
          }
        });
        check();
      });
    },
  };
}

/** `toma serve --port 0` with `args`; resolves once it listens, with its base URL. */
export async function startServe(
  args: string[],
  env: Record<string, string> = {},
): Promise<Proc & { base: string }> {
  const p = startCli(['serve', '--port', '0', ...args], env);
  const m = await p.waitFor(/listening on (http:\/\/[^\s]+)/);
  return Object.assign(p, { base: m[1]! });
}

export async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  await p.exited;
  clearTimeout(t);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Why the Redis tests cannot run here, or false. TOMA_REQUIRE_REDIS=1 (CI) makes a missing one fail. */
export function redisMissing(): string | false {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (found) return false;
  if (process.env.TOMA_REQUIRE_REDIS === '1')
    throw new Error('TOMA_REQUIRE_REDIS=1 but redis-server is not on PATH (apt-get install redis-server)');
  return 'redis-server is not on PATH (Debian: apt-get install redis-server)';
}

/** A throwaway redis-server (no persistence) on a free port, in a temporary folder. */
export async function startRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'toma-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    const check = () => {
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function post(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${base}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/**
 * Reads a job's server-sent events until the stream ends; `onEvent` sees each as it comes (e.g. to act
 * on the first progress).
 */
export async function readEvents(
  base: string,
  id: string,
  onEvent: (e: SseEvent) => void = () => {},
  headers: Record<string, string> = {},
): Promise<SseEvent[]> {
  const res = await fetch(`${base}/v1/jobs/${id}/events`, { headers });
  if (res.status !== 200) throw new Error(`events: HTTP ${res.status} ${await res.text()}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) {
        const e = { event, data: JSON.parse(data) };
        events.push(e);
        onEvent(e);
      }
    }
  }
  return events;
}

/** Waits until the job is in a final state; returns its view. */
export async function waitDone(
  base: string,
  id: string,
  headers: Record<string, string> = {},
  ms = 90_000,
): Promise<Record<string, unknown>> {
  const t0 = Date.now();
  for (;;) {
    const j = (await (await fetch(`${base}/v1/jobs/${id}`, { headers })).json()) as Record<string, unknown>;
    if (['completed', 'failed', 'cancelled'].includes(j.status as string)) return j;
    if (Date.now() - t0 > ms) throw new Error(`job ${id} still ${j.status} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many times each process printed `job <id> <what>`. */
export function countLines(output: string, id: string, what: string): number {
  return output.split('\n').filter((l) => l.includes(`job ${id} ${what}`)).length;
}

/** A PNG's width and height, from its IHDR chunk. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (!sig.every((b, i) => bytes[i] === b)) throw new Error('not a PNG');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}
