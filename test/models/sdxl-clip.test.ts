import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { ClipTextModel, clipTextConfig } from '../../src/models/clip/index.js';
import { OPENCLIP_TEXT_CONFIG, openClipTextSource } from '../../src/models/clip/openclip.js';
import { clipConfigJson, clipTextShapes } from '../../src/models/clip/shapes.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import { MappedSource } from '../../src/models/source-views.js';
import { WeightError, type WeightSource } from '../../src/models/weights.js';
import { cpu, gpu, noF16, noGpu, relErr } from '../helpers.js';
import { relativeError } from './fixtures.js';
import { noSdxlFixture, openClipTensors, openSdxlFixture } from './sdxl-fixtures.js';

const NAME = 'sdxl_clip_g_a';
const skip = noSdxlFixture(NAME);

interface Encoded {
  last: Float32Array;
  penultimate: Float32Array;
  pooled: Float32Array;
  textEmbeds: Float32Array;
}

async function encodeAll(
  be: Backend,
  src: WeightSource,
  config: Record<string, unknown>,
  ids: ArrayLike<number>,
  B: number,
  L: number,
  dtype: 'f32' | 'f16' = 'f32',
): Promise<Encoded> {
  const model = ClipTextModel.load(be, src, { dtype, config });
  try {
    const out = model.encode(ids, B, L, { penultimate: true });
    const r = {
      last: await out.lastHiddenState.read(),
      penultimate: await out.penultimate!.read(),
      pooled: await out.pooled.read(),
      textEmbeds: await out.textEmbeds!.read(),
    };
    for (const t of [out.lastHiddenState, out.penultimate!, out.pooled, out.textEmbeds!]) t.dispose();
    return r;
  } finally {
    model.dispose();
  }
}

