import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../../src/backend.js';
import { UnetForaCache } from '../../src/cache/unet-fora.js';
import { nchwToNhwc, nhwcToNchw } from '../../src/cpu/conv.js';
import { Checkpoint } from '../../src/io/safetensors.js';
import type { UnetBlockSite, UnetScope, UnetTokenReducer } from '../../src/merge/hooks.js';
import {
  SGM_PREFIX,
  sgmKeyMap,
  type UnetConfig,
  UnetModel,
  unetConfig,
  unetConfigFromJson,
  unetConfigJson,
  unetShapes,
} from '../../src/models/unet/index.js';
import type { WeightSource } from '../../src/models/weights.js';
import type { Tensor } from '../../src/tensor.js';
import { cpu, gpu, noF16, noGpu, relErr, rng } from '../helpers.js';
import { FIXTURES, noFixtures, relativeError } from './fixtures.js';
import { MemorySource } from './memory-source.js';

const SDXL = FIXTURES ? join(FIXTURES, 'sdxl') : '';
const open = (name: string) => Checkpoint.open(join(SDXL, `${name}.safetensors`));

/** The fixture's inputs, read once. */
interface Inputs {
  sample: Float32Array; // NCHW
  shape: [number, number, number, number];
  timesteps: Float32Array;
  text: Float32Array;
  textShape: number[];
  pooled: Float32Array;
  pooledShape: number[];
  timeIds: Float32Array;
}

function readInputs(ck: WeightSource & { readF32(k: string): Float32Array }): Inputs {
  return {
    sample: ck.readF32('in.sample'),
    shape: ck.info('in.sample').shape as [number, number, number, number],
    timesteps: ck.readF32('in.timestep'),
    text: ck.readF32('in.encoder_hidden_states'),
    textShape: ck.info('in.encoder_hidden_states').shape,
    pooled: ck.readF32('in.text_embeds'),
    pooledShape: ck.info('in.text_embeds').shape,
    timeIds: ck.readF32('in.time_ids'),
  };
}

/** One forward; returns the output NCHW like diffusers. */
async function runUnet(
  be: Backend,
  model: UnetModel,
  x: Inputs,
  opts: { reducer?: UnetTokenReducer; cache?: UnetForaCache; step?: number; steps?: number } = {},
): Promise<Float32Array> {
  const [B, C, H, W] = x.shape;
  const dt = model.dtype;
  const tensors = [
    be.tensor(nchwToNhwc(x.sample, B, C, H, W), [B, H, W, C], dt),
    be.tensor(x.text, x.textShape, dt),
    be.tensor(x.pooled, x.pooledShape, dt),
  ] as const;
  const out = model.forward(
    {
      sample: tensors[0],
      timesteps: x.timesteps,
      encoderHiddenStates: tensors[1],
      textEmbeds: tensors[2],
      timeIds: x.timeIds,
    },
    opts,
  );
  try {
    return nhwcToNchw(await out.read(), B, H, W, out.dim(3));
  } finally {
    out.dispose();
    for (const t of tensors) t.dispose();
  }
}

/** A copy of a source with its keys renamed (and some left out or replaced). */
function renamed(
  src: Checkpoint,
  rename: (k: string) => string | null,
  replace: Record<string, { shape: number[]; data: Float32Array }> = {},
): MemorySource {
  const m = new MemorySource(`${src.path} (renamed)`);
  for (const k of src.keys()) {
    const to = rename(k);
    if (to !== null) m.set(to, src.info(k).shape, src.readF32(k));
  }
  for (const [k, t] of Object.entries(replace)) m.set(k, t.shape, t.data);
  return m;
}

