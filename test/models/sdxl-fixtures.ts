// Opening the SDXL conformance fixtures (fixtures/sdxl/*.safetensors: weights, in.*, out.* and the
// component's config JSON in the header's __metadata__.config). Tests skip when they are absent.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, type TensorToWrite } from '../../src/io/safetensors.js';
import { type AeDecoderConfig, type AeEncoderConfig, layoutKey } from '../../src/models/ae/index.js';
import { aeDecoderShapes, aeEncoderShapes } from '../../src/models/ae/shapes.js';
import type { WeightSource } from '../../src/models/weights.js';
import { FIXTURES } from './fixtures.js';

export const SDXL_FIXTURES = FIXTURES && existsSync(join(FIXTURES, 'sdxl')) ? join(FIXTURES, 'sdxl') : null;

/** Skip reason when the named fixture (e.g. "sdxl_clip_g_a") is absent, else false. */
export function noSdxlFixture(name: string): string | false {
  if (!SDXL_FIXTURES) return 'SDXL conformance fixtures not found';
  return existsSync(join(SDXL_FIXTURES, `${name}.safetensors`)) ? false : `fixture ${name} not found`;
}

export function sdxlFixturePath(name: string): string {
  return join(SDXL_FIXTURES!, `${name}.safetensors`);
}

/** The fixture file and its config. */
export function openSdxlFixture(name: string): { ck: Checkpoint; config: Record<string, unknown> } {
  const ck = Checkpoint.open(sdxlFixturePath(name));
  const config = JSON.parse(ck.metadata.config ?? '{}') as Record<string, unknown>;
  return { ck, config };
}

/** The fixture's weights (transformers names) rewritten in OpenCLIP's naming under `prefix`. */
export function openClipTensors(ck: WeightSource, prefix: string): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  const put = (k: string, shape: number[], data: Float32Array) => {
    out[prefix + k] = { dtype: 'F32', shape, data };
  };
  const t = 'text_model.';
  put(
    'token_embedding.weight',
    ck.info(`${t}embeddings.token_embedding.weight`).shape,
    ck.readF32(`${t}embeddings.token_embedding.weight`),
  );
  put(
    'positional_embedding',
    ck.info(`${t}embeddings.position_embedding.weight`).shape,
    ck.readF32(`${t}embeddings.position_embedding.weight`),
  );
  for (const p of ['weight', 'bias'])
    put(`ln_final.${p}`, ck.info(`${t}final_layer_norm.${p}`).shape, ck.readF32(`${t}final_layer_norm.${p}`));
  // text_projection stored [C, P] (x · P), transformers' Linear weight is [P, C]
  const [P, C] = ck.info('text_projection.weight').shape as [number, number];
  const w = ck.readF32('text_projection.weight');
  const tr = new Float32Array(P * C);
  for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) tr[c * P + p] = w[p * C + c]!;
  put('text_projection', [C, P], tr);
  put('logit_scale', [], Float32Array.of(4.6)); // kept by OpenCLIP checkpoints; the loader ignores it
  for (let i = 0; ck.has(`${t}encoder.layers.${i}.layer_norm1.weight`); i++) {
    const hf = `${t}encoder.layers.${i}.`;
    const oc = `transformer.resblocks.${i}.`;
    const copy = (from: string, to: string) => put(oc + to, ck.info(hf + from).shape, ck.readF32(hf + from));
    for (const p of ['weight', 'bias']) {
      copy(`layer_norm1.${p}`, `ln_1.${p}`);
      copy(`layer_norm2.${p}`, `ln_2.${p}`);
      copy(`self_attn.out_proj.${p}`, `attn.out_proj.${p}`);
      copy(`mlp.fc1.${p}`, `mlp.c_fc.${p}`);
      copy(`mlp.fc2.${p}`, `mlp.c_proj.${p}`);
      const qkv = ['q_proj', 'k_proj', 'v_proj'].map((q) => ck.readF32(`${hf}self_attn.${q}.${p}`));
      const fused = new Float32Array(qkv.reduce((a, v) => a + v.length, 0));
      let at = 0;
      for (const v of qkv) {
        fused.set(v, at);
        at += v.length;
      }
      put(`${oc}attn.in_proj_${p}`, p === 'weight' ? [3 * C, C] : [3 * C], fused);
    }
  }
  return out;
}

/**
 * The decoder (and post_quant_conv) of a diffusers-layout VAE checkpoint rewritten in the original
 * layout (decoder.up.N.block.M..., attention projections as 1x1 convolutions) under `prefix`, as
 * SDXL's single file keeps it under first_stage_model.; with an encoder config, the encoder too.
 */
export function originalVaeTensors(
  ck: WeightSource,
  config: AeDecoderConfig,
  prefix: string,
  encoder?: AeEncoderConfig,
): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  const levels = config.level_channels.length;
  const shapes = [
    ...aeDecoderShapes(config, 'original'),
    ...(encoder ? aeEncoderShapes(encoder, 'original') : []),
  ];
  for (const [orig, shape] of shapes) {
    const stored = layoutKey(orig, 'diffusers', levels);
    out[prefix + orig] = { dtype: 'F32', shape, data: ck.readF32(stored) };
  }
  return out;
}
