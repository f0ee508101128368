// Load test of `toma serve` with autocannon: N concurrent clients each POST /v1/images/generations and
// wait for the images (the synchronous call, so each latency is a job's whole time: queueing,
// generation, storage), until --jobs jobs were made. Then every job is checked: each client got its own
// job id (none twice), each job is `completed` with its PNG downloadable at the asked size, and, where
// this tool started the workers, each worker log shows every job completed exactly once and no other
// completion (nothing lost, nothing duplicated). Prints a table and the JSON (--json FILE writes it).
//
//   node tools/load-test.mjs [--clients 4] [--jobs 24] [--size 32] [--steps 2] [--prompt green-meadow]
//                            [--workers 2] [--backend cpu|webgpu|auto] [--in-process] [--warmup N]
//                            [--json FILE]
//   node tools/load-test.mjs --url http://HOST:PORT [--token T] [--clients ...]   (a running server)
//
// By default it starts `toma serve` on Redis (a throwaway redis-server on a free port, or REDIS_URL
// when set) and --workers `toma worker` processes on --backend. --in-process starts `toma serve` alone,
// with its in-process worker (one; no Redis needed: the GPU machine's case, `--backend webgpu
// --in-process`). With --url it only loads the given server (the token from --token or
// TOMA_API_TOKEN) and checks the jobs through the API; worker logs are not seen then. --warmup N jobs
// (default: one per worker, at once) run before the measured ones, so a GPU's first pipeline
// compilations are not in the figures; they are checked like the others. Needs a build
// (npm run build). Exit status 1 when a job is lost, duplicated or failed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intArg, toolArgs, usageError } from './tool-args.mjs';

const { values } = toolArgs(import.meta.url, {
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    clients: { type: 'string', default: '4' },
    jobs: { type: 'string', default: '24' },
    size: { type: 'string', default: '32' },
    steps: { type: 'string', default: '2' },
    prompt: { type: 'string', default: 'green-meadow' },
    workers: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'cpu' },
    'in-process': { type: 'boolean', default: false },
    json: { type: 'string' },
    warmup: { type: 'string' },
  },
});
const url = import.meta.url;
const clients = intArg(url, values.clients, 'clients', 1);
const jobs = intArg(url, values.jobs, 'jobs', 1);
const size = intArg(url, values.size, 'size', 16);
if (size % 16 !== 0 || size > 1024)
  usageError(url, `--size must be a multiple of 16 in 16..1024; got ${size}`);
const steps = intArg(url, values.steps, 'steps', 1);
const workerCount = intArg(url, values.workers, 'workers', 1);
const warmup = values.warmup === undefined ? undefined : intArg(url, values.warmup, 'warmup', 0);
const inProcess = values['in-process'];
if (inProcess && workerCount !== 1 && process.argv.includes('--workers'))
  usageError(url, '--in-process runs exactly one worker (the server itself)');
if (!['cpu', 'webgpu', 'auto'].includes(values.backend))
  usageError(url, `--backend must be cpu, webgpu or auto; got "${values.backend}"`);
if (values.url !== undefined && !/^https?:\/\/\S+$/.test(values.url))
  usageError(url, `--url must be an http(s) URL; got "${values.url}"`);

if (
  !values.url &&
  !inProcess &&
  !process.env.REDIS_URL &&
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0
)
  usageError(url, 'no redis-server on PATH and no REDIS_URL: install redis-server, or use --in-process');

const { default: autocannon } = await import('autocannon');
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

