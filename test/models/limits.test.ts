// Config bounds and the memory estimate (src/models/limits.ts, flux/memory.ts): every config source is
// checked field by field before anything is sized from it, and a run too large for the machine is
// refused with what it needs and what there is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { greedyRef } from '../../src/cpu/toma.js';
import { configFromObject, FLUX_PRESETS, parseConfig } from '../../src/models/flux/config.js';
import { fluxForwardNeed, fluxParamBytes } from '../../src/models/flux/memory.js';
import {
  CLIP_LIMITS,
  checkImageSize,
  checkLimits,
  checkMemory,
  GiB,
  type MemoryBudget,
  T5_LIMITS,
} from '../../src/models/limits.js';
import { t5Config } from '../../src/models/t5/config.js';
import { MemorySource } from './memory-source.js';

const dev = FLUX_PRESETS['flux-dev']!;
const json = (patch: object) => JSON.stringify({ ...dev, ...patch });

describe('FLUX config bounds', () => {
  it('refuses an absurd depth from any source, naming the source, field and limit, in milliseconds', () => {
    const t0 = performance.now();
    assert.throws(
      () => configFromObject(JSON.parse(json({ depth: 1_000_000 })), 'x.safetensors: __metadata__.config'),
      /^FluxConfigError: x\.safetensors: __metadata__\.config: config\.depth = 1000000 is outside the plausible range \[0, 190\] \(FLUX\.1: 19\)$/,
    );
    assert.throws(
      () => parseConfig(json({ depth_single_blocks: 381 })),
      /config\.depth_single_blocks = 381 is outside .*\[0, 380\]/,
    );
    assert.ok(performance.now() - t0 < 200);
  });

  it('bounds widths, heads, ratios, theta and the RoPE axes', () => {
    const cases: [object, RegExp][] = [
      [
        { hidden_size: 3072 * 11, num_heads: 24 * 11 },
        /config\.hidden_size = 33792 is outside .*30720\] \(FLUX\.1: 3072\)/,
      ],
      [{ num_heads: 300 }, /config\.num_heads = 300 is outside .*\[1, 240\]/],
      [{ context_in_dim: 1e6 }, /config\.context_in_dim = 1000000/],
      [{ in_channels: 0 }, /config\.in_channels = 0 is outside .*\[1, 4096\]/],
      [{ in_channels: 2.5 }, /config\.in_channels must be an integer, got 2\.5/],
      [{ vec_in_dim: '768' }, /config\.vec_in_dim must be an integer, got "768"/],
      [{ mlp_ratio: 1e9 }, /config\.mlp_ratio = 1000000000 is outside the plausible range \(0, 16\]/],
      [{ mlp_ratio: -1 }, /config\.mlp_ratio = -1 is outside/],
      [{ theta: 1e300 }, /config\.theta = 1e\+300 is outside/],
      [{ axes_dim: Array(9).fill(2) }, /config\.axes_dim has 9 axes; at most 8/],
      [{ num_heads: 7 }, /hidden_size 3072 is not divisible by num_heads 7/],
    ];
    for (const [patch, re] of cases) assert.throws(() => parseConfig(json(patch)), re, JSON.stringify(patch));
    // the real models and the test presets pass
    for (const name of Object.keys(FLUX_PRESETS)) assert.doesNotThrow(() => parseConfig(name));
  });

  it('bounds the diffusers field names too', () => {
    const diffusers = {
      in_channels: 64,
      num_layers: 19,
      num_single_layers: 38,
      attention_head_dim: 128,
      num_attention_heads: 24,
      joint_attention_dim: 4096,
      pooled_projection_dim: 768,
      guidance_embeds: true,
    };
    assert.doesNotThrow(() => configFromObject(diffusers));
    assert.throws(
      () => configFromObject({ ...diffusers, num_layers: 5000 }, 'transformer/config.json'),
      /transformer\/config\.json: config\.depth = 5000 is outside/,
    );
  });
});

