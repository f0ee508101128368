// The VAE encoder (img2img) against reference outputs made by tools/reference/sdxl-vae-encoder.py: a
// plain-PyTorch float64 re-implementation of diffusers' AutoencoderKL.encode on the weights of the
// sdxl_vae_a fixture, whose decoder half reproduces that fixture (diffusers' own output) to 1.4e-6.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../src/backend.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { AeEncoder, aeDecoderConfig, aeEncoderConfig, downsampledSize } from '../../src/models/ae/index.js';
import { aeEncoderShapes } from '../../src/models/ae/shapes.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import { sdxlVaeSource } from '../../src/models/sdxl-single-file.js';
import type { WeightSource } from '../../src/models/weights.js';
import { cpu, gpu, noF16, noGpu, relErr } from '../helpers.js';
import { relativeError } from './fixtures.js';
import { noSdxlFixture, openSdxlFixture, originalVaeTensors } from './sdxl-fixtures.js';

const REF = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../test/data/sdxl-vae-encoder-ref.safetensors',
);
const skip = noSdxlFixture('sdxl_vae_a') || (existsSync(REF) ? false : 'encoder reference not found');

async function encode(
  be: Backend,
  src: WeightSource,
  config: Record<string, unknown>,
  image: Float32Array,
  [B, , H, W]: number[],
  o: { dtype?: 'f32' | 'f16'; maxBandBytes?: number } = {},
) {
  const model = AeEncoder.load(be, src, { dtype: o.dtype, config });
  try {
    return await model.encode(image, B!, H!, W!, { maxBandBytes: o.maxBandBytes });
  } finally {
    model.dispose();
  }
}

describe('SDXL VAE encoder against the PyTorch reference (weights of sdxl_vae_a)', { skip }, () => {
  const { ck, config } = skip ? ({} as never) : openSdxlFixture('sdxl_vae_a');
  const ref = skip ? ({} as never) : Checkpoint.open(REF);
  const cases = ['a', 'b'] as const; // [1, 3, 16, 24] and [2, 3, 15, 22] (odd height: 15 -> 7)
  const input = (c: string) => ({
    image: ref.readF32(`in.sample_${c}`),
    shape: ref.info(`in.sample_${c}`).shape,
  });

  it('reads the encoder config: 2 levels, 1 block each, 8 groups, quant_conv, 4 latent channels', () => {
    const c = aeEncoderConfig(ck, config);
    assert.deepEqual(c.level_channels, [32, 64]);
    assert.equal(c.num_res_blocks, 1);
    assert.equal(c.groups, 8);
    assert.equal(c.z_channels, 4);
    assert.equal(c.in_ch, 3);
    assert.equal(c.quant_conv, true);
    assert.equal(c.scale_factor, 0.13025);
  });

  for (const [name, be, dtype, skipIt, tol] of [
    ['CPU f32', cpu, 'f32', false, 1e-4],
    ['WebGPU f32', gpu, 'f32', noGpu, 1e-4],
    ['WebGPU f16 (reported)', gpu, 'f16', noF16, 3e-2],
    ['CPU f16 (reported)', cpu, 'f16', false, 3e-2],
  ] as const) {
    for (const c of cases) {
      it(`${name} matches the latent mean and log-variance, case ${c}`, { skip: skipIt }, async () => {
        const { image, shape } = input(c);
        const got = await encode(be!, ck, config, image, shape, { dtype });
        assert.deepEqual(got.shape, ref.info(`out.mean_${c}`).shape);
        const e1 = relativeError(got.mean, ref.readF32(`out.mean_${c}`));
        const e2 = relativeError(got.logvar, ref.readF32(`out.logvar_${c}`));
        console.log(`  vae encoder ${name} ${c}: mean ${e1.toExponential(2)}, logvar ${e2.toExponential(2)}`);
        assert.ok(e1 <= tol && e2 <= tol, `relative errors ${e1}, ${e2}`);
      });
    }
  }

  it('row bands (forced tiling, odd band heights before rebanding) give the same latents, CPU and WebGPU', async () => {
    const { image, shape } = input('b');
    const whole = await encode(cpu, ck, config, image, shape);
    // 2 x 22 x 32 x 4 = 5632 bytes per row at level 0: bands of 7 rows (7, 7, 1), rebanded to 6 (6, 6, 3)
    // before the downsampling; the mid-block attention (39424 bytes) still fits
    const maxBandBytes = 40000;
    const tiled = await encode(cpu, ck, config, image, shape, { maxBandBytes });
    assert.ok(relErr(tiled.mean, whole.mean) <= 1e-5, `cpu tiled ${relErr(tiled.mean, whole.mean)}`);
    if (gpu) {
      const g = await encode(gpu, ck, config, image, shape, { maxBandBytes });
      assert.ok(relErr(g.mean, whole.mean) <= 1e-4, `gpu tiled ${relErr(g.mean, whole.mean)}`);
      assert.ok(relErr(g.logvar, whole.logvar) <= 1e-4);
    }
  });

  it('the original layout under first_stage_model. (single-file SDXL) gives the same latents', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toma-sdxl-vae-enc-'));
    try {
      const file = join(dir, 'single.safetensors');
      writeSafetensors(
        file,
        originalVaeTensors(
          ck,
          aeDecoderConfig(ck, config),
          'first_stage_model.',
          aeEncoderConfig(ck, config),
        ),
      );
      const single = Checkpoint.open(file);
      try {
        const vae = sdxlVaeSource(single);
        assert.ok(vae.has('encoder.down.0.downsample.conv.weight'));
        assert.ok(vae.has('quant_conv.weight'));
        const { image, shape } = input('a');
        const got = await encode(cpu, vae, { norm_num_groups: 8 }, image, shape);
        assert.ok(relativeError(got.mean, ref.readF32('out.mean_a')) <= 1e-4);
        const model = AeEncoder.load(cpu, vae, { config: { norm_num_groups: 8 } });
        const lat = model.latentsFromMean(got.mean);
        assert.ok(Math.abs(lat[5]! - got.mean[5]! * 0.13025) <= 1e-7);
        model.dispose();
      } finally {
        single.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses images that are too small or of the wrong size', async () => {
    const model = AeEncoder.load(cpu, ck, { config });
    await assert.rejects(model.encode(new Float32Array(3 * 1 * 5), 1, 1, 5), /too small for 1 downsamplings/);
    await assert.rejects(model.encode(new Float32Array(10), 1, 4, 4), /10 image values for \[1, 3, 4, 4\]/);
    model.dispose();
  });
});

describe('VAE encoder config and shapes', () => {
  it('round-trips through its shapes in both layouts; sizes after the downsampling', () => {
    const c = {
      in_ch: 3,
      z_channels: 4,
      level_channels: [16, 32, 32],
      num_res_blocks: 2,
      groups: 8,
      eps: 1e-6,
      quant_conv: true,
      scale_factor: 0.13025,
      shift_factor: 0,
    };
    for (const layout of ['original', 'diffusers'] as const) {
      const src = new RandomWeightSource('enc', aeEncoderShapes(c, layout));
      assert.deepEqual(aeEncoderConfig(src, { norm_num_groups: 8 }), c);
      assert.throws(() => aeEncoderConfig(src), /16 channels do not split into 32 GroupNorm groups/);
    }
    assert.deepEqual([16, 15, 2, 3].map(downsampledSize), [8, 7, 1, 1]);
  });
});