describe('SDXL UNet on the sdxl_unet_a fixtures (diffusers UNet2DConditionModel)', {
  skip: noFixtures,
}, () => {
  // WebGPU f32 runs the diffusers layout through `toma forward` (test/cli/sdxl-unet.test.ts): a forward
  // of this fixture takes ~40 s on SwiftShader
  for (const [layout, name, be, dtype, skip, tol] of [
    ['sdxl_unet_a', 'CPU f32', cpu, 'f32', false, 1e-4],
    ['sdxl_unet_a-sgm', 'CPU f32', cpu, 'f32', false, 1e-4],
    ['sdxl_unet_a-sgm', 'WebGPU f32', gpu, 'f32', noGpu, 1e-4],
    ['sdxl_unet_a', 'CPU f16 (sanity: f16 storage emulated by rounding)', cpu, 'f16', false, 3e-2],
    ['sdxl_unet_a', 'WebGPU f16 (sanity)', gpu, 'f16', noF16, 3e-2],
  ] as const) {
    it(`${layout}: ${name} matches out.sample`, { skip }, async () => {
      const ck = open(layout);
      const model = UnetModel.load(be!, ck, { dtype, config: JSON.parse(ck.metadata.config!) });
      try {
        assert.equal(model.layout, layout.endsWith('sgm') ? 'sgm' : 'diffusers');
        const got = await runUnet(be!, model, readInputs(ck));
        const err = relativeError(got, ck.readF32('out.sample'));
        console.log(`  unet ${layout} ${name}: max relative error ${err.toExponential(2)}`);
        assert.ok(err <= tol, `relative error ${err}`);
      } finally {
        model.dispose();
        ck.close();
      }
    });
  }

  it('the single-file layout without its "model.diffusion_model." prefix loads the same weights', async () => {
    const ck = open('sdxl_unet_a-sgm');
    const stripped = renamed(ck, (k) => (k.startsWith(SGM_PREFIX) ? k.slice(SGM_PREFIX.length) : k));
    assert.ok(stripped.has('input_blocks.4.1.proj_in.weight'));
    const model = UnetModel.load(cpu, stripped, { config: JSON.parse(ck.metadata.config!) });
    try {
      const err = relativeError(await runUnet(cpu, model, readInputs(ck)), ck.readF32('out.sample'));
      assert.ok(err <= 1e-4, `relative error ${err}`);
    } finally {
      model.dispose();
      ck.close();
    }
  });

  it('loads from a path too (and closes the file)', () => {
    const ck = open('sdxl_unet_a');
    const config = JSON.parse(ck.metadata.config!);
    ck.close();
    const model = UnetModel.load(cpu, join(SDXL, 'sdxl_unet_a.safetensors'), { config });
    assert.deepEqual(model.config.block_out_channels, [8, 16, 24]);
    assert.ok(model.deviceBytes > 1e6);
    model.dispose();
    assert.throws(() => UnetModel.load(cpu, join(SDXL, 'no-such.safetensors')), /no-such\.safetensors/);
  });

  it('a whole single-file release (UNet beside the text encoders and the VAE) loads its UNet', async () => {
    const ck = open('sdxl_unet_a-sgm');
    const junk = { shape: [3, 2], data: new Float32Array(6) };
    const whole = renamed(ck, (k) => k, {
      'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight': junk,
      'conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight': junk,
      'first_stage_model.decoder.conv_in.weight': junk,
      'first_stage_model.encoder.down.0.block.0.conv1.weight': junk,
    });
    const model = UnetModel.load(cpu, whole, { config: JSON.parse(ck.metadata.config!) });
    try {
      assert.equal(model.layout, 'sgm');
      const err = relativeError(await runUnet(cpu, model, readInputs(ck)), ck.readF32('out.sample'));
      assert.ok(err <= 1e-4, `relative error ${err}`);
    } finally {
      model.dispose();
      ck.close();
    }
  });

  it('infers the structure from the shapes; the config adds heads and groups and is checked against them', () => {
    const ck = open('sdxl_unet_a');
    const sgm = open('sdxl_unet_a-sgm');
    try {
      const given = JSON.parse(ck.metadata.config!);
      const c = unetConfig(ck, given);
      assert.deepEqual(c.block_out_channels, [8, 16, 24]);
      assert.deepEqual(c.down_transformer_layers, [
        [0, 0],
        [2, 2],
        [2, 2],
      ]);
      assert.deepEqual(c.up_transformer_layers, [
        [2, 2, 2],
        [2, 2, 2],
        [0, 0, 0],
      ]);
      assert.equal(c.mid_transformer_layers, 2);
      assert.deepEqual(c.num_attention_heads, [1, 2, 3]);
      assert.equal(c.norm_num_groups, 4);
      assert.equal(c.addition_time_embed_dim, 8);
      assert.equal(c.projection_class_embeddings_input_dim, 72);
      assert.equal(c.cross_attention_dim, 32);
      // the same structure from the SGM names, and from the config.json this writes
      assert.deepEqual(unetConfig(sgm, given), c);
      assert.deepEqual(unetConfig(ck, unetConfigJson(c)), c);
      // what shapes cannot tell must come from a config: 16 channels are not 64-wide heads
      assert.throws(() => unetConfig(ck, {}), /cannot tell the head count of level 1 \(16 channels/);
      assert.throws(
        () => unetConfig(ck, { ...given, block_out_channels: [8, 16, 32] }),
        /block_out_channels is \[8,16,32\] but the weights have \[8,16,24\]/,
      );
      assert.throws(
        () => unetConfig(ck, { ...given, transformer_layers_per_block: [1, 1, 2] }),
        /transformer_layers_per_block is \[1,1,2\] but the weights of level 1 have 2, 2/,
      );
      assert.throws(
        () => unetConfig(ck, { ...given, resnet_time_scale_shift: 'scale_shift' }),
        /resnet_time_scale_shift = "scale_shift" is not supported/,
      );
      assert.throws(
        () => unetConfig(ck, { ...given, norm_num_groups: 3 }),
        /norm_num_groups must divide 256/,
      );
      assert.throws(
        () => unetConfig(ck, { ...given, attention_head_dim: [1, 3, 3] }),
        /level 1 splits 16 channels into 3 heads/,
      );
    } finally {
      ck.close();
      sgm.close();
    }
  });

  it('loader errors name the stored key and the expected shape, in either layout', () => {
    const ck = open('sdxl_unet_a');
    const sgm = open('sdxl_unet_a-sgm');
    const config = JSON.parse(ck.metadata.config!);
    try {
      const missing = renamed(ck, (k) =>
        k === 'up_blocks.1.attentions.2.transformer_blocks.1.attn2.to_v.weight' ? null : k,
      );
      assert.throws(
        () => UnetModel.load(cpu, missing, { config }),
        /tensor "up_blocks\.1\.attentions\.2\.transformer_blocks\.1\.attn2\.to_v\.weight" is missing/,
      );
      const key = `${SGM_PREFIX}output_blocks.4.0.skip_connection.weight`;
      const wrong = renamed(sgm, (k) => (k === key ? null : k), {
        [key]: { shape: [16, 31, 1, 1], data: new Float32Array(16 * 31) },
      });
      assert.throws(
        () => UnetModel.load(cpu, wrong, { config }),
        /tensor "model\.diffusion_model\.output_blocks\.4\.0\.skip_connection\.weight" has shape \[16, 31, 1, 1\], expected \[16, 32, 1, 1\]/,
      );
      const noUpsampler = renamed(sgm, (k) => (k.includes('output_blocks.5.2.conv.') ? null : k));
      assert.throws(
        () => UnetModel.load(cpu, noUpsampler, { config }),
        /"model\.diffusion_model\.output_blocks\.5\.2\.conv\.weight" is missing/,
      );
      const clip = join(FIXTURES!, 'clip-golden-a.safetensors');
      const clipCk = Checkpoint.open(clip);
      assert.throws(
        () => UnetModel.load(cpu, clipCk),
        /is not a Stable Diffusion UNet checkpoint: it looks like a CLIP text encoder/,
      );
      clipCk.close();
    } finally {
      ck.close();
      sgm.close();
    }
  });

  it('forward checks its inputs', () => {
    const ck = open('sdxl_unet_a');
    const model = UnetModel.load(cpu, ck, { config: JSON.parse(ck.metadata.config!) });
    try {
      const x = readInputs(ck);
      const sample = cpu.tensor(new Float32Array(2 * 16 * 24 * 4), [2, 16, 24, 4]);
      const text = cpu.tensor(x.text, x.textShape);
      const pooled = cpu.tensor(x.pooled, x.pooledShape);
      const base = {
        sample,
        timesteps: [999, 250],
        encoderHiddenStates: text,
        textEmbeds: pooled,
        timeIds: x.timeIds,
      };
      assert.throws(
        () => model.forward({ ...base, sample: cpu.tensor(new Float32Array(2 * 4 * 4 * 3), [2, 4, 4, 3]) }),
        /inputs\.sample has shape \[2, 4, 4, 3\], expected \[\*, \*, \*, 4\]/,
      );
      assert.throws(() => model.forward({ ...base, timesteps: [1, 2, 3] }), /timesteps must hold 2 values/);
      assert.throws(
        () => model.forward({ ...base, timeIds: x.timeIds.subarray(0, 10) }),
        /P \+ n·8 = 72; got P = 24 and 10 ids/,
      );
      assert.throws(() => model.forward({ ...base, textEmbeds: undefined }), /inputs\.textEmbeds is missing/);
      assert.throws(
        () => model.forward({ ...base, timesteps: [Number.NaN, 1] }),
        /timesteps\[0\] is not finite/,
      );
    } finally {
      model.dispose();
      ck.close();
    }
  });
});

// ---- random UNets: hook plumbing, odd latent sizes, CPU vs WebGPU ----

/** A tiny SDXL-shaped config: 3 levels, attention on levels 1 and 2, 1 resnet per level. */
const tiny: UnetConfig = {
  in_channels: 4,
  out_channels: 4,
  conv_in_kernel: 3,
  conv_out_kernel: 3,
  block_out_channels: [8, 16, 16],
  layers_per_block: 1,
  down_transformer_layers: [[0], [1], [2]],
  up_transformer_layers: [
    [2, 2],
    [1, 1],
    [0, 0],
  ],
  mid_transformer_layers: 1,
  num_attention_heads: [1, 2, 4],
  cross_attention_dim: 12,
  use_linear_projection: true,
  norm_num_groups: 4,
  norm_eps: 1e-5,
  flip_sin_to_cos: true,
  freq_shift: 0,
  timestep_input_dim: 8,
  time_embed_dim: 16,
  addition_embed_type: 'text_time',
  addition_time_embed_dim: 4,
  projection_class_embeddings_input_dim: 10 + 6 * 4,
};

function randomSource(c: UnetConfig, layout: 'diffusers' | 'sgm', seed: number): MemorySource {
  const r = rng(seed);
  const src = new MemorySource(`random-unet-${layout}`);
  for (const [k, shape] of unetShapes(c, layout)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNormScale =
      shape.length === 1 &&
      /norm[^.]*\.weight$|in_layers\.0\.weight$|out_layers\.0\.weight$|out\.0\.weight$/.test(k);
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    // norm scales about 1, matrices and convolutions N(0, 1/fan_in), biases N(0, 0.1²)
    const std = shape.length > 1 ? 1 / Math.sqrt(fanIn) : 0.1;
    src.set(k, shape, r.normals(n, std, isNormScale ? 1 : 0));
  }
  return src;
}

function randomInputs(c: UnetConfig, B: number, H: number, W: number, Lt: number, seed: number): Inputs {
  const r = rng(seed);
  return {
    sample: r.normals(B * c.in_channels * H * W),
    shape: [B, c.in_channels, H, W],
    timesteps: Float32Array.from({ length: B }, (_, i) => 999 - 371 * i),
    text: r.normals(B * Lt * c.cross_attention_dim),
    textShape: [B, Lt, c.cross_attention_dim],
    pooled: r.normals(B * 10),
    pooledShape: [B, 10],
    timeIds: Float32Array.from({ length: B * 6 }, (_, i) => [768, 1024, 0, 16, 1024, 1024][i % 6]! + i),
  };
}

/** A reducer whose plans permute the tokens (merge) or the keys (kv): the block is equivariant to both. */
function permutingReducer(
  be: Backend,
  kind: 'merge' | 'kv',
  seen: UnetBlockSite[],
  scope: UnetScope = 'block',
): UnetTokenReducer {
  const tables: Tensor[] = [];
  const perm = (B: number, n: number, inverse: boolean) => {
    const p = Array.from({ length: n }, (_, i) => (i * 7 + 3) % n);
    // (i·7 + 3) mod n is a permutation when gcd(7, n) = 1
    assert.equal(new Set(p).size, n, `not a permutation for n = ${n}`);
    const idx = new Uint32Array(B * n);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < n; i++) idx[b * n + (inverse ? p[i]! : i)] = inverse ? i : p[i]!;
    const t = be.keep(be.tensor(idx, [B, n], 'u32'));
    tables.push(t);
    return t;
  };
  return {
    name: `permute-${kind}`,
    scope,
    beginForward() {},
    block(site, n1) {
      seen.push(site);
      const [B, N] = n1.shape as [number, number, number];
      assert.equal(N, site.grid[0] * site.grid[1]);
      if (kind === 'merge') {
        const fwd = perm(B, N, false);
        const inv = perm(B, N, true);
        return {
          kind: 'merge',
          tokens: N,
          merge: (x) => be.gather(x, fwd),
          unmerge: (y) => be.gather(y, inv),
        };
      }
      return {
        kind: 'kv',
        downsampleKV(k, v) {
          const [b, h, n, d] = k.shape as [number, number, number, number];
          // rows of [B, H·N, D]: permuting them across heads would mix heads, so permute within each head
          const rows = new Uint32Array(b * h * n);
          for (let bi = 0; bi < b; bi++)
            for (let hi = 0; hi < h; hi++)
              for (let i = 0; i < n; i++) rows[(bi * h + hi) * n + i] = hi * n + ((i * 7 + 3) % n);
          const t = be.keep(be.tensor(rows, [b, h * n], 'u32'));
          tables.push(t);
          const g = (x: Tensor) => be.reshape(be.gather(be.reshape(x, [b, h * n, d]), t), [b, h, n, d]);
          return { k: g(k), v: g(v) };
        },
      };
    },
    endForward() {},
    dispose() {
      for (const t of tables) t.dispose();
    },
  };
}

