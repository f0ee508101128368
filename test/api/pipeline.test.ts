// The public API from the package root: the one-call pipeline on the embedded model and on a tiny random
// FLUX.1 folder (CPU backend: fast and deterministic), its images, options, errors and cancellation.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { startHubMirror } from '../../src/hub/mirror-server.js';
import {
  CpuBackend,
  EmbeddedPipeline,
  GeneratedImage,
  GpuBackend,
  pipeline,
  TextToImagePipeline,
} from '../../src/index.js';
import { decodePng } from '../../src/io/png-decode.js';
import { gpu } from '../helpers.js';
import { tinyFolder } from '../pipeline/tiny-folder.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-api-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('pipeline() on the embedded model', async () => {
  const pipe = await pipeline('text-to-image', 'embedded', { backend: 'cpu' });
  after(() => pipe.dispose());

  it('loads on the asked backend with the CPU dtype and lists the classes (not the null class)', () => {
    assert.equal(pipe.pipeline.kind, 'embedded');
    assert.equal(pipe.pipeline.backend.name, 'cpu');
    assert.equal(pipe.pipeline.dtype, 'f32');
    const labels = pipe.pipeline.labels!;
    assert.ok(labels.includes('green-meadow'));
    assert.ok(!labels.includes('null'));
  });

  it('makes one RGBA image per class, seed + i each, the same as alone', async () => {
    const steps: number[] = [];
    const two = await pipe(['green-meadow', 'twilight-lake'], {
      steps: 2,
      width: 16,
      seed: 5,
      onProgress: (p) => {
        steps.push(p.step);
        assert.ok(p.etaMs >= 0 && Number.isFinite(p.etaMs));
      },
    });
    assert.deepEqual(steps, [1, 2]);
    assert.equal(two.length, 2);
    for (const [i, im] of two.entries()) {
      assert.ok(im instanceof GeneratedImage);
      assert.equal(im.width, 16);
      assert.equal(im.height, 16);
      assert.equal(im.data.length, 16 * 16 * 4);
      assert.equal(im.seed, 5 + i);
      assert.equal(im.method, 'toma 0.25 + fora 2');
      for (let p = 3; p < im.data.length; p += 4) assert.equal(im.data[p], 255);
    }
    assert.deepEqual(
      two.map((x) => x.label),
      ['green-meadow', 'twilight-lake'],
    );
    // the second image alone, from its own seed, is the same image
    const [alone] = await pipe('twilight-lake', { steps: 2, width: 16, seed: 6 });
    assert.deepEqual(alone!.data, two[1]!.data);
  });

  it('encodes PNG bytes that decode to its pixels, and saves atomically', async () => {
    const [im] = await pipe('green-meadow', { steps: 1, width: 8, height: 12, method: 'dense', cache: null });
    assert.equal(im!.method, 'dense');
    const png = await im!.toPNG();
    const back = decodePng(png, (z) => new Uint8Array(inflateSync(z)));
    assert.equal(back.width, 8);
    assert.equal(back.height, 12);
    assert.deepEqual(Array.from(back.data.subarray(0, 6)), Array.from(im!.rgb().subarray(0, 6)));
    const path = join(dir, 'meadow.png');
    await im!.save(path);
    assert.deepEqual(new Uint8Array(readFileSync(path)), png);
    assert.throws(() => im!.toImageData(), /ImageData/);
  });

  it('refuses unknown and ambiguous classes, naming the known ones', async () => {
    await assert.rejects(
      pipe('no-such-class', { steps: 1, width: 8 }),
      /no class "no-such-class".*green-meadow/,
    );
    await assert.rejects(pipe('null', { steps: 1, width: 8 }), /no class "null"/);
    await assert.rejects(pipe([], { steps: 1, width: 8 }), /at least one class/);
  });

  it('stops on an aborted signal', async () => {
    const c = new AbortController();
    c.abort();
    await assert.rejects(pipe('green-meadow', { steps: 3, width: 8, signal: c.signal }), {
      name: 'AbortError',
    });
  });
});

