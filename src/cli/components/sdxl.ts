// `toma forward --component sdxl-clip-g|sdxl-vae|sdxl-vae-encode`: SDXL's text encoder and VAE, one
// forward each, with the reference implementations' output names:
//   sdxl-clip-g: in.input_ids [B, L] -> out.text_embeds [B, P] (out.pooler_output [B, C] for a model
//                without projection, e.g. SDXL's CLIP-L), out.last_hidden_state [B, L, C],
//                out.penultimate_hidden_state [B, L, C] (hidden_states[-2], SDXL's text features)
//   sdxl-vae:    in.z [B, 4, h, w] -> out.sample [B, 3, H, W] (NCHW): diffusers' AutoencoderKL.decode(z),
//                no latent scaling (the pipeline divides by scaling_factor before decoding)
//   sdxl-vae-encode: in.sample [B, 3, H, W] (about -1..1) -> out.mean, out.logvar [B, 4, h, w]: the
//                latent distribution of AutoencoderKL.encode (logvar clamped to [-30, 20]), unscaled
// The checkpoint is a transformers / diffusers file or folder, an OpenCLIP text tower, or SDXL's single
// file (the component picks its model out of it).
import { nhwcToNchw } from '../../cpu/conv.js';
import { Checkpoint, type TensorToWrite } from '../../io/safetensors.js';
import { AeDecoder, AeEncoder } from '../../models/ae/index.js';
import { ClipTextModel } from '../../models/clip/index.js';
import { isOpenClipText, OPENCLIP_TEXT_CONFIG, openClipTextSource } from '../../models/clip/openclip.js';
import {
  isSdxlSingleFile,
  SDXL_CLIP_G_CONFIG,
  SDXL_SINGLE_FILE_PREFIX,
  sdxlClipGSource,
  sdxlVaeSource,
} from '../../models/sdxl-single-file.js';
import type { WeightSource } from '../../models/weights.js';
import { resolveConfig } from '../components.js';
import { readInput } from './inputs.js';
import type { ForwardComponent, ForwardRun } from './registry.js';

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const secs = (t0: number) => ((performance.now() - t0) / 1000).toFixed(2);

function inputDims(r: ForwardRun, key: string, rank: number): number[] {
  if (!r.inputs.has(key)) throw new Error(`${r.inputs.path}: input "${key}" is missing`);
  const s = r.inputs.info(key).shape;
  if (s.length !== rank || s.some((d) => d === 0))
    throw new Error(
      `${r.inputs.path}: input "${key}" has shape [${s.join(', ')}], expected ${rank} non-empty dimensions`,
    );
  return s;
}

/** The text encoder in the checkpoint, with the config defaults its layout implies. */
function textEncoderSource(ck: Checkpoint): { src: WeightSource; defaults: Record<string, unknown> } {
  if (isSdxlSingleFile(ck)) return { src: sdxlClipGSource(ck), defaults: SDXL_CLIP_G_CONFIG };
  if (isOpenClipText(ck)) return { src: openClipTextSource(ck), defaults: OPENCLIP_TEXT_CONFIG };
  return { src: ck, defaults: {} };
}

export const sdxlClipG: ForwardComponent = {
  name: 'sdxl-clip-g',
  summary: 'SDXL text encoder (OpenCLIP bigG with projection, or CLIP-L): penultimate states, text_embeds',
  inputKeys: ['in.input_ids'],
  outputKeys: ['out.text_embeds', 'out.last_hidden_state', 'out.penultimate_hidden_state'],
  async run(r) {
    const config = resolveConfig(r.checkpoint, r.config);
    const ck = Checkpoint.open(r.checkpoint);
    try {
      const t0 = performance.now();
      const { src, defaults } = textEncoderSource(ck);
      const model = ClipTextModel.load(r.be, src, { dtype: r.dtype, config: { ...defaults, ...config } });
      const c = model.config;
      r.log(
        `loaded the text encoder (${c.num_hidden_layers} layers, width ${c.hidden_size}, ${c.hidden_act}${c.projection_dim ? `, projection ${c.projection_dim}` : ''}; ${mib(model.deviceBytes)} MiB ${r.dtype}) in ${secs(t0)} s`,
      );
      try {
        const [B, L] = inputDims(r, 'in.input_ids', 2) as [number, number];
        const t1 = performance.now();
        const out = model.encode(readInput(r.inputs, 'in.input_ids'), B, L, { penultimate: true });
        const C = c.hidden_size;
        const result: Record<string, TensorToWrite> = {};
        const put = async (key: string, shape: number[], t: { read(): Promise<Float32Array> }) => {
          result[key] = { dtype: 'F32', shape, data: await t.read() };
        };
        try {
          if (out.textEmbeds) await put('out.text_embeds', [B, c.projection_dim!], out.textEmbeds);
          else await put('out.pooler_output', [B, C], out.pooled);
          await put('out.last_hidden_state', [B, L, C], out.lastHiddenState);
          await put('out.penultimate_hidden_state', [B, L, C], out.penultimate!);
        } finally {
          for (const t of [out.lastHiddenState, out.pooled, out.penultimate, out.textEmbeds]) t?.dispose();
        }
        r.log(`encoded ${B} x ${L} tokens in ${secs(t1)} s`);
        return result;
      } finally {
        model.dispose();
      }
    } finally {
      ck.close();
    }
  },
};

