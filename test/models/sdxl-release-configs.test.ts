// The SDXL base 1.0 release's own config.json files (models/configs) with checkpoints of the release's
// shapes and key names (random weights, never read): the loaders' configs come out as the release says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { aeDecoderConfig, aeEncoderConfig } from '../../src/models/ae/index.js';
import { aeDecoderShapes, aeEncoderShapes } from '../../src/models/ae/shapes.js';
import { type ClipTextConfig, clipTextConfig } from '../../src/models/clip/index.js';
import { clipTextShapes } from '../../src/models/clip/shapes.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import { SDXL_CLIP_G_CONFIG, sdxlClipGSource, sdxlVaeSource } from '../../src/models/sdxl-single-file.js';

const DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../models/configs/stable-diffusion-xl-base-1.0',
);
const json = (part: string) => JSON.parse(readFileSync(join(DIR, part, 'config.json'), 'utf8'));

/** The ClipTextConfig a transformers config.json describes (for the shapes of its checkpoint). */
function fromJson(j: Record<string, number | string>, projection: boolean): ClipTextConfig {
  const c: ClipTextConfig = {
    vocab_size: j.vocab_size as number,
    hidden_size: j.hidden_size as number,
    intermediate_size: j.intermediate_size as number,
    num_hidden_layers: j.num_hidden_layers as number,
    num_attention_heads: j.num_attention_heads as number,
    max_position_embeddings: j.max_position_embeddings as number,
    layer_norm_eps: j.layer_norm_eps as number,
    eos_token_id: j.eos_token_id as number,
    hidden_act: j.hidden_act as 'gelu' | 'quick_gelu',
  };
  if (projection) c.projection_dim = j.projection_dim as number;
  return c;
}

describe('SDXL base 1.0 release configs', () => {
  it('text_encoder: CLIP ViT-L, quick_gelu, no projection, legacy argmax pooling', () => {
    const j = json('text_encoder');
    const want = fromJson(j, false);
    const c = clipTextConfig(new RandomWeightSource('text_encoder', clipTextShapes(want)), j);
    assert.deepEqual(c, want);
    assert.equal(c.hidden_act, 'quick_gelu');
    assert.equal(c.projection_dim, undefined);
  });

  it('text_encoder_2: OpenCLIP ViT-bigG, gelu, 1280-wide projection, 20 heads, 32 layers', () => {
    const j = json('text_encoder_2');
    const want = fromJson(j, true);
    const c = clipTextConfig(new RandomWeightSource('text_encoder_2', clipTextShapes(want)), j);
    assert.deepEqual(c, want);
    assert.deepEqual(
      [c.hidden_act, c.projection_dim, c.num_attention_heads, c.num_hidden_layers],
      ['gelu', 1280, 20, 32],
    );
  });

  it('the single file keeps CLIP-G in OpenCLIP names: the same model, from shapes alone', () => {
    const want = fromJson(json('text_encoder_2'), true);
    const P = 'conditioner.embedders.1.model.';
    const shapes = new Map<string, number[]>([
      [`${P}token_embedding.weight`, [want.vocab_size, want.hidden_size]],
      [`${P}positional_embedding`, [want.max_position_embeddings, want.hidden_size]],
      [`${P}ln_final.weight`, [want.hidden_size]],
      [`${P}ln_final.bias`, [want.hidden_size]],
      [`${P}text_projection`, [want.hidden_size, want.projection_dim!]],
      [`${P}logit_scale`, []],
    ]);
    const C = want.hidden_size;
    for (let i = 0; i < want.num_hidden_layers; i++) {
      const b = `${P}transformer.resblocks.${i}.`;
      for (const [k, s] of [
        ['ln_1.weight', [C]],
        ['ln_1.bias', [C]],
        ['ln_2.weight', [C]],
        ['ln_2.bias', [C]],
        ['attn.in_proj_weight', [3 * C, C]],
        ['attn.in_proj_bias', [3 * C]],
        ['attn.out_proj.weight', [C, C]],
        ['attn.out_proj.bias', [C]],
        ['mlp.c_fc.weight', [want.intermediate_size, C]],
        ['mlp.c_fc.bias', [want.intermediate_size]],
        ['mlp.c_proj.weight', [C, want.intermediate_size]],
        ['mlp.c_proj.bias', [C]],
      ] as const)
        shapes.set(b + k, [...s]);
    }
    const c = clipTextConfig(
      sdxlClipGSource(new RandomWeightSource('sd_xl_base_1.0', shapes)),
      SDXL_CLIP_G_CONFIG,
    );
    // without a config the pooling takes the first <|endoftext|> (49407), the largest id: the same rows
    assert.deepEqual(c, { ...want, eos_token_id: 49407 });
  });

  it('vae: 4 latent channels, 32 groups, post_quant_conv, scaling 0.13025; its encoder alike', () => {
    const j = json('vae');
    const dec = {
      z_channels: 4,
      out_ch: 3,
      level_channels: [128, 256, 512, 512],
      num_res_blocks: 2,
      scale_factor: 0.13025,
      shift_factor: 0,
      groups: 32,
      eps: 1e-6,
      post_quant_conv: true,
    };
    const enc = {
      in_ch: 3,
      z_channels: 4,
      level_channels: [128, 256, 512, 512],
      num_res_blocks: 2,
      groups: 32,
      eps: 1e-6,
      quant_conv: true,
      scale_factor: 0.13025,
      shift_factor: 0,
    };
    for (const layout of ['diffusers', 'original'] as const) {
      const src = new RandomWeightSource(
        'vae',
        new Map([...aeDecoderShapes(dec, layout), ...aeEncoderShapes(enc, layout)]),
      );
      assert.deepEqual(aeDecoderConfig(src, layout === 'diffusers' ? j : {}), dec);
      assert.deepEqual(aeEncoderConfig(src, layout === 'diffusers' ? j : {}), enc);
    }
    // single file: under first_stage_model., no config
    const prefixed = new Map(
      [...aeDecoderShapes(dec, 'original')].map(([k, s]) => [`first_stage_model.${k}`, s]),
    );
    assert.deepEqual(aeDecoderConfig(sdxlVaeSource(new RandomWeightSource('sd_xl_base_1.0', prefixed))), dec);
  });
});
