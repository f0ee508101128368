// Checkpoint loading: both key layouts, single and sharded files, stored f32/f16/bf16, errors that name
// the key, config from metadata or from shapes; and the config, ids and timestep-embedding helpers.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../../../src/io/safetensors.js';
import { toLayout } from '../../../src/models/flux/checkpoint-writer.js';
import {
  canonicalShapes,
  configFromCheckpoint,
  FLUX_PRESETS,
  type FluxConfig,
  FluxModel,
  gridFromImageIds,
  imageIds,
  loadParams,
  parseConfig,
  textIds,
  timestepEmbedding,
  validateConfig,
} from '../../../src/models/flux/index.js';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/util/f16.js';
import { cpu } from '../../helpers.js';
import { micro, microNoGuidance, randomCheckpoint, tmp } from './util.js';

const roundF16 = (a: Float32Array) => a.map((v) => f16BitsToF32(f32ToF16Bits(v)));
const roundBf16 = (a: Float32Array) => {
  const u = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i++) u[i] = f32ToBf16Bits(a[i]!) << 16;
  return new Float32Array(u.buffer);
};

/** The device tensor named `name` of a loaded model, on the CPU backend. */
async function param(model: FluxModel, name: string): Promise<Float32Array> {
  return model.params.dense(name).read();
}

describe('Flux config', () => {
  it('flux-dev has the released model size: 780 tensors, 11,901,408,320 parameters', () => {
    const shapes = canonicalShapes(FLUX_PRESETS['flux-dev']!);
    let n = 0;
    for (const s of shapes.values()) n += s.reduce((a, b) => a * b, 1);
    assert.equal(shapes.size, 780);
    assert.equal(n, 11_901_408_320);
    assert.equal(canonicalShapes(FLUX_PRESETS['flux-schnell']!).size, 776); // no guidance_in
  });

  it('parses presets, official JSON and diffusers JSON; names inconsistent fields', () => {
    for (const p of Object.values(FLUX_PRESETS)) validateConfig(p);
    assert.deepEqual(parseConfig('flux-tiny'), FLUX_PRESETS['flux-tiny']);
    assert.deepEqual(parseConfig(JSON.stringify(micro)), micro);
    const diffusers = {
      _class_name: 'FluxTransformer2DModel',
      patch_size: 1,
      in_channels: 64,
      num_layers: 19,
      num_single_layers: 38,
      attention_head_dim: 128,
      num_attention_heads: 24,
      joint_attention_dim: 4096,
      pooled_projection_dim: 768,
      guidance_embeds: true,
      axes_dims_rope: [16, 56, 56],
    };
    assert.deepEqual(parseConfig(JSON.stringify(diffusers)), FLUX_PRESETS['flux-dev']);
    assert.throws(() => parseConfig('flux-xl'), /unknown config "flux-xl"/);
    assert.throws(() => parseConfig(JSON.stringify({ ...micro, axes_dim: [4, 4, 6] })), /sums to 14/);
    assert.throws(() => parseConfig(JSON.stringify({ ...micro, num_heads: 5 })), /not divisible/);
    const { depth: _, ...noDepth } = micro;
    assert.throws(() => parseConfig(JSON.stringify(noDepth)), /missing field\(s\) depth/);
  });
});

describe('Flux position ids and timestep embedding', () => {
  it('image ids are (0, row, col) in raster order for non-square grids and batches; text ids are zeros', () => {
    const ids = imageIds(2, 3, 5);
    assert.equal(ids.length, 2 * 15 * 3);
    // token 7 = row 1, col 2, in both batch elements
    assert.deepEqual(Array.from(ids.subarray(7 * 3, 8 * 3)), [0, 1, 2]);
    assert.deepEqual(Array.from(ids.subarray((15 + 7) * 3, (15 + 8) * 3)), [0, 1, 2]);
    assert.deepEqual(gridFromImageIds(ids, 2, 15), [3, 5]);
    assert.deepEqual(gridFromImageIds(imageIds(1, 5, 3), 1, 15), [5, 3]);
    const shifted = imageIds(1, 3, 5);
    shifted[0] = 1; // a Kontext-style first component: not a plain grid
    assert.equal(gridFromImageIds(shifted, 1, 15), null);
    assert.ok(textIds(2, 9).every((v) => v === 0));
    assert.equal(textIds(2, 9).length, 54);
  });

  it('timestep embedding: [cos | sin] of 1000·t·10000^(-j/128), rounded step by step like f32 PyTorch', () => {
    const e = timestepEmbedding([0, 0.25, 1]);
    assert.equal(e.length, 3 * 256);
    for (let j = 0; j < 128; j++) {
      assert.equal(e[j], 1);
      assert.equal(e[128 + j], 0);
    }
    for (const [b, t] of [
      [1, 0.25],
      [2, 1],
    ] as const) {
      for (let j = 0; j < 128; j++) {
        const arg = 1000 * t * Math.exp((-Math.log(10000) * j) / 128);
        // f32 rounding of the argument (up to ~1000 rad) allows ~1e-4 differences from the f64 formula
        assert.ok(Math.abs(e[b * 256 + j]! - Math.cos(arg)) < 2e-4);
        assert.ok(Math.abs(e[b * 256 + 128 + j]! - Math.sin(arg)) < 2e-4);
      }
    }
  });
});

