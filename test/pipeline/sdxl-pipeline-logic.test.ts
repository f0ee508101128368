// The SDXL pipeline's own logic (src/pipeline/sdxl-pipeline.ts) on the CPU backend, with small stand-in
// models whose outputs are simple known functions of their inputs: prompt encoding (penultimate states
// side by side, pooled from the second encoder), classifier-free guidance (rows [uncond; cond], zeros
// for no negative prompt under force_zeros_for_empty_prompt, an encoded negative prompt otherwise),
// the micro-conditioning ids, the sampler loop (init_noise_sigma, scale_model_input, Euler and
// Euler-ancestral steps from the seeded generator) and the decode, all against a float64 reference of
// the whole loop written here from diffusers' formulas. The real models run in sdxl-pipeline.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { Checkpoint } from '../../src/io/safetensors.js';
import { denseUnet } from '../../src/merge/hooks.js';
import { TaesdDecoder } from '../../src/models/taesd/decoder.js';
import { defaultTaesdxlPath } from '../../src/models/taesd/files.js';
import type { ComputeDType } from '../../src/models/weights.js';
import { nchwToNhwc, nhwcToNchw } from '../../src/pipeline/pixels.js';
import type {
  SdxlComponents,
  SdxlTextEncoder,
  SdxlUnet,
  SdxlUnetHooks,
  SdxlUnetInputs,
  SdxlVae,
} from '../../src/pipeline/sdxl-components.js';
import { runSdxlPipeline, type SdxlPipelineOptions, sdxlTimeIds } from '../../src/pipeline/sdxl-pipeline.js';
import { SDXL_SCHEDULER_CONFIG, sigmaSchedule } from '../../src/schedulers/discrete.js';
import type { Tensor } from '../../src/tensor.js';
import { clipTokenizerJson } from '../../src/text/load-tokenizer.js';
import { syntheticClipTokenizer } from '../../src/text/synthetic-tokenizers.js';
import { PromptTokenizer } from '../../src/text/tokenizer.js';
import { Rng } from '../../src/util/random.js';
import { cpu } from '../helpers.js';

const L = 8; // tokens (SDXL: 77; short here)
const HL = 3; // CLIP-L width
const HG = 5; // CLIP-G width
const P = 4; // pooled width (CLIP-G's projection)
const C = 4; // latent channels

const vocab = syntheticClipTokenizer(250, { seed: 1 });
const json = clipTokenizerJson(vocab.vocab, vocab.merges);
const tokL = new PromptTokenizer(json, vocab.config, { maxLength: L });
const tokG = new PromptTokenizer(json, { ...vocab.config, pad_token: '!' }, { maxLength: L });

/** The stand-in encoders' outputs for token ids, as functions (the reference uses the same). */
const penL = (id: number, j: number) => id / 100 + 0.01 * j;
const penG = (id: number, j: number) => -id / 200 + 0.02 * j;
const pooledG = (ids: ArrayLike<number>, k: number) => {
  let s = 0;
  for (let l = 0; l < ids.length; l++) s += ids[l]!;
  return s / 5000 + 0.1 * k;
};
/** The stand-in UNet's noise estimate for one value of one row. */
const unetEps = (
  s: number,
  c: number,
  pooled: ArrayLike<number>,
  ctx0: ArrayLike<number>,
  ids: ArrayLike<number>,
  t: number,
) => 0.05 * s + 0.1 * pooled[c % P]! + 0.02 * ctx0[(3 * c) % (HL + HG)]! + 0.0001 * ids[c]! + 0.0002 * t;

class Weights {
  readonly w: Tensor;
  constructor(
    readonly be: Backend,
    n: number,
  ) {
    this.w = be.keep(be.tensor(new Float32Array(n).fill(1), [n], 'f32'));
  }
  get deviceBytes() {
    return this.w.size * 4;
  }
  dispose() {
    this.w.dispose();
  }
}

class Encoder extends Weights implements SdxlTextEncoder {
  constructor(
    be: Backend,
    private readonly width: number,
    private readonly pen: (id: number, j: number) => number,
    private readonly dtype: ComputeDType,
  ) {
    super(be, 5000);
  }
  encodeSdxl(ids: ArrayLike<number>, B: number, len: number) {
    const pen = new Float32Array(B * len * this.width);
    for (let i = 0; i < B * len; i++)
      for (let j = 0; j < this.width; j++) pen[i * this.width + j] = this.pen(ids[i]!, j);
    const pooled = new Float32Array(B * P);
    for (let b = 0; b < B; b++)
      for (let k = 0; k < P; k++)
        pooled[b * P + k] = pooledG(Array.from(ids).slice(b * len, (b + 1) * len), k);
    return {
      penultimate: this.be.tensor(pen, [B, len, this.width], this.dtype),
      pooled: this.be.tensor(pooled, [B, P], this.dtype),
    };
  }
}