/** The VAE in the checkpoint: itself, or first_stage_model. of SDXL's single file. */
function vaeSource(ck: Checkpoint): WeightSource {
  const singleFile = isSdxlSingleFile(ck) || ck.keys().some((k) => k.startsWith(SDXL_SINGLE_FILE_PREFIX.vae));
  return singleFile ? sdxlVaeSource(ck) : ck;
}

export const sdxlVae: ForwardComponent = {
  name: 'sdxl-vae',
  summary: 'SDXL VAE decode (diffusers AutoencoderKL.decode: post_quant_conv, decoder; no latent scaling)',
  inputKeys: ['in.z'],
  outputKeys: ['out.sample'],
  async run(r) {
    const config = resolveConfig(r.checkpoint, r.config);
    const ck = Checkpoint.open(r.checkpoint);
    try {
      const t0 = performance.now();
      // decode(z) as diffusers defines it: the latent goes in unscaled
      const model = AeDecoder.load(r.be, vaeSource(ck), {
        dtype: r.dtype,
        config: { ...config, scaling_factor: 1, shift_factor: 0 },
      });
      r.log(`loaded the VAE decoder (${mib(model.deviceBytes)} MiB ${r.dtype}) in ${secs(t0)} s`);
      try {
        const [B, zc, h, w] = inputDims(r, 'in.z', 4) as [number, number, number, number];
        if (zc !== model.config.z_channels)
          throw new Error(
            `${r.inputs.path}: in.z has ${zc} channels, the VAE takes ${model.config.z_channels}`,
          );
        const t1 = performance.now();
        const img = await model.decode(readInput(r.inputs, 'in.z'), B, h, w);
        const [, H, W, C] = img.shape;
        r.log(`decoded ${B} x ${H}x${W} in ${secs(t1)} s`);
        return {
          'out.sample': { dtype: 'F32', shape: [B, C, H, W], data: nhwcToNchw(img.data, B, H, W, C) },
        };
      } finally {
        model.dispose();
      }
    } finally {
      ck.close();
    }
  },
};

export const sdxlVaeEncode: ForwardComponent = {
  name: 'sdxl-vae-encode',
  summary: 'SDXL VAE encode (img2img: encoder, quant_conv -> latent mean and log-variance, unscaled)',
  inputKeys: ['in.sample'],
  outputKeys: ['out.mean', 'out.logvar'],
  async run(r) {
    const config = resolveConfig(r.checkpoint, r.config);
    const ck = Checkpoint.open(r.checkpoint);
    try {
      const t0 = performance.now();
      const model = AeEncoder.load(r.be, vaeSource(ck), { dtype: r.dtype, config });
      r.log(`loaded the VAE encoder (${mib(model.deviceBytes)} MiB ${r.dtype}) in ${secs(t0)} s`);
      try {
        const [B, C, H, W] = inputDims(r, 'in.sample', 4) as [number, number, number, number];
        if (C !== model.config.in_ch)
          throw new Error(
            `${r.inputs.path}: in.sample has ${C} channels, the VAE encoder takes ${model.config.in_ch}`,
          );
        const t1 = performance.now();
        const out = await model.encode(readInput(r.inputs, 'in.sample'), B, H, W);
        r.log(`encoded ${B} x ${H}x${W} in ${secs(t1)} s`);
        return {
          'out.mean': { dtype: 'F32', shape: out.shape, data: out.mean },
          'out.logvar': { dtype: 'F32', shape: out.shape, data: out.logvar },
        };
      } finally {
        model.dispose();
      }
    } finally {
      ck.close();
    }
  },
};