describe('SDXL CLIP-G (OpenCLIP bigG as CLIPTextModelWithProjection) on the sdxl_clip_g_a fixture', {
  skip,
}, () => {
  const { ck, config } = skip ? ({} as never) : openSdxlFixture(NAME);
  const ids = skip ? new Float32Array() : ck.readF32('in.input_ids');
  const want = skip
    ? ({} as never)
    : {
        last: ck.readF32('out.last_hidden_state'),
        penultimate: ck.readF32('out.penultimate_hidden_state'),
        textEmbeds: ck.readF32('out.text_embeds'),
      };

  const errors = (got: Encoded) => ({
    last: relativeError(got.last, want.last),
    penultimate: relativeError(got.penultimate, want.penultimate),
    textEmbeds: relativeError(got.textEmbeds, want.textEmbeds),
  });

  for (const [name, be, dtype, skipIt, tol] of [
    ['CPU f32', cpu, 'f32', false, 1e-4],
    ['WebGPU f32', gpu, 'f32', noGpu, 1e-4],
    ['WebGPU f16 (reported)', gpu, 'f16', noF16, 3e-2],
    ['CPU f16 (reported)', cpu, 'f16', false, 3e-2],
  ] as const) {
    it(`${name} matches text_embeds, last_hidden_state and hidden_states[-2]`, { skip: skipIt }, async () => {
      const e = errors(await encodeAll(be!, ck, config, ids, 2, 77, dtype));
      console.log(
        `  clip-g ${name}: text_embeds ${e.textEmbeds.toExponential(2)}, last ${e.last.toExponential(2)}, penultimate ${e.penultimate.toExponential(2)}`,
      );
      for (const [k, v] of Object.entries(e)) assert.ok(v <= tol, `${k}: relative error ${v}`);
    });
  }

  it('reads the config: gelu, first-eos pooling at 999, projection width 40', () => {
    const c = clipTextConfig(ck, config);
    assert.equal(c.hidden_act, 'gelu');
    assert.equal(c.eos_token_id, 999);
    assert.equal(c.projection_dim, 40);
    assert.equal(c.num_attention_heads, 4);
  });

  it('the fixture tells the activations apart: quick_gelu in place of gelu misses it', async () => {
    const e = errors(await encodeAll(cpu, ck, { ...config, hidden_act: 'quick_gelu' }, ids, 2, 77));
    assert.ok(e.textEmbeds > 1e-3 && e.penultimate > 1e-3, `errors ${JSON.stringify(e)}`);
  });

  it('encodeSdxl gives hidden_states[-2] and text_embeds', async () => {
    const model = ClipTextModel.load(cpu, ck, { config });
    const f = model.encodeSdxl(ids, 2, 77);
    assert.deepEqual(f.penultimate.shape, [2, 77, 64]);
    assert.deepEqual(f.pooled.shape, [2, 40]);
    assert.ok(relativeError(await f.penultimate.read(), want.penultimate) <= 1e-4);
    assert.ok(relativeError(await f.pooled.read(), want.textEmbeds) <= 1e-4);
    f.penultimate.dispose();
    f.pooled.dispose();
    model.dispose();
  });

  it('OpenCLIP naming (single-file SDXL, conditioner.embedders.1.model.) gives the same outputs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'toma-openclip-'));
    try {
      const file = join(dir, 'openclip.safetensors');
      writeSafetensors(file, openClipTensors(ck, 'conditioner.embedders.1.model.'));
      const oc = Checkpoint.open(file);
      try {
        const src = openClipTextSource(oc, 'conditioner.embedders.1.model.');
        assert.ok(!src.has('logit_scale'));
        assert.deepEqual(src.info('text_projection.weight').shape, [40, 64]);
        assert.deepEqual(src.info('text_model.encoder.layers.2.self_attn.v_proj.weight').shape, [64, 64]);
        // a single file has no config.json: the shapes and OPENCLIP_TEXT_CONFIG must suffice, except for
        // the head count (64-wide heads by default; this tiny model has 16-wide ones) and its eos id
        const cfg = { ...OPENCLIP_TEXT_CONFIG, num_attention_heads: 4, eos_token_id: 999 };
        const e = errors(await encodeAll(cpu, src, cfg, ids, 2, 77));
        for (const [k, v] of Object.entries(e)) assert.ok(v <= 1e-4, `${k}: relative error ${v}`);
      } finally {
        oc.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('CPU and WebGPU agree on other shapes (batch 3, length 20, gelu)', { skip: noGpu }, async () => {
    const ids2 = Array.from({ length: 60 }, (_, i) =>
      i % 20 === 0 ? 998 : i % 20 === 11 ? 999 : (i * 31) % 998,
    );
    const a = await encodeAll(cpu, ck, config, ids2, 3, 20);
    const b = await encodeAll(gpu!, ck, config, ids2, 3, 20);
    for (const k of ['last', 'penultimate', 'pooled', 'textEmbeds'] as const)
      assert.ok(relErr(b[k], a[k]) <= 1e-4, `${k} ${relErr(b[k], a[k])}`);
  });
});

describe('CLIP text config: activations, projection, errors', () => {
  const cfg = {
    vocab_size: 50,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    max_position_embeddings: 9,
    layer_norm_eps: 1e-5,
    eos_token_id: 2,
    hidden_act: 'gelu' as const,
    projection_dim: 12,
  };
  it('round-trips a CLIPTextModelWithProjection through its shapes and config.json', () => {
    const json = clipConfigJson(cfg);
    assert.deepEqual(json.architectures, ['CLIPTextModelWithProjection']);
    assert.equal(json.hidden_act, 'gelu');
    assert.deepEqual(clipTextConfig(new RandomWeightSource('g', clipTextShapes(cfg)), json), cfg);
  });
  it('refuses unknown activations, a projection of the wrong width and a config that disagrees', () => {
    const src = new RandomWeightSource('g', clipTextShapes(cfg));
    assert.throws(() => clipTextConfig(src, { num_attention_heads: 2, hidden_act: 'relu' }), WeightError);
    assert.throws(
      () => clipTextConfig(src, { num_attention_heads: 2, hidden_act: 'gelu', projection_dim: 13 }),
      /projection_dim 13/,
    );
    const bad = clipTextShapes(cfg);
    bad.set('text_projection.weight', [12, 15]);
    assert.throws(
      () => clipTextConfig(new RandomWeightSource('bad', bad), { num_attention_heads: 2 }),
      /expected \[projection_dim, 16\]/,
    );
  });
  it('the OpenCLIP view refuses a fused projection that is not 3 x the width, and a missing tower', () => {
    const shapes = new Map<string, number[]>([
      ['m.transformer.resblocks.0.attn.in_proj_weight', [47, 16]],
      ['m.token_embedding.weight', [50, 16]],
    ]);
    assert.throws(
      () => openClipTextSource(new RandomWeightSource('oc', shapes), 'm.'),
      /47 rows, expected 3 x/,
    );
    assert.throws(() => openClipTextSource(new RandomWeightSource('oc', shapes), 'x.'), /is missing/);
  });
});

describe('MappedSource', () => {
  it('reads row blocks and transposes of f32 and f16 tensors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toma-mapped-'));
    try {
      const file = join(dir, 'm.safetensors');
      const a = Float32Array.from({ length: 6 * 2 }, (_, i) => i + 0.5);
      writeSafetensors(file, {
        a32: { dtype: 'F32', shape: [6, 2], data: a },
        a16: { dtype: 'F16', shape: [6, 2], data: a },
      });
      const ck = Checkpoint.open(file);
      const m = new MappedSource(
        ck,
        new Map([
          ['mid32', { key: 'a32', rows: [2, 2] as [number, number] }],
          ['mid16', { key: 'a16', rows: [2, 2] as [number, number] }],
          ['t32', { key: 'a32', transpose: true }],
          ['t16', { key: 'a16', transpose: true }],
          ['past', { key: 'a32', rows: [5, 2] as [number, number] }],
        ]),
        'view',
      );
      assert.deepEqual(m.info('mid32').shape, [2, 2]);
      assert.deepEqual([...m.readF32('mid32')], [4.5, 5.5, 6.5, 7.5]);
      assert.deepEqual([...m.readF32('mid16')], [4.5, 5.5, 6.5, 7.5]);
      assert.deepEqual(m.info('t16').shape, [2, 6]);
      assert.deepEqual([...m.readF32('t32')], [0.5, 2.5, 4.5, 6.5, 8.5, 10.5, 1.5, 3.5, 5.5, 7.5, 9.5, 11.5]);
      const bits = ck.readF16Bits('a16');
      const tb = m.readF16Bits('t16');
      assert.ok(tb instanceof Uint16Array);
      for (let r = 0; r < 6; r++) for (let c = 0; c < 2; c++) assert.equal(tb[c * 6 + r], bits[r * 2 + c]);
      assert.deepEqual([...m.readF32('t16')], [...m.readF32('t32')]);
      assert.throws(() => m.info('past'), /too few rows/);
      assert.throws(() => m.readF32('nothing'), /no tensor named "nothing"/);
      ck.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