describe('Flux checkpoint loading', () => {
  it('original layout, one f32 file: every parameter arrives, linear1/linear2 split into their parts', async () => {
    const { path, params } = randomCheckpoint(micro);
    const model = FluxModel.load(cpu, path, { dtype: 'f32' });
    assert.deepEqual(model.config, micro);
    const H = micro.hidden_size;
    const M = H * micro.mlp_ratio;
    assert.deepEqual(await param(model, 'img_in.weight'), params.get('img_in.weight'));
    const l1 = params.get('single_blocks.1.linear1.weight')!;
    assert.deepEqual(await param(model, 'single_blocks.1.linear1.qkv.weight'), l1.subarray(0, 3 * H * H));
    assert.deepEqual(await param(model, 'single_blocks.1.linear1.mlp.weight'), l1.subarray(3 * H * H));
    const l2 = params.get('single_blocks.1.linear2.weight')!; // [H, H + M]
    const attnCols = await param(model, 'single_blocks.1.linear2.attn.weight');
    const mlpCols = await param(model, 'single_blocks.1.linear2.mlp.weight');
    for (const r of [0, 17, H - 1]) {
      assert.deepEqual(attnCols.subarray(r * H, (r + 1) * H), l2.subarray(r * (H + M), r * (H + M) + H));
      assert.deepEqual(mlpCols.subarray(r * M, (r + 1) * M), l2.subarray(r * (H + M) + H, (r + 1) * (H + M)));
    }
    model.dispose();
  });

  for (const [layout, shards, dtype] of [
    ['diffusers', 1, 'F32'],
    ['diffusers', 3, 'BF16'],
    ['original', 4, 'F16'],
  ] as const) {
    it(`${layout} layout, ${shards > 1 ? `${shards} shards with an index` : 'one file'}, stored ${dtype}: same parameters as the original layout`, async () => {
      const { path, params } = randomCheckpoint(micro, { layout, shards, dtype, seed: 5 });
      if (shards > 1) assert.match(path, /\.safetensors\.index\.json$/);
      const model = FluxModel.load(cpu, path, { dtype: 'f32' });
      const round = dtype === 'F16' ? roundF16 : dtype === 'BF16' ? roundBf16 : (a: Float32Array) => a;
      for (const k of [
        'double_blocks.0.img_attn.qkv.weight',
        'double_blocks.0.txt_attn.qkv.bias',
        'double_blocks.0.txt_attn.norm.key_norm.scale',
        'double_blocks.0.img_mlp.2.weight',
        'final_layer.adaLN_modulation.1.weight',
        'final_layer.adaLN_modulation.1.bias',
        'time_in.out_layer.bias',
        'guidance_in.in_layer.weight',
        'vector_in.in_layer.weight',
        'single_blocks.0.linear2.bias',
      ])
        assert.deepEqual(await param(model, k), round(params.get(k)!), k);
      const H = micro.hidden_size;
      assert.deepEqual(
        await param(model, 'single_blocks.0.linear1.mlp.bias'),
        round(params.get('single_blocks.0.linear1.bias')!.subarray(3 * H)),
      );
      model.dispose();
    });
  }

  it('diffusers stores the final adaLN as (scale, shift): the halves are swapped on load', () => {
    const { params } = randomCheckpoint(micro, { seed: 9 });
    const stored = toLayout(params, micro, 'diffusers');
    const H = micro.hidden_size;
    const canon = params.get('final_layer.adaLN_modulation.1.bias')!; // (shift, scale)
    const diff = stored.get('norm_out.linear.bias')!; // (scale, shift)
    assert.deepEqual(diff.subarray(0, H), canon.subarray(H));
    assert.deepEqual(diff.subarray(H), canon.subarray(0, H));
    assert.deepEqual(
      stored.get('transformer_blocks.0.attn.to_k.weight'),
      params.get('double_blocks.0.img_attn.qkv.weight')!.subarray(H * H, 2 * H * H),
    );
    assert.deepEqual(
      stored.get('single_transformer_blocks.1.proj_mlp.bias'),
      params.get('single_blocks.1.linear1.bias')!.subarray(3 * H),
    );
  });

  it('f16 compute: stored f32 is rounded to f16 on load', async () => {
    const { path, params } = randomCheckpoint(micro, { seed: 11 });
    const model = FluxModel.load(cpu, path, { dtype: 'f16' });
    assert.equal(model.params.dense('txt_in.weight').dtype, 'f16');
    assert.deepEqual(await param(model, 'txt_in.weight'), roundF16(params.get('txt_in.weight')!));
    model.dispose();
  });

  it('config from __metadata__.config, or inferred from the shapes (both layouts)', () => {
    const d128: FluxConfig = {
      ...micro,
      hidden_size: 128,
      num_heads: 1,
      axes_dim: [16, 56, 56],
      guidance_embed: false,
    };
    for (const layout of ['original', 'diffusers'] as const) {
      const { path } = randomCheckpoint(d128, { layout, withConfig: false });
      const ck = Checkpoint.open(path);
      assert.deepEqual(configFromCheckpoint(ck), { config: d128, source: 'shapes' });
      ck.close();
    }
    const { path } = randomCheckpoint(micro, { layout: 'diffusers', withConfig: false });
    assert.throws(
      () => configFromCheckpoint(Checkpoint.open(path)),
      /head dimension 16 differs from Flux's 128/,
    );
    const withMeta = Checkpoint.open(randomCheckpoint(microNoGuidance).path);
    assert.deepEqual(configFromCheckpoint(withMeta), { config: microNoGuidance, source: 'metadata' });
  });

  it('names the key: missing, unexpected, wrong shape, non-float dtype; unknown layouts; bad files', () => {
    const { params } = randomCheckpoint(micro, { seed: 3 });
    const base: Record<string, TensorToWrite> = Object.fromEntries(
      [...toLayout(params, micro, 'original')].map(([k, data]) => [
        k,
        { dtype: 'F32' as const, shape: canonicalShapes(micro).get(k)!, data },
      ]),
    );
    const write = (name: string, tensors: typeof base) => {
      const p = join(tmp, name);
      writeSafetensors(p, tensors);
      return p;
    };
    const load =
      (p: string, config = micro) =>
      () =>
        loadParams(cpu, Checkpoint.open(p), config, { dtype: 'f32' });

    const { 'double_blocks.0.txt_mlp.0.bias': _, ...missing } = base;
    assert.throws(
      load(write('missing.safetensors', missing)),
      /missing key "double_blocks\.0\.txt_mlp\.0\.bias"/,
    );
    const extra = {
      ...base,
      'double_blocks.1.img_mod.lin.weight': base['double_blocks.0.img_mod.lin.weight']!,
    };
    assert.throws(
      load(write('extra.safetensors', extra)),
      /unexpected key "double_blocks\.1\.img_mod\.lin\.weight": not a parameter of this config \(config: hidden_size 48, depth 1/,
    );
    const H = micro.hidden_size;
    const wrong = {
      ...base,
      'txt_in.weight': { dtype: 'F32' as const, shape: [H, 21], data: new Float32Array(H * 21) },
    };
    assert.throws(
      load(write('shape.safetensors', wrong)),
      /"txt_in\.weight" has shape \[48, 21\], expected \[48, 20\]/,
    );
    const ints = {
      ...base,
      'img_in.bias': { dtype: 'I32' as const, shape: [H], data: new Array(H).fill(1) },
    };
    assert.throws(
      load(write('int.safetensors', ints)),
      /"img_in\.bias" is stored as I32; expected a float dtype/,
    );
    // a config that does not match the file: every block of the file is unexpected or missing
    assert.throws(
      load(write('ok.safetensors', base), { ...micro, depth: 2 }),
      /missing keys "double_blocks\.1\./,
    );
    const alien = write('alien.safetensors', { 'encoder.weight': base['img_in.weight']! });
    assert.throws(load(alien), /not a Flux transformer checkpoint: found neither img_in\.weight/);

    const ok = readFileSync(join(tmp, 'ok.safetensors'));
    const truncated = join(tmp, 'truncated.safetensors');
    writeFileSync(truncated, ok.subarray(0, ok.length - 100));
    assert.throws(
      () => FluxModel.load(cpu, truncated, { dtype: 'f32', config: micro }),
      /truncated: tensor "/,
    );
    const badHeader = join(tmp, 'badheader.safetensors');
    writeFileSync(
      badHeader,
      Buffer.concat([ok.subarray(0, 8), Buffer.from('{"img_in.weight": ['), ok.subarray(27)]),
    );
    assert.throws(
      () => FluxModel.load(cpu, badHeader, { dtype: 'f32', config: micro }),
      /header is not valid JSON/,
    );
  });

  it('fixture inputs stored beside the weights can be ignored by name', () => {
    const { path } = randomCheckpoint(micro, {
      extra: { 'in.img': { dtype: 'F32', shape: [2], data: [1, 2] } },
    });
    assert.throws(() => FluxModel.load(cpu, path, { dtype: 'f32' }), /unexpected key "in\.img"/);
    FluxModel.load(cpu, path, { dtype: 'f32', ignoreKeys: (k) => k.startsWith('in.') }).dispose();
  });
});
