// `toma serve` on BullMQ with a real redis-server and two `toma worker` processes (CPU backend, the
// embedded model), through HTTP only: jobs spread over both workers and complete once each; a worker
// killed mid-job (SIGKILL) leaves its job to the other, which completes it exactly once; a cancelled
// running job stops on its worker; a full queue answers 429; a worker asked to stop finishes its job.
// The workers' locks are shortened (2 s, stalled check every 0.5 s) so a dead worker's job moves on fast.
// Skipped with a note where redis-server is missing, unless TOMA_REQUIRE_REDIS=1 (CI).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  countLines,
  LONG,
  type Proc,
  pngSize,
  post,
  QUICK,
  readEvents,
  redisMissing,
  startCli,
  startRedis,
  startServe,
  stop,
  waitDone,
} from './helpers.js';

const skip = redisMissing();
if (skip) console.warn(`Redis serving tests skipped: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'toma-serve-redis-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FAST_LOCKS = ['--lock-duration', '2000', '--stalled-interval', '500'];

async function startWorker(name: string, url: string): Promise<Proc> {
  const w = startCli(['worker', '--backend', 'cpu', '--name', name, ...FAST_LOCKS], { REDIS_URL: url });
  await w.waitFor(/ready on/);
  return w;
}

describe('toma serve + 2 toma workers on Redis', { skip }, () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let server: Awaited<ReturnType<typeof startServe>>;
  const workers = new Map<string, Proc>();
  const results = join(dir, 'results');
  /** Everything every worker printed, the killed one's included. */
  const allWorkerOutput = () => [...workers.values()].map((w) => w.output()).join('\n');

  before(async () => {
    redis = await startRedis();
    server = await startServe(['--results', results, '--max-queue', '2'], { REDIS_URL: redis.url });
    const [a, b] = await Promise.all([startWorker('w1', redis.url), startWorker('w2', redis.url)]);
    workers.set('w1', a);
    workers.set('w2', b);
  });
  after(async () => {
    await Promise.all([stop(server), ...[...workers.values()].map((w) => stop(w, 'SIGKILL'))]);
    await redis?.stop();
  });

  it('runs jobs on both workers, each completed exactly once', async () => {
    // two at a time: the queue holds 2 waiting jobs at most
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        [0, 1].map((i) => post(server.base, { ...QUICK, seed: round * 2 + i })),
      );
      for (const res of answers) {
        assert.equal(res.status, 200, await res.clone().text());
        const body = (await res.json()) as { id: string; data: { url: string }[] };
        ids.push(body.id);
        const png = await fetch(body.data[0]!.url);
        assert.deepEqual(pngSize(new Uint8Array(await png.arrayBuffer())), { width: 32, height: 32 });
      }
    }
    const out = allWorkerOutput();
    for (const id of ids) assert.equal(countLines(out, id, 'completed'), 1, id);
    const byWorker = [...workers.values()].map((w) =>
      ids.filter((id) => countLines(w.output(), id, 'completed')),
    );
    assert.ok(
      byWorker.every((jobs) => jobs.length > 0),
      `both workers took jobs: ${byWorker.map((j) => j.length)}`,
    );
  });

  it('a restarted server still knows the jobs, and stores their images again from Redis', async () => {
    const res = await post(server.base, { ...QUICK, seed: 42 });
    const { id } = (await res.json()) as { id: string };
    await stop(server);
    rmSync(join(results, `${id}-0.png`));
    server = await startServe(['--results', results, '--max-queue', '2'], { REDIS_URL: redis.url });
    const job = (await (await fetch(`${server.base}/v1/jobs/${id}`)).json()) as { status: string };
    assert.equal(job.status, 'completed');
    const png = await fetch(`${server.base}/v1/results/${id}-0.png`);
    assert.equal(png.status, 200);
    assert.deepEqual(pngSize(new Uint8Array(await png.arrayBuffer())), { width: 32, height: 32 });
  });

  it('a worker killed mid-job leaves the job to the other, which completes it once', async () => {
    const { id } = (await (await post(server.base, { ...LONG, async: true })).json()) as { id: string };
    let killed: string | undefined;
    const events = await readEvents(server.base, id, (e) => {
      if (e.event !== 'progress' || killed) return;
      for (const [name, w] of workers)
        if (countLines(w.output(), id, 'running') === 1) {
          killed = name;
          w.child.kill('SIGKILL');
        }
    });
    assert.ok(killed, 'a worker was running the job when progress came');
    assert.equal(events.at(-1)!.event, 'completed', JSON.stringify(events.at(-1)));
    assert.equal((await workers.get(killed)!.exited).signal, 'SIGKILL');
    const survivor = [...workers.keys()].find((n) => n !== killed)!;
    const out = allWorkerOutput();
    assert.equal(countLines(out, id, 'completed'), 1, out);
    assert.equal(countLines(workers.get(survivor)!.output(), id, 'completed'), 1);
    assert.equal(countLines(workers.get(survivor)!.output(), id, 'running (again)'), 1);
    assert.equal(countLines(workers.get(killed)!.output(), id, 'generated'), 0);
    assert.equal(((await waitDone(server.base, id)) as { status: string }).status, 'completed');
    assert.deepEqual(
      readdirSync(results).filter((f) => f.startsWith(id)),
      [`${id}-0.png`],
    );
    // the killed worker comes back (a restart) and takes jobs again
    workers.set(`${killed}-again`, await startWorker(`${killed}-again`, redis.url));
  });

  it('cancels a running job on its worker: no result, never retried', async () => {
    const { id } = (await (await post(server.base, { ...LONG, async: true })).json()) as { id: string };
    let cancel: Promise<Response> | undefined;
    const events = await readEvents(server.base, id, (e) => {
      if (e.event === 'progress' && !cancel)
        cancel = fetch(`${server.base}/v1/jobs/${id}`, { method: 'DELETE' });
    });
    assert.ok(cancel);
    assert.equal(((await (await cancel).json()) as { status: string }).status, 'cancelled');
    assert.equal(events.at(-1)!.event, 'cancelled');
    assert.ok(events.filter((e) => e.event === 'progress').length < LONG.steps);
    await new Promise((r) => setTimeout(r, 1500)); // longer than a lock: a retry would have started
    const out = allWorkerOutput();
    assert.equal(countLines(out, id, 'cancelled'), 1, out);
    assert.equal(countLines(out, id, 'running'), 1, out);
    assert.equal(countLines(out, id, 'completed'), 0);
    assert.deepEqual(
      readdirSync(results).filter((f) => f.startsWith(id)),
      [],
    );
  });

  it('answers 429 once the waiting jobs reach --max-queue', async () => {
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await post(server.base, { ...LONG, async: true }));
    const statuses = answers.map((r) => r.status);
    const accepted = answers.filter((r) => r.status === 202);
    // 2 running (one per worker) and 2 waiting at most
    assert.ok(accepted.length >= 2 && accepted.length <= 4, statuses.join(','));
    assert.ok(statuses.includes(429), statuses.join(','));
    assert.deepEqual(
      statuses.filter((s) => s !== 202 && s !== 429),
      [],
    );
    for (const res of accepted) {
      const { id } = (await res.json()) as { id: string };
      await fetch(`${server.base}/v1/jobs/${id}`, { method: 'DELETE' });
      assert.equal(((await waitDone(server.base, id)) as { status: string }).status, 'cancelled');
    }
  });

  it('a worker asked to stop (SIGTERM) finishes its running job first', async () => {
    const { id } = (await (
      await post(server.base, { ...QUICK, size: '64x64', steps: 6, async: true })
    ).json()) as {
      id: string;
    };
    const [, name] = await Promise.race(
      [...workers.entries()]
        .filter(([, w]) => w.child.exitCode === null && w.child.signalCode === null)
        .map(([n, w]) => w.waitFor(new RegExp(`job ${id} running`)).then(() => [w, n] as const)),
    );
    const w = workers.get(name)!;
    w.child.kill('SIGTERM');
    const { code } = await w.exited;
    assert.equal(code, 0, w.output());
    assert.equal(countLines(w.output(), id, 'completed'), 1, w.output());
    assert.equal(((await waitDone(server.base, id)) as { status: string }).status, 'completed');
  });
});
