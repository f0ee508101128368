// The public API on a tiny random SDXL folder (CPU backend): TextToImagePipeline.fromPretrained tells SDXL
// from FLUX.1 by the folder, generate() makes one image per prompt (seed + i, the same as alone), the
// SDXL options (negative prompt, scheduler, TAESDXL decoder and previews) reach the pipeline, and the
// errors of options SDXL does not take.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SdxlTextToImage } from '../../src/index.js';
import { GeneratedImage, pipeline, TextToImagePipeline } from '../../src/index.js';
import { tinySdxlFolder } from '../pipeline/sdxl-tiny-folder.js';

const call = { width: 16, height: 32, steps: 2 };

describe('the public API with an SDXL model', async () => {
  const pipe = await pipeline('text-to-image', await tinySdxlFolder(), { backend: 'cpu' });

  it('loads as SDXL, any prompt', () => {
    assert.equal(pipe.pipeline.kind, 'sdxl');
    assert.equal(pipe.pipeline.labels, undefined);
    assert.equal(pipe.pipeline.dtype, 'f32');
    const sdxl = pipe.pipeline as SdxlTextToImage;
    assert.equal(sdxl.components.sizes.vae.latentChannels, 4);
  });

  it('one image per prompt, seed + i each, the same as alone', async () => {
    const steps: number[] = [];
    const two = await pipe(['a cat', 'a dog'], { ...call, seed: 5, onProgress: (p) => steps.push(p.step) });
    assert.equal(two.length, 2);
    assert.ok(two[0] instanceof GeneratedImage);
    assert.deepEqual([two[0]!.width, two[0]!.height, two[0]!.seed, two[1]!.seed], [16, 32, 5, 6]);
    assert.equal(two[0]!.method, 'dense');
    assert.deepEqual(steps, [1, 2, 1, 2]);
    const [dog] = await pipe('a dog', { ...call, seed: 6 });
    assert.deepEqual(dog!.data, two[1]!.data);
  });

  it('negative prompt and scheduler change the image; TAESDXL decodes and previews', async () => {
    const [plain] = await pipe('a cat', call);
    const [neg] = await pipe('a cat', { ...call, negativePrompt: 'fog' });
    const [anc] = await pipe('a cat', { ...call, scheduler: 'euler-a' });
    assert.notDeepEqual(neg!.data, plain!.data);
    assert.notDeepEqual(anc!.data, plain!.data);
    const previews: GeneratedImage[] = [];
    const [tiny] = await pipe('a cat', {
      ...call,
      steps: 3,
      decoder: 'taesdxl',
      previewEvery: 1,
      onProgress: (p) => previews.push(...(p.previews ?? [])),
    });
    assert.equal(tiny!.width, 16);
    assert.deepEqual(
      previews.map((p) => p.method),
      ['preview at step 1', 'preview at step 2'],
    );
  });

  it('ToMA, ToMeSD and ToDo reduce the UNet (its defaults, or the options given)', async () => {
    const at = { ...call, width: 64, height: 64 };
    const [dense] = await pipe('a cat', at);
    for (const method of ['toma', 'tomesd', 'todo'] as const) {
      const [img] = await pipe('a cat', { ...at, method, methodOptions: { levels: [1, 2] } });
      assert.equal(img!.method, method);
      assert.notDeepEqual(img!.data, dense!.data, `${method} changes the image`);
    }
    const [none] = await pipe('a cat', { ...at, method: 'toma', methodOptions: { ratio: 0 } });
    assert.deepEqual(none!.data, dense!.data, 'ratio 0 is dense');
    await assert.rejects(
      pipe('a cat', { ...call, method: 'toma', methodOptions: { unetScope: 'mlp' as never } }),
      /unetScope must be one of 'self-attention', 'block'/,
    );
  });

  it('refuses what SDXL does not take', async () => {
    await assert.rejects(
      pipe('a cat', { ...call, method: 'hilbert' }),
      /method "hilbert" reorders FLUX's joint attention and has no UNet form/,
    );
    await assert.rejects(
      pipe('a cat', { ...call, cache: 'fbcache:0.1' }),
      /step cache "fbcache" probes a diffusion transformer's first block.*only fora:N/,
    );
    await assert.rejects(
      pipe('a cat', { ...call, decoder: 'taef1' }),
      /SDXL decodes with 'ae' \(its VAE\) or 'taesdxl'/,
    );
  });

  it('fromPretrained takes the single-file release too', async () => {
    const single = await TextToImagePipeline.fromPretrained(
      `${await tinySdxlFolder('single-file')}/sd_xl_base_1.0.safetensors`,
      { backend: 'cpu' },
    );
    try {
      assert.equal(single.kind, 'sdxl');
      const [img] = await single.generate('a cat', { ...call, steps: 1 });
      assert.equal(img!.data.length, 16 * 32 * 4);
    } finally {
      single.dispose();
    }
    pipe.dispose();
  });
});
