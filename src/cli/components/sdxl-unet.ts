// `toma forward --component sdxl-unet`: one UNet forward (diffusers' UNet2DConditionModel call) from its
// arguments: in.sample [B, C, H, W] (NCHW, as diffusers takes it), in.timestep [B] (or [1]),
// in.encoder_hidden_states [B, L, cross], and for SDXL's text_time conditioning in.text_embeds [B, P]
// and in.time_ids [B, n] -> out.sample [B, out_channels, H, W]. The checkpoint is a diffusers unet
// (folder or file) or a single-file SGM release; its config is --config, else a config.json beside it,
// else its __metadata__.config, else what the shapes tell (SDXL's defaults for the rest).
import { nchwToNhwc, nhwcToNchw } from '../../cpu/conv.js';
import { Checkpoint } from '../../io/safetensors.js';
import { budgetOf, bytesText, checkMemory } from '../../models/limits.js';
import { type UnetConfig, UnetModel } from '../../models/unet/index.js';
import { isIoKey } from '../../models/weights.js';
import type { Tensor } from '../../tensor.js';
import { resolveConfig } from '../components.js';
import { readInput } from './inputs.js';
import type { ForwardComponent } from './registry.js';

export const sdxlUnet: ForwardComponent = {
  name: 'sdxl-unet',
  summary: 'SDXL UNet (diffusers UNet2DConditionModel) forward: the noise prediction',
  inputKeys: ['in.sample', 'in.timestep', 'in.encoder_hidden_states', 'in.text_embeds?', 'in.time_ids?'],
  outputKeys: ['out.sample'],
  async run({ be, dtype, checkpoint, inputs, config: configText, log }) {
    const ck = Checkpoint.open(checkpoint);
    let model: UnetModel;
    try {
      let config = resolveConfig(checkpoint, configText);
      if (Object.keys(config).length === 0 && ck.metadata.config) {
        try {
          config = JSON.parse(ck.metadata.config);
        } catch (e) {
          throw new Error(`${ck.path}: __metadata__.config is not valid JSON (${(e as Error).message})`);
        }
      }
      // sized from the inputs' headers before any weight is read
      const s = inputs.has('in.sample') ? inputs.info('in.sample').shape : [];
      if (s.length !== 4 || s.some((d) => d === 0))
        throw new Error(
          `${inputs.path}: input "in.sample" ${inputs.has('in.sample') ? `has shape [${s.join(', ')}], expected [B, C, H, W]` : 'is missing'}`,
        );
      const valueBytes = dtype === 'f16' && be.name === 'webgpu' ? 2 : 4;
      let weightBytes = 0;
      let largestWeight = 0;
      for (const k of ck.keys()) {
        if (isIoKey(k)) continue;
        const n = ck.info(k).shape.reduce((a, b) => a * b, 1) * valueBytes;
        weightBytes += n;
        largestWeight = Math.max(largestWeight, n);
      }
      const t0 = performance.now();
      model = UnetModel.load(be, ck, { dtype, config });
      const act = activationBytes(model.config, s[0]!, s[2]!, s[3]!, valueBytes);
      const note = checkMemory(
        {
          bytes: weightBytes + act.bytes,
          largestTensor: Math.max(largestWeight, act.largest),
          what: `this UNet forward (batch ${s[0]}, latent ${s[2]}x${s[3]}, ${dtype})`,
          parts: `weights ${bytesText(weightBytes)} + activations ${bytesText(act.bytes)}`,
          weightBytes,
          largestWeight,
        },
        budgetOf(be),
      );
      if (note) log(note);
      log(
        `loaded the UNet (${model.layout} layout, ${(model.deviceBytes / 2 ** 20).toFixed(1)} MiB ${dtype}) in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
      );
    } finally {
      ck.close();
    }
    const c = model.config;
    const tensors: Tensor[] = [];
    try {
      const [B, C, H, W] = inputs.info('in.sample').shape as [number, number, number, number];
      if (C !== c.in_channels)
        throw new Error(`${inputs.path}: in.sample has ${C} channels, the UNet takes ${c.in_channels}`);
      const sample = readInput(inputs, 'in.sample', [B, C, H, W]);
      const ts = inputs.has('in.timestep') && inputs.info('in.timestep').shape[0] === 1 ? [1] : [B];
      const timesteps = readInput(inputs, 'in.timestep', ts);
      const text = readInput(inputs, 'in.encoder_hidden_states', [B, null, c.cross_attention_dim]);
      const Lt = inputs.info('in.encoder_hidden_states').shape[1]!;
      const sampleT = be.tensor(nchwToNhwc(sample, B, C, H, W), [B, H, W, C], dtype);
      tensors.push(sampleT);
      const textT = be.tensor(text, [B, Lt, c.cross_attention_dim], dtype);
      tensors.push(textT);
      let textEmbeds: Tensor | undefined;
      let timeIds: Float32Array | undefined;
      if (c.addition_embed_type === 'text_time') {
        const pooled = readInput(inputs, 'in.text_embeds', [B, null]);
        textEmbeds = be.tensor(pooled, [B, pooled.length / B], dtype);
        tensors.push(textEmbeds);
        timeIds = readInput(inputs, 'in.time_ids', [B, null]);
      }
      log(`batch ${B}, latent ${H}x${W}, ${Lt} text tokens`);
      const t0 = performance.now();
      be.resetPeakMemory();
      const out = model.forward({
        sample: sampleT,
        timesteps,
        encoderHiddenStates: textT,
        textEmbeds,
        timeIds,
      });
      const data = await out.read();
      const Co = out.dim(3);
      out.dispose();
      log(
        `forward in ${(performance.now() - t0).toFixed(0)} ms${be.name === 'webgpu' ? ' (includes compiling the kernels)' : ''}; peak ${be.name === 'webgpu' ? 'device' : 'tensor'} memory ${bytesText(be.memory().peakBytes)}`,
      );
      return { 'out.sample': { dtype: 'F32', shape: [B, Co, H, W], data: nhwcToNchw(data, B, H, W, Co) } };
    } finally {
      for (const t of tensors) t.dispose();
      model.dispose();
    }
  },
};

/**
 * Activation memory of a forward, roughly: the skips (every down resnet/transformer output and
 * downsample, kept until the up blocks take them) plus the working set of the widest stage (a
 * concatenated up-resnet input, a GEGLU projection), and the largest single tensor.
 */
function activationBytes(c: UnetConfig, B: number, H: number, W: number, valueBytes: number) {
  let h = H;
  let w = W;
  let skips = B * H * W * c.block_out_channels[0]! * valueBytes;
  let largest = 0;
  let working = 0;
  c.block_out_channels.forEach((ch, i) => {
    const plane = B * h * w * valueBytes;
    skips += plane * ch * (c.layers_per_block + (i < c.block_out_channels.length - 1 ? 1 : 0));
    const attn = c.down_transformer_layers[i]!.some((d) => d > 0);
    const widest = Math.max(plane * 4 * ch, attn ? plane * 8 * ch : 0); // concat + conv outputs; GEGLU proj
    largest = Math.max(largest, widest);
    working = Math.max(working, 3 * widest);
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  });
  return { bytes: skips + working, largest };
}
