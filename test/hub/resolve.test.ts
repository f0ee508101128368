import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HubError, resolveModel } from '../../src/hub/index.js';
import { type HubMirror, startHubMirror } from '../../src/hub/mirror-server.js';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { locateFlux } from '../../src/pipeline/model-folder.js';
import { writeRandomFluxFolder } from '../../src/pipeline/random-folder.js';

for (const k of [
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_HUB_OFFLINE',
  'HF_ENDPOINT',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
])
  delete process.env[k];

const tmp = mkdtempSync(join(tmpdir(), 'toma-hub-'));
const root = join(tmp, 'repos');
let mirror: HubMirror;
let n = 0;
/** A fresh, empty cache folder. */
const freshCache = () => join(tmp, `cache-${n++}`);

/** A deterministic pseudo-random file of `size` bytes. */
function bytes(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function put(path: string, data: string | Buffer) {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
}

const BIG = 300_000;
const CUT = 100_000;

before(async () => {
  // A FLUX.1 diffusers repo, plus what the real one also carries and a pipeline never reads.
  const flux = join(root, 'test-org/tiny-flux');
  await writeRandomFluxFolder(flux, { preset: pipelinePreset('tiny'), shardBytes: 400_000 });
  put(join(flux, 'flux1-tiny.safetensors'), bytes(5000, 1));
  put(join(flux, 'README.md'), '# tiny\n');
  put(join(flux, 'grid.jpeg'), bytes(2000, 2));
  // Small repos for the transfer cases (selected with allowPatterns).
  for (const name of ['cut', 'cut-again', 'cut-norange', 'corrupt', 'abort', 'gated'])
    put(join(root, `test-org/${name}/weights.safetensors`), bytes(BIG, name.length));
  put(join(root, 'test-org/gated/config.json'), '{}');
  put(join(root, 'test-org/sd/model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline' }));
  put(join(root, 'test-org/sd/unet/diffusion_pytorch_model.safetensors'), bytes(1000, 3));
  mirror = await startHubMirror({
    root,
    gated: { 'test-org/gated': ['hf_good'] },
    faults: {
      cutOnce: {
        'test-org/cut/weights.safetensors': CUT,
        'test-org/cut-again/weights.safetensors': CUT,
        'test-org/cut-norange/weights.safetensors': CUT,
      },
      corrupt: ['test-org/corrupt/weights.safetensors'],
    },
  });
});
after(async () => {
  await mirror?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const opts = (cacheDir: string) => ({ cacheDir, endpoint: mirror.url, retries: 2, timeoutMs: 5000 });
const since = (i: number) => mirror.requests.slice(i);

async function rejects(p: Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HubError, `not a HubError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

describe('resolveModel: a FLUX.1 repo into the Hugging Face cache', () => {
  const home = join(tmp, 'hf-home');
  let snapshot = '';

  it('downloads what the pipeline reads into $HF_HOME/hub in the huggingface_hub layout', async () => {
    process.env.HF_HOME = home;
    process.env.HF_ENDPOINT = mirror.url;
    const progress: { bytes: number; total: number; file: string }[] = [];
    const first = mirror.requests.length;
    try {
      snapshot = await resolveModel('test-org/tiny-flux', { onProgress: (p) => progress.push(p) });
    } finally {
      delete process.env.HF_HOME;
      delete process.env.HF_ENDPOINT;
    }
    const folder = join(home, 'hub', 'models--test-org--tiny-flux');
    const commit = readFileSync(join(folder, 'refs', 'main'), 'utf8');
    assert.match(commit, /^[0-9a-f]{40}$/);
    assert.equal(snapshot, join(folder, 'snapshots', commit));
    // Weights are relative links to blobs named by their sha256, as Python's huggingface_hub makes them.
    const vae = join(snapshot, 'text_encoder/model.safetensors');
    assert.ok(lstatSync(vae).isSymbolicLink());
    assert.match(readlinkSync(vae), /^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
    assert.deepEqual(
      readFileSync(vae),
      readFileSync(join(root, 'test-org/tiny-flux/text_encoder/model.safetensors')),
    );
    // Sharded: the index and every shard came.
    assert.ok(existsSync(join(snapshot, 'transformer/diffusion_pytorch_model.safetensors.index.json')));
    // The single-file release, the README and the picture are not what a diffusers pipeline reads.
    for (const skipped of ['flux1-tiny.safetensors', 'README.md', 'grid.jpeg'])
      assert.ok(!existsSync(join(snapshot, skipped)), skipped);
    assert.equal(existsSync(join(folder, 'blobs')) && statSync(join(folder, 'blobs')).isDirectory(), true);
    // The loader finds a complete model there.
    const files = locateFlux({ modelDir: snapshot });
    assert.equal(files.pipelineClass, 'FluxPipeline');
    // Progress: bytes only grow, end at the total.
    assert.ok(progress.length > 0);
    const last = progress.at(-1)!;
    assert.equal(last.bytes, last.total);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.bytes >= progress[i - 1]!.bytes);
    const urls = since(first).map((r) => r.url);
    assert.ok(urls.some((u) => u.startsWith('/api/models/test-org/tiny-flux/revision/main')));
    assert.ok(urls.some((u) => u.startsWith(`/api/models/test-org/tiny-flux/tree/${commit}`)));
    assert.ok(!urls.some((u) => u.includes('flux1-tiny')));
  });

  it('a second call downloads nothing', async () => {
    const first = mirror.requests.length;
    const again = await resolveModel('test-org/tiny-flux', { ...opts(join(home, 'hub')) });
    assert.equal(again, snapshot);
    assert.ok(
      since(first).every((r) => r.url.startsWith('/api/')),
      'only metadata requests',
    );
  });

  it('offline (HF_HUB_OFFLINE=1): the cached snapshot, with no request at all', async () => {
    const first = mirror.requests.length;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      assert.equal(
        await resolveModel('test-org/tiny-flux', { cacheDir: join(home, 'hub'), endpoint: mirror.url }),
        snapshot,
      );
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(since(first).length, 0);
  });

  it('hub unreachable: falls back to the complete cached copy and says so', async () => {
    const lines: string[] = [];
    const dead = await closedPort();
    const got = await resolveModel('test-org/tiny-flux', {
      cacheDir: join(home, 'hub'),
      endpoint: dead,
      log: (l) => lines.push(l),
    });
    assert.equal(got, snapshot);
    assert.match(
      lines.join('\n'),
      /cannot reach http:\/\/127\.0\.0\.1:\d+ \(connection refused, ECONNREFUSED\); using the cached copy/,
    );
  });

  it('offline with a snapshot missing a blob names what is missing', async () => {
    const cache = join(tmp, 'broken-cache');
    await resolveModel('test-org/tiny-flux', opts(cache));
    const folder = join(cache, 'models--test-org--tiny-flux');
    const commit = readFileSync(join(folder, 'refs', 'main'), 'utf8');
    const link = join(folder, 'snapshots', commit, 'text_encoder/model.safetensors');
    rmSync(join(link, '..', readlinkSync(link)));
    await rejects(
      resolveModel('test-org/tiny-flux', { cacheDir: cache, offline: true }),
      'offline',
      /incomplete, missing text_encoder\/model\.safetensors/,
    );
    // Online, the missing blob is fetched again.
    await resolveModel('test-org/tiny-flux', opts(cache));
    assert.ok(existsSync(link));
  });
});

describe('resolveModel: transfers', () => {
  const pick = { allowPatterns: ['*.safetensors'] };

  it('a connection cut midway is resumed with a Range request, in the same call', async () => {
    const first = mirror.requests.length;
    const lines: string[] = [];
    const dir = await resolveModel('test-org/cut', {
      ...opts(freshCache()),
      ...pick,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(readFileSync(join(dir, 'weights.safetensors')), bytes(BIG, 3));
    // Node's fetch may drop the last chunks buffered before the cut: the resume starts where the
    // file on disk ends, at most at the cut.
    const lfs = since(first).filter((r) => r.url.startsWith('/lfs/'));
    assert.equal(lfs.length, 2);
    assert.equal(lfs[0]!.range, undefined);
    const from = Number(/^bytes=(\d+)-$/.exec(lfs[1]!.range ?? '')?.[1]);
    assert.ok(from > 0 && from <= CUT, `resumed at ${lfs[1]!.range}`);
    assert.match(
      lines.join('\n'),
      /^weights\.safetensors: connection lost \(the server closed the connection, UND_ERR_SOCKET\); resuming at \d+ kB of 300 kB$/,
    );
  });

  it('an interrupted download left on disk is continued by the next call', async () => {
    const cache = freshCache();
    await rejects(
      resolveModel('test-org/cut-again', { ...opts(cache), ...pick, retries: 0 }),
      'unreachable',
      /weights\.safetensors: connection lost after 1 attempt \(.*\) with \d+ kB of 300 kB on disk: run again to resume$/,
    );
    const blobs = join(cache, 'models--test-org--cut-again', 'blobs');
    const partial = join(blobs, readdirOne(blobs));
    assert.match(partial, /\.incomplete$/);
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept <= CUT, `${kept} bytes kept`);
    const first = mirror.requests.length;
    const dir = await resolveModel('test-org/cut-again', { ...opts(cache), ...pick });
    assert.deepEqual(readFileSync(join(dir, 'weights.safetensors')), bytes(BIG, 'cut-again'.length));
    assert.deepEqual(
      since(first)
        .filter((r) => r.url.startsWith('/lfs/'))
        .map((r) => r.range),
      [`bytes=${kept}-`],
    );
    assert.ok(!existsSync(partial));
  });

  it('a server that ignores Range (200 to a resume request) is read again from the start', async () => {
    const first = mirror.requests.length;
    const noRange: typeof fetch = (u, init) => {
      const headers = new Headers(init?.headers);
      headers.delete('range');
      return fetch(u, { ...init, headers });
    };
    const dir = await resolveModel('test-org/cut-norange', {
      ...opts(freshCache()),
      ...pick,
      fetch: noRange,
    });
    assert.deepEqual(readFileSync(join(dir, 'weights.safetensors')), bytes(BIG, 'cut-norange'.length));
    const lfs = since(first).filter((r) => r.url.startsWith('/lfs/'));
    assert.deepEqual(
      lfs.map((r) => r.range),
      [undefined, undefined],
    );
  });

  it('a file whose sha256 differs from the hub listing is rejected and nothing is kept', async () => {
    const cache = freshCache();
    await rejects(
      resolveModel('test-org/corrupt', { ...opts(cache), ...pick }),
      'corrupt',
      /weights\.safetensors: the downloaded bytes do not match the hub's sha256 .*discarded/,
    );
    const folder = join(cache, 'models--test-org--corrupt');
    assert.deepEqual(readdirAll(join(folder, 'blobs')), []);
    assert.ok(!existsSync(join(folder, 'snapshots')) || readdirAll(join(folder, 'snapshots')).length === 0);
  });

  it('an AbortSignal stops the download and keeps the partial file', async () => {
    const cache = freshCache();
    const ctrl = new AbortController();
    await rejects(
      resolveModel('test-org/abort', {
        ...opts(cache),
        ...pick,
        signal: ctrl.signal,
        onProgress: (p) => p.fileBytes > 0 && ctrl.abort(),
      }),
      'aborted',
      /weights\.safetensors: download cancelled .* on disk \(the next call resumes it\)/,
    );
  });
});

describe('resolveModel: errors a user meets', () => {
  it('a repo that does not exist (anonymous: the hub answers 401) mentions HF_TOKEN', async () => {
    await rejects(
      resolveModel('test-org/nope', opts(freshCache())),
      'not-found',
      /^test-org\/nope: no such model repo on http:\/\/127\.0\.0\.1:\d+: check the id; if the repo is private or gated, set HF_TOKEN/,
    );
  });

  it('a gated repo: 401 without a token, 403 with a token lacking access, downloads with one that has it', async () => {
    const cache = freshCache();
    const o = { ...opts(cache), allowPatterns: ['*'] };
    await rejects(resolveModel('test-org/gated', o), 'unauthorized', /access is restricted .*set HF_TOKEN/);
    await rejects(
      resolveModel('test-org/gated', { ...o, token: 'hf_other' }),
      'forbidden',
      /the token in HF_TOKEN has no access: accept the model.s terms/,
    );
    process.env.HF_TOKEN = 'hf_good';
    try {
      const dir = await resolveModel('test-org/gated', o);
      assert.ok(existsSync(join(dir, 'weights.safetensors')));
    } finally {
      delete process.env.HF_TOKEN;
    }
  });

  it('an unknown revision', async () => {
    await rejects(
      resolveModel('test-org/tiny-flux', { ...opts(freshCache()), revision: 'v9' }),
      'not-found',
      /test-org\/tiny-flux: no revision "v9"/,
    );
  });

  it('offline with an empty cache', async () => {
    const cache = freshCache();
    await rejects(
      resolveModel('test-org/tiny-flux', { cacheDir: cache, offline: true }),
      'offline',
      new RegExp(
        `not in the cache \\(${cache}\\) at revision main, and offline mode is on \\(HF_HUB_OFFLINE\\)`,
      ),
    );
  });

  it('unreachable hub and an empty cache', async () => {
    await rejects(
      resolveModel('test-org/tiny-flux', { cacheDir: freshCache(), endpoint: await closedPort() }),
      'unreachable',
      /cannot reach http:\/\/127\.0\.0\.1:\d+ \(connection refused, ECONNREFUSED\), and the cache .* has no complete copy/,
    );
  });

  it('a repo of another pipeline is refused before its weights are fetched', async () => {
    const first = mirror.requests.length;
    await rejects(
      resolveModel('test-org/sd', opts(freshCache())),
      'not-flux',
      /model_index\.json describes a StableDiffusionPipeline, not a FLUX\.1 pipeline/,
    );
    assert.ok(!since(first).some((r) => r.url.includes('unet')));
  });

  it('a repo without model_index.json asks for the single file', async () => {
    await rejects(
      resolveModel('test-org/cut', opts(freshCache())),
      'not-flux',
      /no model_index\.json, so not a diffusers FLUX\.1 folder; for a single-file checkpoint name the file: test-org\/cut\/weights\.safetensors/,
    );
  });
});

describe('resolveModel: ids and paths', () => {
  it('a local folder is returned as is, without a request', async () => {
    const first = mirror.requests.length;
    assert.equal(await resolveModel(root, opts(freshCache())), root);
    assert.equal(since(first).length, 0);
  });

  it('org/name/file.safetensors fetches that one file and returns its path', async () => {
    const first = mirror.requests.length;
    const p = await resolveModel('test-org/tiny-flux/flux1-tiny.safetensors', opts(freshCache()));
    assert.match(p, /snapshots\/[0-9a-f]{40}\/flux1-tiny\.safetensors$/);
    assert.deepEqual(readFileSync(p), bytes(5000, 1));
    assert.deepEqual(
      since(first)
        .filter((r) => !r.url.startsWith('/api/'))
        .map((r) => r.url.replace(/\?.*/, '').split('/')[1]),
      ['test-org', 'lfs'],
    );
  });

  it('malformed ids and missing paths', async () => {
    await rejects(resolveModel('./no/such/dir'), 'bad-id', /^\.\/no\/such\/dir: no such file or folder$/);
    await rejects(resolveModel('org/na me'), 'bad-id', /not a repo id \(a repo id uses only letters/);
    await rejects(resolveModel('a--b/c'), 'bad-id', /contains neither "--" nor "\.\."/);
    await rejects(resolveModel('org/name/sub/dir'), 'bad-id', /"org\/name\/file\.safetensors" for one file/);
  });
});

/** An endpoint where nothing listens (a port just freed). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

function readdirAll(d: string): string[] {
  return existsSync(d) ? (readdirSync(d) as string[]) : [];
}
function readdirOne(d: string): string {
  const all = readdirAll(d);
  assert.equal(all.length, 1, `${d}: ${all.join(', ')}`);
  return all[0]!;
}