interface UnetCall {
  rows: number;
  timesteps: number[];
  timeIds: number[];
  hooks?: SdxlUnetHooks;
}

class Unet extends Weights implements SdxlUnet {
  readonly calls: UnetCall[] = [];
  constructor(be: Backend) {
    super(be, 20000);
  }
  forward(i: SdxlUnetInputs, hooks?: SdxlUnetHooks): Tensor {
    const s = cpu.data(i.sample);
    const ctx = cpu.data(i.encoderHiddenStates);
    const pooled = cpu.data(i.textEmbeds);
    const [R, h, w] = i.sample.shape as [number, number, number, number];
    assert.deepEqual(i.encoderHiddenStates.shape, [R, L, HL + HG]);
    const out = new Float32Array(s.length);
    for (let r = 0; r < R; r++) {
      const ctx0 = ctx.subarray(r * L * (HL + HG), r * L * (HL + HG) + HL + HG);
      const p = pooled.subarray(r * P, (r + 1) * P);
      const ids = Array.from(i.timeIds).slice(r * 6, r * 6 + 6);
      for (let k = 0; k < h * w * C; k++) {
        const at = r * h * w * C + k;
        out[at] = unetEps(s[at]!, k % C, p, ctx0, ids, i.timesteps[r]!);
      }
    }
    this.calls.push({ rows: R, timesteps: Array.from(i.timesteps), timeIds: Array.from(i.timeIds), hooks });
    return this.be.tensor(out, i.sample.shape, i.sample.dtype);
  }
}

/** Decodes [B, C, h, w] to [B, 8h, 8w, 3]: pixel (Y, X, k) = tanh(z[k, Y/8, X/8]). */
class Vae extends Weights implements SdxlVae {
  constructor(be: Backend) {
    super(be, 3000);
  }
  async decode(z: Float32Array, B: number, h: number, w: number) {
    const H = 8 * h;
    const W = 8 * w;
    const data = new Float32Array(B * H * W * 3);
    for (let b = 0; b < B; b++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let k = 0; k < 3; k++)
            data[((b * H + y) * W + x) * 3 + k] = Math.tanh(z[((b * C + k) * h + (y >> 3)) * w + (x >> 3)]!);
    return { data };
  }
}

function components(o: { forceZeros?: boolean; sampler?: 'euler' | 'euler-a' } = {}) {
  const unets: Unet[] = [];
  const c: SdxlComponents = {
    description: 'stand-ins',
    sizes: {
      unet: {
        inChannels: C,
        outChannels: C,
        contextWidth: HL + HG,
        pooledWidth: P,
        sampleSize: 4,
        downsamplings: 1,
      },
      clipL: { hidden: HL, vocab: 250 },
      clipG: { hidden: HG, pooled: P, vocab: 250 },
      vae: { latentChannels: C, scale: 8 },
    },
    scheduler: {
      ...SDXL_SCHEDULER_CONFIG,
      class_name: o.sampler === 'euler-a' ? 'EulerAncestralDiscreteScheduler' : 'EulerDiscreteScheduler',
    },
    forceZerosForEmptyPrompt: o.forceZeros ?? true,
    tokenizers: () => [tokL, tokG],
    loadClipL: (be, dtype) => new Encoder(be, HL, penL, dtype),
    loadClipG: (be, dtype) => new Encoder(be, HG, penG, dtype),
    loadUnet: (be) => {
      const u = new Unet(be);
      unets.push(u);
      return u;
    },
    loadVae: (be) => new Vae(be),
  };
  return { c, unets };
}