/** Started processes, each with its output. */
const procs = [];
function start(name, args, env = {}) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = { name, child, out: '' };
  child.stdout.on('data', (d) => {
    p.out += d;
  });
  child.stderr.on('data', (d) => {
    p.out += d;
  });
  p.exited = new Promise((resolve) => child.on('exit', resolve));
  procs.push(p);
  return p;
}
function waitFor(p, re, ms = 600_000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = setInterval(() => {
      const m = re.exec(p.out);
      if (m) {
        clearInterval(tick);
        resolve(m);
      } else if (p.child.exitCode !== null || Date.now() - t0 > ms) {
        clearInterval(tick);
        reject(new Error(`${p.name}: no ${re}:\n${p.out}`));
      }
    }, 50);
  });
}
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const temp = mkdtempSync(join(tmpdir(), 'toma-load-'));
let redis;
async function cleanup() {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))])));
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  if (redis) {
    redis.kill('SIGKILL');
  }
  rmSync(temp, { recursive: true, force: true });
}

let base = values.url?.replace(/\/+$/, '');
const token = values.token ?? process.env.TOMA_API_TOKEN;
let mode;
try {
  if (!base) {
    const serveArgs = [
      'serve',
      '--port',
      '0',
      '--results',
      join(temp, 'results'),
      '--max-queue',
      String(Math.max(32, 2 * clients)),
    ];
    let redisUrl = process.env.REDIS_URL;
    if (inProcess) {
      mode = `in-process worker, ${values.backend}`;
      const server = start('serve', [...serveArgs, '--backend', values.backend], { REDIS_URL: '' });
      base = (await waitFor(server, /listening on (http:\/\/\S+)/))[1];
    } else {
      if (!redisUrl) {
        const port = await freePort();
        redis = spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', temp],
          { stdio: ['ignore', 'pipe', 'ignore'] },
        );
        await new Promise((resolve, reject) => {
          let out = '';
          redis.stdout.on('data', (d) => {
            out += d;
            if (/Ready to accept connections/.test(out)) resolve();
          });
          redis.on('exit', () => reject(new Error(`redis-server exited:\n${out}`)));
        });
        redisUrl = `redis://127.0.0.1:${port}`;
      }
      mode = `Redis (BullMQ) + ${workerCount} worker${workerCount > 1 ? 's' : ''}, ${values.backend}`;
      const server = start('serve', serveArgs, { REDIS_URL: redisUrl });
      const workers = Array.from({ length: workerCount }, (_, i) =>
        start(`worker ${i + 1}`, ['worker', '--backend', values.backend, '--name', `load-w${i + 1}`], {
          REDIS_URL: redisUrl,
        }),
      );
      base = (await waitFor(server, /listening on (http:\/\/\S+)/))[1];
      await Promise.all(workers.map((w) => waitFor(w, /ready on/)));
    }
  } else mode = `external server ${base}`;

  const headers = {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const request = { prompt: values.prompt, size: `${size}x${size}`, steps };
  // warm-up jobs, not measured
  const warmIds = [];
  const warmCount = warmup ?? (values.url || inProcess ? 1 : workerCount);
  await Promise.all(
    Array.from({ length: warmCount }, async (_, i) => {
      const res = await fetch(`${base}/v1/images/generations`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ ...request, seed: 1_000_000 + i }),
      });
      if (res.status !== 200) throw new Error(`warm-up job: HTTP ${res.status} ${await res.text()}`);
      warmIds.push((await res.json()).id);
    }),
  );
  /** Job ids as the clients received them (a duplicate would show up twice). */
  const received = [];
  const statuses = {};
  let seed = 0;
  const t0 = performance.now();
  // autocannon ends on its next 1 s sampling tick: the run's wall time ends at the last response
  let lastResponse = t0;
  const result = await autocannon({
    url: `${base}/v1/images/generations`,
    method: 'POST',
    headers,
    connections: clients,
    amount: jobs,
    timeout: 3600,
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ ...request, seed: seed++ }) }),
        onResponse: (status, body) => {
          lastResponse = performance.now();
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 200) received.push(JSON.parse(body).id);
        },
      },
    ],
  });
  const wallS = (lastResponse - t0) / 1000;

  // every job, checked through the API
  const problems = [];
  const unique = new Set(received);
  if (unique.size !== received.length)
    problems.push(`${received.length - unique.size} job ids were received twice`);
  if (received.length !== jobs)
    problems.push(
      `${jobs - received.length} of ${jobs} requests got no images (${JSON.stringify(statuses)})`,
    );
  const auth = token ? { authorization: `Bearer ${token}` } : {};
  for (const id of unique) {
    const job = await (await fetch(`${base}/v1/jobs/${id}`, { headers: auth })).json();
    if (job.status !== 'completed') {
      problems.push(`job ${id}: ${job.status}`);
      continue;
    }
    const png = new Uint8Array(await (await fetch(job.data[0].url, { headers: auth })).arrayBuffer());
    const v = new DataView(png.buffer);
    if (png.length < 24 || v.getUint32(16) !== size || v.getUint32(20) !== size)
      problems.push(`job ${id}: the result is not a ${size}x${size} PNG`);
  }
  // and, where this tool started them, in the workers' own logs: each job completed once, no others
  const workerLogs = procs.filter((p) => p.name !== 'serve' || inProcess);
  let completions;
  if (workerLogs.length) {
    const lines = workerLogs
      .flatMap((p) => p.out.split('\n'))
      .filter((l) => / job [0-9a-f]{32} completed/.test(l));
    completions = lines.length;
    const count = new Map();
    for (const l of lines) {
      const id = / job ([0-9a-f]{32}) completed/.exec(l)[1];
      count.set(id, (count.get(id) ?? 0) + 1);
    }
    for (const id of [...unique, ...warmIds])
      if (count.get(id) !== 1) problems.push(`job ${id}: completed ${count.get(id) ?? 0} times`);
    for (const id of count.keys())
      if (!unique.has(id) && !warmIds.includes(id))
        problems.push(`job ${id}: completed but no client got it`);
  }
  const perWorker =
    workerLogs.length > 1
      ? workerLogs.map((p) => (p.out.match(/ job [0-9a-f]{32} completed/g) ?? []).length)
      : undefined;

  const report = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} x ${cpus()[0]?.model.trim()}`,
    command: `node tools/load-test.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    mode,
    clients,
    jobs,
    request,
    wall_s: +wallS.toFixed(2),
    jobs_per_s: +(received.length / wallS).toFixed(3),
    images_per_min: +((60 * received.length) / wallS).toFixed(1),
    latency_ms: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: +result.latency.average.toFixed(0),
    },
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    completions_in_worker_logs: completions,
    jobs_per_worker: perWorker,
    lost: jobs - unique.size,
    duplicated:
      received.length -
      unique.size +
      (completions !== undefined ? Math.max(0, completions - unique.size - warmIds.length) : 0),
    warmup_jobs: warmIds.length,
    problems,
  };
  const rows = [
    ['mode', mode],
    [
      'clients / jobs',
      `${clients} / ${jobs} (${request.size}, ${steps} steps, "${request.prompt}"; ${warmIds.length} warm-up before)`,
    ],
    ['wall time', `${report.wall_s} s`],
    ['throughput', `${report.jobs_per_s} jobs/s (${report.images_per_min} images/min)`],
    [
      'latency p50 / p90 / p99 / max',
      `${report.latency_ms.p50} / ${report.latency_ms.p90} / ${report.latency_ms.p99} / ${report.latency_ms.max} ms`,
    ],
    ['responses', JSON.stringify(statuses)],
    [
      'completions in worker logs',
      completions === undefined
        ? '(not seen: external server)'
        : `${completions}${perWorker ? ` (per worker: ${perWorker.join(', ')})` : ''}`,
    ],
    ['lost / duplicated', `${report.lost} / ${report.duplicated}`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n'));
  if (problems.length) console.log(`\nproblems:\n  ${problems.join('\n  ')}`);
  console.log(`\n${JSON.stringify(report, null, 2)}`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  await cleanup();
  process.exit(problems.length ? 1 : 0);
} catch (e) {
  console.error(`load-test.mjs: ${e.message}`);
  await cleanup();
  process.exit(1);
}
