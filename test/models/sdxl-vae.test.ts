import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { nhwcToNchw } from '../../src/cpu/conv.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { AeDecoder, aeDecoderConfig, SDXL_VAE_SCALE } from '../../src/models/ae/index.js';
import { aeConfigJson, aeDecoderShapes } from '../../src/models/ae/shapes.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import { isSdxlSingleFile, sdxlVaeSource } from '../../src/models/sdxl-single-file.js';
import { WeightError, type WeightSource } from '../../src/models/weights.js';
import { cpu, gpu, noF16, noGpu } from '../helpers.js';
import { relativeError } from './fixtures.js';
import { noSdxlFixture, openSdxlFixture, originalVaeTensors } from './sdxl-fixtures.js';

const NAME = 'sdxl_vae_a';
const skip = noSdxlFixture(NAME);
/** diffusers' AutoencoderKL.decode(z): no latent scaling (the pipeline divides by scaling_factor first). */
const UNSCALED = { scaling_factor: 1, shift_factor: 0 };

async function decodeNchw(
  be: Backend,
  src: WeightSource,
  config: Record<string, unknown>,
  z: Float32Array,
  [B, , h, w]: number[],
  dtype: 'f32' | 'f16' = 'f32',
): Promise<Float32Array> {
  const model = AeDecoder.load(be, src, { dtype, config });
  try {
    const img = await model.decode(z, B!, h!, w!);
    const [, H, W, C] = img.shape;
    return nhwcToNchw(img.data, B!, H, W, C);
  } finally {
    model.dispose();
  }
}