/** The whole loop in float64 from the formulas: images per prompt [H, W, 3]. */
function reference(o: {
  prompts: string[];
  negatives?: string[];
  zeros: boolean;
  guidance: number;
  steps: number;
  seed: number;
  width: number;
  height: number;
  ancestral: boolean;
  /** Receives the final latents [B, C, h, w]. */
  latents?: (z: Float32Array) => void;
}): Float32Array[] {
  const B = o.prompts.length;
  const h = o.height / 8;
  const w = o.width / 8;
  const n = B * C * h * w;
  const sched = sigmaSchedule(SDXL_SCHEDULER_CONFIG, o.steps);
  const rng = new Rng(o.seed);
  let x = Array.from(rng.normals(n), (v) => v * sched.initNoiseSigma); // [B, C, h, w]
  const guided = o.guidance > 1;
  /** Context row 0 and pooled of a text (or zeros). */
  const cond = (text: string | null) => {
    if (text === null) return { ctx0: new Array(HL + HG).fill(0), pooled: new Array(P).fill(0) };
    const idsL = tokL.encode([text]).ids;
    const idsG = tokG.encode([text]).ids;
    const ctx0 = [
      ...Array.from({ length: HL }, (_, j) => penL(idsL[0]!, j)),
      ...Array.from({ length: HG }, (_, j) => penG(idsG[0]!, j)),
    ];
    return { ctx0, pooled: Array.from({ length: P }, (_, k) => pooledG(idsG, k)) };
  };
  const ids = sdxlTimeIds(o.width, o.height);
  for (let i = 0; i < o.steps; i++) {
    const s0 = sched.sigmas[i]!;
    const s1 = sched.sigmas[i + 1]!;
    const t = sched.timesteps[i]!;
    const scale = 1 / Math.sqrt(s0 * s0 + 1);
    const next = new Array<number>(n);
    const noise = o.ancestral ? rng.normals(n) : null;
    const up = o.ancestral ? Math.sqrt((s1 * s1 * (s0 * s0 - s1 * s1)) / (s0 * s0)) : 0;
    const down = o.ancestral ? Math.sqrt(s1 * s1 - up * up) : s1;
    for (let b = 0; b < B; b++) {
      const c = cond(o.prompts[b]!);
      const u = guided
        ? cond(o.zeros ? null : (o.negatives?.[o.negatives.length === 1 ? 0 : b] ?? ''))
        : null;
      for (let ch = 0; ch < C; ch++)
        for (let k = 0; k < h * w; k++) {
          const at = (b * C + ch) * h * w + k;
          const xin = x[at]! * scale;
          const ec = unetEps(xin, ch, c.pooled, c.ctx0, ids, t);
          const eps = u
            ? unetEps(xin, ch, u.pooled, u.ctx0, ids, t) +
              o.guidance * (ec - unetEps(xin, ch, u.pooled, u.ctx0, ids, t))
            : ec;
          next[at] = x[at]! + (down - s0) * eps + (noise ? up * noise[at]! : 0);
        }
    }
    x = next;
  }
  o.latents?.(Float32Array.from(x));
  return Array.from({ length: B }, (_, b) => {
    const img = new Float32Array(o.height * o.width * 3);
    for (let y = 0; y < o.height; y++)
      for (let xx = 0; xx < o.width; xx++)
        for (let k = 0; k < 3; k++)
          img[(y * o.width + xx) * 3 + k] = Math.tanh(x[((b * C + k) * h + (y >> 3)) * w + (xx >> 3)]!);
    return img;
  });
}

const close = (a: Float32Array, b: Float32Array, tol = 2e-5) => {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst <= tol, `max |diff| ${worst} > ${tol}`);
};

const base = (c: SdxlComponents, o: Partial<SdxlPipelineOptions> = {}) =>
  runSdxlPipeline({
    be: cpu,
    components: c,
    dtype: 'f32',
    prompts: ['a cat'],
    width: 32,
    height: 48,
    steps: 3,
    seed: 5,
    ...o,
  });