describe('UNet with random weights', () => {
  it('hook sites: every transformer block once, in forward order, with its level and grid', async () => {
    const src = randomSource(tiny, 'diffusers', 1);
    const model = UnetModel.load(cpu, src, { config: unetConfigJson(tiny) });
    try {
      assert.deepEqual(model.config, tiny);
      const sites = model.transformerBlocks(9, 11);
      assert.deepEqual(
        sites.map((s) => `${s.index}:${s.path}${s.level}:${s.grid.join('x')}:${s.module}.${s.layer}`),
        [
          '0:down1:5x6:down_blocks.1.attentions.0.0',
          '1:down2:3x3:down_blocks.2.attentions.0.0',
          '2:down2:3x3:down_blocks.2.attentions.0.1',
          '3:mid2:3x3:mid_block.attentions.0.0',
          '4:up2:3x3:up_blocks.0.attentions.0.0',
          '5:up2:3x3:up_blocks.0.attentions.0.1',
          '6:up2:3x3:up_blocks.0.attentions.1.0',
          '7:up2:3x3:up_blocks.0.attentions.1.1',
          '8:up1:5x6:up_blocks.1.attentions.0.0',
          '9:up1:5x6:up_blocks.1.attentions.1.0',
        ],
      );
      // a forward calls the hook at exactly these sites, and a plan that permutes tokens or keys
      // changes nothing (the blocks have no positional terms): the plans' outputs are used
      const x = randomInputs(tiny, 2, 9, 11, 5, 2);
      const dense = await runUnet(cpu, model, x);
      for (const [kind, scope] of [
        ['merge', 'block'],
        ['merge', 'self-attention'],
        ['kv', 'self-attention'],
      ] as const) {
        const seen: UnetBlockSite[] = [];
        const reducer = permutingReducer(cpu, kind, seen, scope);
        const got = await runUnet(cpu, model, x, { reducer });
        reducer.dispose();
        assert.deepEqual(seen, sites);
        assert.ok(relErr(got, dense) <= 1e-5, `${kind} plan (${scope}): ${relErr(got, dense)}`);
      }
      // a plan that is not neutral must change the output (the plan's tensors are really used)
      const seen: UnetBlockSite[] = [];
      const zeroKv: UnetTokenReducer = {
        name: 'first-key-only',
        scope: 'self-attention',
        beginForward() {},
        block(site) {
          seen.push(site);
          return {
            kind: 'kv',
            downsampleKV: (k, v) => ({ k: cpu.slice(k, 2, 0, 1), v: cpu.slice(v, 2, 0, 1) }),
          };
        },
        endForward() {},
        dispose() {},
      };
      const changed = await runUnet(cpu, model, x, { reducer: zeroKv });
      assert.equal(seen.length, sites.length);
      assert.ok(
        relErr(changed, dense) > 1e-3,
        `first-key-only plan changed the output by ${relErr(changed, dense)}`,
      );
    } finally {
      model.dispose();
    }
  });

  it('both layouts of the same random weights give the same output; odd latent sizes resample like PyTorch', async () => {
    const a = UnetModel.load(cpu, randomSource(tiny, 'diffusers', 3), { config: unetConfigJson(tiny) });
    // the same values under their SGM names
    const src = randomSource(tiny, 'diffusers', 3);
    const names = sgmKeyMap(tiny, src.keys());
    const sgm = new MemorySource('random-sgm');
    for (const k of src.keys()) sgm.set(names.get(k)!, src.info(k).shape, src.readF32(k));
    assert.deepEqual(new Set(sgm.keys()), new Set(unetShapes(tiny, 'sgm').keys()));
    const b = UnetModel.load(cpu, sgm, { config: unetConfigJson(tiny) });
    try {
      assert.equal(b.layout, 'sgm');
      const x = randomInputs(tiny, 1, 7, 5, 3, 4); // levels 7x5, 4x3, 2x2: upsampling to 4x3 and 7x5
      const ya = await runUnet(cpu, a, x);
      const yb = await runUnet(cpu, b, x);
      assert.deepEqual(ya, yb);
      assert.ok(ya.every(Number.isFinite));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('WebGPU matches the CPU on an odd latent (7x5, non-2x upsampling), batch 2', {
    skip: noGpu,
  }, async () => {
    const src = randomSource(tiny, 'diffusers', 5);
    const x = randomInputs(tiny, 2, 7, 5, 4, 6);
    const mc = UnetModel.load(cpu, src, { config: unetConfigJson(tiny) });
    const mg = UnetModel.load(gpu!, src, { config: unetConfigJson(tiny) });
    try {
      const want = await runUnet(cpu, mc, x);
      const got = await runUnet(gpu!, mg, x);
      assert.ok(relErr(got, want) <= 1e-4, `gpu vs cpu ${relErr(got, want)}`);
    } finally {
      mc.dispose();
      mg.dispose();
    }
  });

  it('the release config.json alone gives SDXL base 1.0: 2,567,463,684 parameters in 1,680 tensors', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const path = join(here, '../../../models/configs/stable-diffusion-xl-base-1.0/unet/config.json');
    const c = unetConfigFromJson(JSON.parse(readFileSync(path, 'utf8')));
    assert.deepEqual(c.down_transformer_layers, [
      [0, 0],
      [2, 2],
      [10, 10],
    ]);
    assert.deepEqual(c.num_attention_heads, [5, 10, 20]); // 64-wide heads
    assert.equal(c.mid_transformer_layers, 10);
    assert.equal(c.projection_class_embeddings_input_dim, 2816);
    for (const layout of ['diffusers', 'sgm'] as const) {
      const shapes = unetShapes(c, layout);
      assert.equal(shapes.size, 1680);
      let n = 0;
      for (const s of shapes.values()) n += s.reduce((a, b) => a * b, 1);
      assert.equal(n, 2_567_463_684);
    }
    const sgm = unetShapes(c, 'sgm');
    assert.deepEqual(sgm.get(`${SGM_PREFIX}output_blocks.2.2.conv.weight`), [1280, 1280, 3, 3]);
    assert.deepEqual(sgm.get(`${SGM_PREFIX}label_emb.0.0.weight`), [1280, 2816]);
    assert.deepEqual(
      sgm.get(`${SGM_PREFIX}input_blocks.8.1.transformer_blocks.9.ff.net.0.proj.weight`),
      [10240, 1280],
    );
    // a fixture's config gives the structure its weights have
    if (!noFixtures) {
      const ck = open('sdxl_unet_a');
      const given = JSON.parse(ck.metadata.config!);
      assert.deepEqual(unetConfigFromJson(given), unetConfig(ck, given));
      ck.close();
    }
    assert.throws(
      () => unetConfigFromJson({ block_out_channels: [320], down_block_types: ['Foo'] }),
      /down_block_types must be 1 of/,
    );
  });

  it('UnetModel.random builds the same structure on the device', () => {
    const m = UnetModel.random(cpu, tiny, { dtype: 'f32', seed: 1 });
    try {
      assert.equal(m.transformerBlocks(8, 8).length, 10);
      assert.ok(m.deviceBytes > 0);
    } finally {
      m.dispose();
    }
  });
});

describe('UNet step cache (FORA, src/cache/unet-fora.ts)', () => {
  it('interval 1 is exactly uncached; interval 3 computes on steps 0 and 3 and reuses residuals between', async () => {
    const m = UnetModel.random(cpu, tiny, { dtype: 'f32', seed: 3 });
    try {
      const xs = [0, 1, 2, 3].map((s) => randomInputs(tiny, 2, 7, 5, 4, 10 + s));
      const plain: Float32Array[] = [];
      for (const [s, x] of xs.entries()) plain.push(await runUnet(cpu, m, x, { step: s, steps: 4 }));
      const every = new UnetForaCache(cpu, 1);
      for (const [s, x] of xs.entries())
        assert.deepEqual(
          await runUnet(cpu, m, x, { step: s, steps: 4, cache: every }),
          plain[s],
          `step ${s}`,
        );
      assert.deepEqual(every.computedSteps, [0, 1, 2, 3]);
      every.dispose();

      const fora = new UnetForaCache(cpu, 3);
      const got: Float32Array[] = [];
      for (const [s, x] of xs.entries())
        got.push(await runUnet(cpu, m, x, { step: s, steps: 4, cache: fora }));
      assert.deepEqual(fora.computedSteps, [0, 3]);
      assert.deepEqual(got[0], plain[0]);
      assert.deepEqual(got[3], plain[3]);
      for (const s of [1, 2]) {
        assert.ok(got[s]!.every(Number.isFinite), `step ${s} finite`);
        assert.ok(relErr(got[s]!, plain[s]!) > 1e-4, `step ${s} reused the transformers' residuals`);
      }
      // a new sampling run (the step goes back) computes afresh; step 1 on step 0's own inputs then adds
      // exactly the residuals step 0 stored, so it reproduces step 0's output
      assert.deepEqual(await runUnet(cpu, m, xs[0]!, { step: 0, steps: 4, cache: fora }), plain[0]);
      assert.deepEqual(fora.computedSteps, [0]);
      const again = await runUnet(cpu, m, xs[0]!, { step: 1, steps: 4, cache: fora });
      assert.ok(relErr(again, plain[0]!) <= 1e-6, `reused residuals: ${relErr(again, plain[0]!)}`);
      // another batch size invalidates the stored residuals (this step computes)
      const one = randomInputs(tiny, 1, 7, 5, 4, 20);
      assert.deepEqual(
        await runUnet(cpu, m, one, { step: 2, steps: 4, cache: fora }),
        await runUnet(cpu, m, one, { step: 2, steps: 4 }),
      );
      assert.deepEqual(fora.computedSteps, [0, 2]);
      fora.dispose();
      assert.throws(() => new UnetForaCache(cpu, 0), /interval must be an integer >= 1/);
    } finally {
      m.dispose();
    }
  });
});