describe('SDXL VAE decoder on the sdxl_vae_a fixture', { skip }, () => {
  const { ck, config } = skip ? ({} as never) : openSdxlFixture(NAME);
  const z = skip ? new Float32Array() : ck.readF32('in.z');
  const zShape = skip ? [] : ck.info('in.z').shape;
  const want = skip ? new Float32Array() : ck.readF32('out.sample');

  it('reads the config: 4 latent channels, post_quant_conv, 8 groups, SDXL scaling', () => {
    const c = aeDecoderConfig(ck, config);
    assert.equal(c.z_channels, 4);
    assert.equal(c.post_quant_conv, true);
    assert.equal(c.groups, 8);
    assert.deepEqual(c.level_channels, [32, 64]);
    assert.equal(c.num_res_blocks, 1);
    assert.equal(c.scale_factor, 0.13025);
    assert.equal(c.shift_factor, 0, 'shift_factor null in the config: none');
  });

  for (const [name, be, dtype, skipIt, tol] of [
    ['CPU f32', cpu, 'f32', false, 1e-4],
    ['WebGPU f32', gpu, 'f32', noGpu, 1e-4],
    ['WebGPU f16 (reported)', gpu, 'f16', noF16, 3e-2],
    ['CPU f16 (reported)', cpu, 'f16', false, 3e-2],
  ] as const) {
    it(`${name} matches decode(in.z)`, { skip: skipIt }, async () => {
      const got = await decodeNchw(be!, ck, { ...config, ...UNSCALED }, z, zShape, dtype);
      const err = relativeError(got, want);
      console.log(`  sdxl vae ${name} max relative error ${err.toExponential(2)}`);
      assert.ok(err <= tol, `relative error ${err}`);
    });
  }

  it("with the config's scaling, decoding scaling_factor x z is decode(z) (what the pipeline does)", async () => {
    const scaled = z.map((v) => v * SDXL_VAE_SCALE.scale_factor);
    const got = await decodeNchw(cpu, ck, config, scaled, zShape);
    assert.ok(relativeError(got, want) <= 1e-4);
  });

  it('post_quant_conv and the group count matter (the fixture tells them apart)', async () => {
    const noPqc = {
      path: 'no-post-quant-conv',
      keys: () => ck.keys().filter((k) => !k.startsWith('post_quant_conv.')),
      has: (k: string) => !k.startsWith('post_quant_conv.') && ck.has(k),
      info: (k: string) => ck.info(k),
      readF32: (k: string) => ck.readF32(k),
      readF16Bits: (k: string) => ck.readF16Bits(k),
    };
    const a = await decodeNchw(cpu, noPqc, UNSCALED, z, zShape);
    assert.ok(relativeError(a, want) > 1e-3);
    const b = await decodeNchw(cpu, ck, { ...UNSCALED, norm_num_groups: 32 }, z, zShape);
    assert.ok(relativeError(b, want) > 1e-3);
  });

  it('the original layout under first_stage_model. (single-file SDXL) gives the same image', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toma-sdxl-vae-'));
    try {
      const file = join(dir, 'single.safetensors');
      const c = aeDecoderConfig(ck, config);
      writeSafetensors(file, originalVaeTensors(ck, c, 'first_stage_model.'));
      const single = Checkpoint.open(file);
      try {
        assert.ok(!isSdxlSingleFile(single), 'no text encoders in this file');
        const vae = sdxlVaeSource(single);
        assert.ok(vae.has('decoder.up.1.block.0.conv1.weight'));
        assert.ok(vae.has('decoder.mid.attn_1.proj_out.weight'));
        assert.deepEqual(vae.info('decoder.mid.attn_1.q.weight').shape, [64, 64, 1, 1]);
        assert.ok(vae.has('post_quant_conv.weight'));
        // a single file has no config.json: post_quant_conv says SDXL's scaling; the groups are given
        const got = await decodeNchw(cpu, vae, { norm_num_groups: 8, ...UNSCALED }, z, zShape);
        assert.ok(relativeError(got, want) <= 1e-4, `relative error ${relativeError(got, want)}`);
        assert.deepEqual(
          { ...aeDecoderConfig(vae, { norm_num_groups: 8 }), level_channels: [] },
          { ...c, level_channels: [] },
        );
      } finally {
        single.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SDXL VAE config', () => {
  const sdxl = {
    z_channels: 4,
    out_ch: 3,
    level_channels: [32, 32, 64],
    num_res_blocks: 1,
    ...SDXL_VAE_SCALE,
    groups: 8,
    eps: 1e-6,
    post_quant_conv: true,
  };
  it('round-trips through its shapes and config.json in both layouts', () => {
    for (const layout of ['original', 'diffusers'] as const) {
      const json = aeConfigJson(sdxl);
      assert.equal(json.use_post_quant_conv, true);
      assert.equal(json.shift_factor, null);
      assert.deepEqual(
        aeDecoderConfig(new RandomWeightSource('vae', aeDecoderShapes(sdxl, layout)), json),
        sdxl,
      );
    }
  });
  it('defaults without a config: SDXL scaling where there is a post_quant_conv, 32 groups', () => {
    const c = aeDecoderConfig(
      new RandomWeightSource('vae', aeDecoderShapes({ ...sdxl, groups: 32 }, 'original')),
    );
    assert.equal(c.scale_factor, 0.13025);
    assert.equal(c.shift_factor, 0);
    assert.equal(c.groups, 32);
  });
  it('refuses a group count that does not divide the channels, a zero scale, a missing post_quant_conv', () => {
    const src = new RandomWeightSource('vae', aeDecoderShapes(sdxl, 'diffusers'));
    assert.throws(() => aeDecoderConfig(src, { norm_num_groups: 5 }), /do not split into 5 GroupNorm groups/);
    assert.throws(() => aeDecoderConfig(src, { scaling_factor: 0 }), /must not be 0/);
    const without = new RandomWeightSource(
      'vae',
      aeDecoderShapes({ ...sdxl, post_quant_conv: false }, 'diffusers'),
    );
    assert.throws(() => aeDecoderConfig(without, { use_post_quant_conv: true }), WeightError);
    assert.throws(() => sdxlVaeSource(src), /no tensor starts with "first_stage_model\."/);
  });
});