describe('SDXL pipeline logic (CPU, stand-in models)', () => {
  it('guided, no negative prompt: zero uncond rows, the reference images, every model freed', async () => {
    const { c, unets } = components();
    const live0 = cpu.memory().liveBytes;
    const r = await base(c, { prompts: ['a cat', 'a red fox'], guidance: 5 });
    assert.equal(r.zeroNegative, true);
    assert.equal(r.sampler, 'euler');
    assert.deepEqual(
      r.stages.map((s) => s.stage),
      [
        'tokenize',
        'load CLIP-L',
        'CLIP-L',
        'load CLIP-G',
        'CLIP-G',
        'load UNet',
        'denoise',
        'load VAE',
        'decode',
      ],
    );
    const ref = reference({
      prompts: ['a cat', 'a red fox'],
      zeros: true,
      guidance: 5,
      steps: 3,
      seed: 5,
      width: 32,
      height: 48,
      ancestral: false,
    });
    close(r.outputs[0]!.images[0]!, ref[0]!);
    close(r.outputs[0]!.images[1]!, ref[1]!);
    const calls = unets[0]!.calls;
    assert.equal(calls.length, 3);
    const sched = sigmaSchedule(SDXL_SCHEDULER_CONFIG, 3);
    calls.forEach((k, i) => {
      assert.equal(k.rows, 4, 'batch 2B: uncond and cond rows');
      assert.deepEqual(k.timesteps, new Array(4).fill(sched.timesteps[i]));
      assert.deepEqual(k.timeIds, new Array(4).fill([48, 32, 0, 0, 48, 32]).flat());
      assert.equal(k.hooks?.step, i);
      assert.equal(k.hooks?.steps, 3);
    });
    // each model's parameters are gone before the next loads, and nothing is left at the end
    const params = (name: string) => r.stages.find((s) => s.stage === name)!.paramBytes!;
    const peak = (name: string) => r.stages.find((s) => s.stage === name)!.peakBytes;
    assert.ok(peak('load UNet') < params('load UNet') + params('load CLIP-G'));
    assert.ok(peak('load VAE') < params('load VAE') + params('load UNet'));
    assert.equal(cpu.memory().liveBytes, live0, 'nothing left on the device');
  });

  it('a negative prompt is encoded (one for all, or one each); without force_zeros the empty one is', async () => {
    const { c } = components();
    const r = await base(c, { prompts: ['a cat', 'a dog'], negativePrompts: ['blurry'], guidance: 4 });
    assert.equal(r.zeroNegative, false);
    const ref = reference({
      prompts: ['a cat', 'a dog'],
      negatives: ['blurry'],
      zeros: false,
      guidance: 4,
      steps: 3,
      seed: 5,
      width: 32,
      height: 48,
      ancestral: false,
    });
    close(r.outputs[0]!.images[1]!, ref[1]!);
    const each = await base(c, {
      prompts: ['a cat', 'a dog'],
      negativePrompts: ['blurry', 'dark'],
      guidance: 4,
    });
    const refEach = reference({
      prompts: ['a cat', 'a dog'],
      negatives: ['blurry', 'dark'],
      zeros: false,
      guidance: 4,
      steps: 3,
      seed: 5,
      width: 32,
      height: 48,
      ancestral: false,
    });
    close(each.outputs[0]!.images[1]!, refEach[1]!);
    const { c: noZeros } = components({ forceZeros: false });
    const e = await base(noZeros, { guidance: 4 });
    close(
      e.outputs[0]!.images[0]!,
      reference({
        prompts: ['a cat'],
        zeros: false,
        guidance: 4,
        steps: 3,
        seed: 5,
        width: 32,
        height: 48,
        ancestral: false,
      })[0]!,
    );
    const z = await base(c, { guidance: 4 });
    assert.notDeepEqual(
      z.outputs[0]!.images[0],
      e.outputs[0]!.images[0],
      'zeros differ from the encoded empty prompt',
    );
  });

  it('guidance <= 1 runs the conditional rows alone', async () => {
    const { c, unets } = components();
    const r = await base(c, { guidance: 1 });
    assert.equal(unets[0]!.calls[0]!.rows, 1);
    assert.equal(r.zeroNegative, false);
    close(
      r.outputs[0]!.images[0]!,
      reference({
        prompts: ['a cat'],
        zeros: true,
        guidance: 1,
        steps: 3,
        seed: 5,
        width: 32,
        height: 48,
        ancestral: false,
      })[0]!,
    );
  });

  it('Euler ancestral (the folder class picks it): the reference, deterministic in the seed', async () => {
    const { c } = components({ sampler: 'euler-a' });
    const r = await base(c, { guidance: 5, steps: 4 });
    assert.equal(r.sampler, 'euler-a');
    const ref = reference({
      prompts: ['a cat'],
      zeros: true,
      guidance: 5,
      steps: 4,
      seed: 5,
      width: 32,
      height: 48,
      ancestral: true,
    });
    close(r.outputs[0]!.images[0]!, ref[0]!);
    const again = await base(c, { guidance: 5, steps: 4 });
    assert.deepEqual(again.outputs[0]!.images[0], r.outputs[0]!.images[0]);
    const other = await base(c, { guidance: 5, steps: 4, seed: 6 });
    assert.notDeepEqual(other.outputs[0]!.images[0], r.outputs[0]!.images[0]);
    const plain = await base(c, { guidance: 5, steps: 4, sampler: 'euler' });
    assert.equal(plain.sampler, 'euler');
    assert.notDeepEqual(plain.outputs[0]!.images[0], r.outputs[0]!.images[0]);
  });

  it('methods share the noise; each run builds its hooks, passes the reducer and disposes them', async () => {
    const { c, unets } = components({ sampler: 'euler-a' });
    const made: string[] = [];
    const disposed: string[] = [];
    const reducer = { ...denseUnet, name: 'marker' };
    const r = await base(c, {
      methods: [
        { label: 'dense' },
        {
          label: 'marked',
          setup: () => {
            made.push('marked');
            return { reducer, dispose: () => disposed.push('marked') };
          },
        },
      ],
    });
    assert.deepEqual(
      r.outputs.map((m) => m.method),
      ['dense', 'marked'],
    );
    assert.deepEqual(made, ['marked']);
    assert.deepEqual(disposed, ['marked']);
    const calls = unets[0]!.calls;
    assert.equal(calls.length, 6, 'one UNet load for both methods');
    assert.equal(calls[0]!.hooks?.reducer, undefined);
    assert.equal(calls[3]!.hooks?.reducer, reducer);
    // the stand-in ignores the reducer: the same noise (ancestral too) gives the same image
    assert.deepEqual(r.outputs[0]!.images[0], r.outputs[1]!.images[0]);
    assert.deepEqual(
      r.stages
        .filter((s) => s.stage === 'denoise' || s.stage === 'decode')
        .map((s) => `${s.stage} ${s.method}`),
      ['denoise dense', 'denoise marked', 'decode dense', 'decode marked'],
    );
  });

  it('the micro-conditioning ids follow originalSize and cropTopLeft', async () => {
    assert.deepEqual(sdxlTimeIds(1024, 768), [768, 1024, 0, 0, 768, 1024]);
    const { c, unets } = components();
    await base(c, { steps: 1, originalSize: [2048, 1536], cropTopLeft: [16, 8] });
    assert.deepEqual(unets[0]!.calls[0]!.timeIds.slice(0, 6), [2048, 1536, 16, 8, 48, 32]);
  });

  it('rejects bad sizes and negative prompt counts; cancels between steps, freeing everything', async () => {
    const { c } = components();
    await assert.rejects(
      base(c, { width: 40 }),
      /width must be a positive multiple of 16 \(8x VAE scale x 2/,
    );
    await assert.rejects(
      base(c, { prompts: ['a', 'b', 'c'], negativePrompts: ['x', 'y'] }),
      /one for all prompts or one each \(3\), got 2/,
    );
    await assert.rejects(base(c, { previewEvery: 1 }), /previews need the TAESDXL decoder weights/);
    const live0 = cpu.memory().liveBytes;
    const ctrl = new AbortController();
    await assert.rejects(
      base(c, {
        steps: 5,
        onEvent: (e) => {
          if (e.stage === 'denoise' && e.phase === 'progress' && e.done === 2) ctrl.abort();
        },
        signal: ctrl.signal,
      }),
      /cancelled/,
    );
    assert.equal(cpu.memory().liveBytes, live0);
  });

  it('TAESDXL: previews every N steps, and as the final decoder of the reference latents', async () => {
    const { c } = components();
    const taesdxl = Checkpoint.open(defaultTaesdxlPath());
    try {
      const previews: number[] = [];
      const r = await base(c, {
        steps: 4,
        previewEvery: 2,
        taesdxl,
        onEvent: (e) => {
          if (!e.preview) return;
          previews.push(e.preview.step);
          assert.equal(e.preview.images[0]!.length, 32 * 48 * 3);
          assert.ok(e.preview.images[0]!.every((v) => v >= -1 && v <= 1));
        },
      });
      assert.deepEqual(previews, [2], 'after step 2 (not after the last)');
      assert.ok(r.stages.some((s) => s.stage === 'load TAESDXL'));
      const t = await base(c, { steps: 3, decoder: 'taesdxl', taesdxl });
      assert.deepEqual(t.stages.map((s) => s.stage).slice(-2), ['load TAESDXL', 'decode']);
      let z: Float32Array = new Float32Array(0);
      reference({
        prompts: ['a cat'],
        zeros: true,
        guidance: 5,
        steps: 3,
        seed: 5,
        width: 32,
        height: 48,
        ancestral: false,
        latents: (v) => {
          z = v;
        },
      });
      const dec = TaesdDecoder.load(cpu, taesdxl);
      try {
        const want = (await dec.decode(z, 1, 6, 4)).data.map((v) => Math.max(-1, Math.min(1, 2 * v - 1)));
        close(t.outputs[0]!.images[0]!, want, 1e-4);
      } finally {
        dec.dispose();
      }
    } finally {
      taesdxl.close();
    }
  });

  it('channels-last <-> NCHW helpers are inverse', () => {
    const x = new Rng(3).normals(2 * 3 * 4 * 5);
    const nhwc = nchwToNhwc(x, 2, 3, 4, 5);
    assert.equal(nhwc[1], x[20]); // (b0, y0, x0, c1) is (b0, c1, y0, x0)
    assert.deepEqual(nhwcToNchw(nhwc, 2, 3, 4, 5), x);
  });
});