describe('TextToImagePipeline.fromPretrained', () => {
  it('refuses f16 on a backend without it, saying what to ask for instead (no CLI flags)', async (t) => {
    if (!gpu) return t.skip('no WebGPU adapter');
    const be = await GpuBackend.create({ disable: { f16: true } });
    try {
      await assert.rejects(
        TextToImagePipeline.fromPretrained('embedded', { backend: be, dtype: 'f16' }),
        (e: Error) => /dtype 'f16' needs .*use 'auto' or 'f32'/.test(e.message) && !/--/.test(e.message),
      );
      const p = await TextToImagePipeline.fromPretrained('embedded', { backend: be });
      assert.equal(p.dtype, 'f32');
      p.dispose();
    } finally {
      be.destroy();
    }
  });

  it('uses a backend it is given and leaves it alive on dispose', async () => {
    const be = new CpuBackend();
    const p = await TextToImagePipeline.fromPretrained('embedded', { backend: be });
    assert.ok(p instanceof EmbeddedPipeline);
    assert.equal(p.backend, be);
    p.dispose();
    be.tensor(new Float32Array(1), [1]).dispose(); // still usable
    be.destroy();
  });

  it('loads a FLUX.1 folder and takes prompts', async () => {
    const folder = await tinyFolder();
    const p = await TextToImagePipeline.fromPretrained(folder, { backend: 'cpu' });
    try {
      assert.equal(p.kind, 'flux');
      assert.equal(p.labels, undefined);
      const seen: number[] = [];
      const [im] = await p.generate('a red fox', {
        steps: 2,
        width: 32,
        height: 32,
        seed: 3,
        onProgress: (s) => seen.push(s.step),
      });
      assert.deepEqual(seen, [1, 2]);
      assert.equal(im!.width, 32);
      assert.equal(im!.label, 'a red fox');
      assert.equal(im!.method, 'dense');
      // live previews (TAEF1) every step but the last, as images; TAEF1 as the final decoder
      const previews: number[] = [];
      const [fast] = await p.generate('a red fox', {
        steps: 3,
        width: 32,
        height: 48,
        previewEvery: 1,
        decoder: 'taef1',
        onProgress: (s) => {
          for (const pv of s.previews ?? []) {
            assert.equal(pv.width, 32);
            assert.equal(pv.height, 48);
            previews.push(s.step);
          }
        },
      });
      assert.deepEqual(previews, [1, 2]);
      assert.equal(fast!.height, 48);
    } finally {
      p.dispose();
    }
  });

  it('downloads a hub repo id into the Hugging Face cache (HF_HOME, HF_ENDPOINT), then loads it offline', async () => {
    const root = join(dir, 'hub-root');
    cpSync(await tinyFolder(), join(root, 'test-org/tiny-flux'), { recursive: true });
    const mirror = await startHubMirror({ root });
    const saved = {
      home: process.env.HF_HOME,
      endpoint: process.env.HF_ENDPOINT,
      offline: process.env.HF_HUB_OFFLINE,
    };
    process.env.HF_HOME = join(dir, 'hf-home');
    process.env.HF_ENDPOINT = mirror.url;
    try {
      const files = new Set<string>();
      const p = await TextToImagePipeline.fromPretrained('test-org/tiny-flux', {
        backend: 'cpu',
        onLoadProgress: (l) => files.add(l.what),
      });
      assert.equal(p.kind, 'flux');
      assert.ok(
        [...files].some((f) => f.startsWith('transformer/')),
        `progress named ${[...files].join(', ')}`,
      );
      p.dispose();
      await mirror.close();
      process.env.HF_HUB_OFFLINE = '1';
      const again = await TextToImagePipeline.fromPretrained('test-org/tiny-flux', { backend: 'cpu' });
      const [im] = await again.generate('offline', { steps: 1, width: 32, height: 32 });
      assert.equal(im!.width, 32);
      again.dispose();
    } finally {
      await mirror.close().catch(() => {});
      for (const [k, v] of [
        ['HF_HOME', saved.home],
        ['HF_ENDPOINT', saved.endpoint],
        ['HF_HUB_OFFLINE', saved.offline],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('says what is wrong with a path that is neither a file nor a repo id', async () => {
    await assert.rejects(
      TextToImagePipeline.fromPretrained(join(dir, 'nothing/here/at/all'), { backend: 'cpu' }),
      /no such file or folder/,
    );
  });
});
