// `toma forward --component flux`: one Flux transformer forward from the official forward's arguments.
import { openWeightFile } from '../../io/weight-file.js';
import { configFromCheckpoint, FluxModel, FluxPositions, parseConfig } from '../../models/flux/index.js';
import {
  dequantizesWholeMatrices,
  fluxForwardNeed,
  fluxParamBudget,
  storedWeightBytes,
} from '../../models/flux/memory.js';
import { describePlan } from '../../models/flux/residency.js';
import { budgetOf, bytesText, checkMemory } from '../../models/limits.js';
import { readInput } from './inputs.js';
import type { ForwardComponent } from './registry.js';

/** Keys of an inputs/outputs file that a checkpoint may also hold (the fixtures keep both in one file). */
const notWeights = (k: string) => k.startsWith('in.') || k === 'out' || k.startsWith('out.');

export const flux: ForwardComponent = {
  name: 'flux',
  summary: 'Flux transformer (MMDiT) forward',
  inputKeys: ['in.img', 'in.txt', 'in.img_ids', 'in.txt_ids', 'in.timesteps', 'in.y', 'in.guidance?'],
  outputKeys: ['out'],
  async run({ be, dtype, checkpoint, inputs, config: configText, maxMemory, log }) {
    const peaks: string[] = [];
    const peak = (stage: string) => peaks.push(`${stage} ${bytesText(be.memory().peakBytes)}`);
    const ck = openWeightFile(checkpoint);
    let model: FluxModel;
    try {
      const config = configText ? parseConfig(configText) : configFromCheckpoint(ck).config;
      // sized from the inputs' headers, before any weight is read
      const dim = (k: string, i: number) => (inputs.has(k) ? (inputs.info(k).shape[i] ?? 0) : 0);
      const [B, N, Lt] = [dim('in.img', 0), dim('in.img', 1), dim('in.txt', 1)];
      const valueBytes = dtype === 'f16' && be.name === 'webgpu' ? 2 : 4;
      const weights = storedWeightBytes(ck, config, valueBytes);
      const size = {
        valueBytes,
        batch: B,
        imageTokens: N,
        textTokens: Lt,
        weights,
        quantScratch: weights !== undefined && dequantizesWholeMatrices(be),
      };
      const need = fluxForwardNeed(config, size, `this forward (batch ${B}, ${N} + ${Lt} tokens, ${dtype})`);
      const note = checkMemory(need, budgetOf(be));
      if (note) log(note);
      // with --max-memory, the parameters get what the activations leave (blocks beyond it are streamed)
      const maxParamBytes = maxMemory === undefined ? undefined : fluxParamBudget(config, size, maxMemory);
      const t0 = performance.now();
      be.resetPeakMemory();
      model = FluxModel.load(be, ck, { dtype, config, ignoreKeys: notWeights, maxParamBytes });
      peak('load');
      log(
        `loaded ${ck.keys().filter((k) => !notWeights(k)).length} tensors (${(model.params.bytes / 2 ** 20).toFixed(1)} MiB ${dtype}${quantizedText(model)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      if (maxMemory !== undefined) {
        const plan = model.params.plan;
        log(
          `memory plan for ${bytesText(maxMemory)} (parameters ${bytesText(maxParamBytes!)}): ${plan ? describePlan(plan, config) : 'all blocks resident'}`,
        );
      }
    } finally {
      ck.close();
    }
    const c = model.config;
    try {
      const imgShape = inputs.has('in.img') ? inputs.info('in.img').shape : [];
      const [B, N] = imgShape as [number, number];
      const img = readInput(inputs, 'in.img', [null, null, c.in_channels]);
      const Lt = inputs.has('in.txt') ? inputs.info('in.txt').shape[1]! : 0;
      const txt = readInput(inputs, 'in.txt', [B, null, c.context_in_dim]);
      const positions = FluxPositions.fromIds(be, c, {
        imgIds: readInput(inputs, 'in.img_ids', [B, N, 3]),
        txtIds: readInput(inputs, 'in.txt_ids', [B, Lt, 3]),
        batch: B,
        imageTokens: N,
        textTokens: Lt,
      });
      const grid = positions.grid;
      log(
        `batch ${B}, ${N} image tokens (${grid ? `${grid[0]}x${grid[1]} grid` : 'ids are not a raster grid'}), ${Lt} text tokens`,
      );
      const tensors = [
        be.tensor(img, [B, N, c.in_channels], dtype),
        be.tensor(txt, [B, Lt, c.context_in_dim], dtype),
        be.tensor(readInput(inputs, 'in.y', [B, c.vec_in_dim]), [B, c.vec_in_dim], dtype),
      ] as const;
      const t0 = performance.now();
      be.resetPeakMemory();
      const out = model.forward({
        img: tensors[0],
        txt: tensors[1],
        y: tensors[2],
        timesteps: readInput(inputs, 'in.timesteps', [B]),
        guidance: c.guidance_embed ? readInput(inputs, 'in.guidance', [B]) : undefined,
        positions,
      });
      const data = await out.read();
      peak('forward');
      log(`peak ${be.name === 'webgpu' ? 'device' : 'tensor'} memory: ${peaks.join(', ')}`);
      log(
        `forward in ${(performance.now() - t0).toFixed(0)} ms${be.name === 'webgpu' ? ' (includes compiling the kernels)' : ''}`,
      );
      const shape = [...out.shape];
      out.dispose();
      for (const t of tensors) t.dispose();
      positions.dispose();
      return { out: { dtype: 'F32', shape, data } };
    } finally {
      model.dispose();
    }
  },
};

/** ", 76 matrices kept Q8_0" for a GGUF checkpoint, else "". */
function quantizedText(model: FluxModel): string {
  const q = [...model.params.quantized].map(([t, n]) => `${n} ${t}`);
  return q.length ? `; matrices kept quantized: ${q.join(', ')}` : '';
}
