// The SDXL presets and random-folder layouts against the release: the sdxl-base preset is what the
// loaders make of the release configs (models/configs/stable-diffusion-xl-base-1.0) over its shapes, with
// SDXL's known parameter counts; the single-file layout's names map back to the diffusers ones through
// the loaders' own views.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { aeDecoderConfig } from '../../src/models/ae/config.js';
import { aeDecoderShapes } from '../../src/models/ae/shapes.js';
import { clipTextConfig } from '../../src/models/clip/config.js';
import { openClipTextSource } from '../../src/models/clip/openclip.js';
import { clipTextShapes } from '../../src/models/clip/shapes.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import { unetConfig } from '../../src/models/unet/config.js';
import { unetShapes } from '../../src/models/unet/shapes.js';
import { SDXL_PRESETS, sdxlPreset } from '../../src/pipeline/sdxl-presets.js';
import {
  openClipTextShapes,
  presetSizes,
  randomSdxlFolderBytes,
  sdxlSingleFileShapes,
} from '../../src/pipeline/sdxl-random.js';

const release = (rel: string) =>
  JSON.parse(
    readFileSync(
      new URL(`../../../models/configs/stable-diffusion-xl-base-1.0/${rel}`, import.meta.url),
      'utf8',
    ),
  ) as Record<string, unknown>;
const params = (m: Map<string, number[]>) =>
  [...m.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
const src = (m: Map<string, number[]>) => new RandomWeightSource('preset', m);

describe('SDXL presets', () => {
  const base = sdxlPreset('sdxl-base');

  it('sdxl-base is what the loaders read from the release configs over its shapes', () => {
    assert.deepEqual(unetConfig(src(unetShapes(base.unet)), release('unet/config.json')), base.unet);
    assert.deepEqual(
      clipTextConfig(src(clipTextShapes(base.clipL)), release('text_encoder/config.json')),
      base.clipL,
    );
    assert.deepEqual(
      clipTextConfig(src(clipTextShapes(base.clipG)), release('text_encoder_2/config.json')),
      base.clipG,
    );
    assert.deepEqual(
      aeDecoderConfig(src(aeDecoderShapes(base.vae, 'diffusers')), release('vae/config.json')),
      base.vae,
    );
  });

  it("sdxl-base has SDXL's parameter counts and sizes", () => {
    assert.equal(params(unetShapes(base.unet)), 2_567_463_684);
    assert.equal(params(clipTextShapes(base.clipL)), 123_060_480);
    assert.equal(params(clipTextShapes(base.clipG)), 694_659_840);
    const s = presetSizes(base);
    assert.deepEqual(s.unet, {
      inChannels: 4,
      outChannels: 4,
      contextWidth: 2048,
      pooledWidth: 1280,
      sampleSize: 128,
      downsamplings: 2,
    });
    assert.deepEqual(s.vae, { latentChannels: 4, scale: 8 });
    // f16 weights of all four parts (the VAE's decoder side): about 6.9 GB
    const gb = randomSdxlFolderBytes(base) / 1e9;
    assert.ok(gb > 6.8 && gb < 7.0, `${gb} GB`);
  });

  it("the single-file names cover every diffusers tensor through the loaders' views", () => {
    for (const name of Object.keys(SDXL_PRESETS)) {
      const p = sdxlPreset(name);
      const single = sdxlSingleFileShapes(p);
      const view = openClipTextSource(src(single), 'conditioner.embedders.1.model.');
      const want = clipTextShapes(p.clipG);
      assert.deepEqual(view.keys().sort(), [...want.keys()].sort(), name);
      for (const [k, s] of want) assert.deepEqual(view.info(k).shape, s, k);
      assert.equal(params(single), randomSdxlFolderBytes(p) / 2);
      assert.equal(params(openClipTextShapes(p.clipG)), params(want));
      // the UNet reads its SGM names under model.diffusion_model.
      assert.deepEqual(unetConfig(src(single), {}).block_out_channels, p.unet.block_out_channels);
    }
  });

  it('unknown presets are named', () => {
    assert.throws(
      () => sdxlPreset('constructor'),
      /unknown SDXL preset "constructor" \(sdxl-tiny, sdxl-base\)/,
    );
  });
});