describe('T5 / CLIP bounds', () => {
  it('checks a T5 config from shapes and config.json', () => {
    const s = new MemorySource('t5.safetensors');
    const z = (n: number) => new Float32Array(n);
    s.set('shared.weight', [10, 8], z(80));
    s.set('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [4, 2], z(8));
    s.set('encoder.block.0.layer.0.SelfAttention.q.weight', [8, 8], z(64));
    s.set('encoder.block.0.layer.1.DenseReluDense.wi_0.weight', [16, 8], z(128));
    assert.equal(t5Config(s).num_layers, 1);
    assert.throws(
      () => t5Config(s, { relative_attention_max_distance: 1e9 }),
      /^WeightError: t5\.safetensors: T5 config: relative_attention_max_distance = 1000000000 is outside the plausible range \[1, 65536\] \(T5-XXL: 128\)$/,
    );
  });

  it('checkLimits names the field and refuses non-numbers', () => {
    assert.throws(
      () => checkLimits('c.json', { vocab_size: 1e7 }, T5_LIMITS),
      /c\.json: vocab_size = 10000000 is outside the plausible range \[1, 321280\]/,
    );
    assert.throws(
      () => checkLimits('c.json', { max_position_embeddings: 1e5 }, CLIP_LIMITS),
      /max_position_embeddings = 100000/,
    );
    assert.throws(
      () => checkLimits('c.json', { d_model: null }, T5_LIMITS),
      /d_model must be an integer, got null/,
    );
    assert.doesNotThrow(() =>
      checkLimits('c.json', { vocab_size: 32128, d_model: 4096, unknown: 1e12 }, T5_LIMITS),
    );
  });
});

describe('memory estimate', () => {
  const budget = (total: number, maxTensor = 4 * GiB): MemoryBudget => ({
    backend: 'cpu',
    maxTensorBytes: maxTensor,
    totalBytes: total,
    freeBytes: total,
  });

  it('counts FLUX.1-dev at about 11.9 G parameters', () => {
    const { bytes } = fluxParamBytes(dev, 2);
    assert.ok(Math.abs(bytes / 2 - 11.9e9) < 0.1e9, `${bytes / 2}`);
  });

  it('refuses a run larger than the machine, saying what it needs and what there is', () => {
    const need = fluxForwardNeed(
      dev,
      { valueBytes: 4, batch: 1, imageTokens: 4096, textTokens: 512 },
      'a FLUX.1 forward',
    );
    assert.throws(
      () => checkMemory(need, budget(23 * GiB)),
      /^MemoryLimitError: a FLUX\.1 forward needs about 4\d\.\d GiB \(weights 44\.\d GiB \+ activations \d\.\d GiB\); this machine has 23\.0 GiB \(the model is too large for it\)$/,
    );
    assert.equal(checkMemory(need, budget(256 * GiB)), undefined);
    assert.match(
      checkMemory(need, { ...budget(256 * GiB), freeBytes: 8 * GiB })!,
      /^note: .* more than the 8\.0 GiB free now/,
    );
  });

  it('refuses a single tensor above the backend limit, pointing at the size when activations are the cause', () => {
    const tiny = FLUX_PRESETS['flux-tiny']!;
    const need = fluxForwardNeed(
      tiny,
      { valueBytes: 4, batch: 64, imageTokens: 1 << 20, textTokens: 0 },
      'a run',
    );
    assert.throws(
      () => checkMemory(need, budget(1e15, 2 ** 31)),
      /a run needs a single tensor of \d+\.\d GiB; the cpu backend holds at most 2\.0 GiB per tensor \(use a smaller size or batch\)/,
    );
  });

  it('bounds image sizes', () => {
    assert.doesNotThrow(() => checkImageSize('--size', 2048, 2048));
    assert.throws(
      () => checkImageSize('--size', 4112, 16),
      /--size 4112x16: each side must be at most 4096 pixels/,
    );
    assert.throws(
      () => checkImageSize('--size', 4096, 2048),
      /--size 4096x2048: at most 4 megapixels \(2048x2048\)/,
    );
  });
});

describe('ToMA selection with NaN similarities', () => {
  it('always picks a token of the tile (NaN gains rank last), never index -1', () => {
    const n = 4;
    const S = new Float32Array(n * n).fill(Number.NaN);
    assert.deepEqual(greedyRef(S, n, 2).picks, [0, 1]);
    // one NaN row: the finite candidates still win
    const T = Float32Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0.5));
    T.fill(Number.NaN, 0, n);
    assert.equal(greedyRef(T, n, 1).picks[0], 1);
  });
});
