// `toma forward --component ae|clip|t5`: one forward pass of a Flux pipeline component on inputs
// (`in.*`) from a safetensors file, outputs written atomically with the fixtures' key names:
//   ae:   in.z [B, z_channels, h, w]                 -> out [B, 3, 8h, 8w] (NCHW, like the official decode)
//   clip: in.input_ids [B, L]                        -> out.last_hidden_state [B, L, C], out.pooler_output [B, C]
//   t5:   in.input_ids [B, L], in.attention_mask?    -> out.last_hidden_state [B, L, d_model]
// The checkpoint's config comes from --config, else a config.json beside it (Hugging Face folders),
// else a JSON of the same name holding {"config": {...}} (the conformance fixtures), else the
// safetensors header's __metadata__.config (the SDXL fixtures), else its shapes.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Backend } from '../backend.js';
import { type BackendName, createBackend } from '../backends.js';
import { nhwcToNchw } from '../cpu/conv.js';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../io/safetensors.js';
import { AeDecoder } from '../models/ae/index.js';
import { ClipTextModel } from '../models/clip/index.js';
import { T5Encoder } from '../models/t5/index.js';
import type { ComputeDType } from '../models/weights.js';

export type ComponentName = 'ae' | 'clip' | 't5';

export const COMPONENTS: Record<
  ComponentName,
  { summary: string; inputKeys: string[]; outputKeys: string[] }
> = {
  ae: {
    summary: 'Flux autoencoder decode (z / scale + shift, decoder)',
    inputKeys: ['in.z'],
    outputKeys: ['out'],
  },
  clip: {
    summary: 'CLIP text encoder (Flux: pooled output = vec)',
    inputKeys: ['in.input_ids'],
    outputKeys: ['out.last_hidden_state', 'out.pooler_output'],
  },
  t5: {
    summary: 'T5 v1.1 encoder (Flux: last hidden state = txt)',
    inputKeys: ['in.input_ids', 'in.attention_mask?'],
    outputKeys: ['out.last_hidden_state'],
  },
};

export interface ComponentRun {
  be: Backend;
  dtype: ComputeDType;
  /** Path of the checkpoint (.safetensors, *.safetensors.index.json or a folder). */
  checkpoint: string;
  inputs: Checkpoint;
  /** Config values (JSON text or object); default: found beside the checkpoint. */
  config?: string | Record<string, unknown>;
  log?: (line: string) => void;
}

export interface RunComponentOptions {
  checkpoint: string;
  /** safetensors file with the `in.*` keys. */
  inputs: string;
  /** safetensors file to write. */
  out: string;
  backend?: BackendName | Backend;
  dtype?: ComputeDType;
  config?: string | Record<string, unknown>;
  log?: (line: string) => void;
}

/** Runs one component and writes its outputs to `out`; returns what was written. */
export async function runComponent(
  component: ComponentName,
  opts: RunComponentOptions,
): Promise<Record<string, TensorToWrite>> {
  if (!(component in COMPONENTS))
    throw new Error(`unknown component "${component}" (expected ${Object.keys(COMPONENTS).join(', ')})`);
  const inputs = Checkpoint.open(opts.inputs);
  const own = typeof opts.backend !== 'object';
  const be = typeof opts.backend === 'object' ? opts.backend : await createBackend(opts.backend ?? 'webgpu');
  try {
    const outputs = await componentOutputs(component, {
      be,
      dtype: opts.dtype ?? 'f32',
      checkpoint: opts.checkpoint,
      inputs,
      config: opts.config,
      log: opts.log,
    });
    writeSafetensors(opts.out, outputs, { component, dtype: opts.dtype ?? 'f32' });
    return outputs;
  } finally {
    inputs.close();
    if (own) be.destroy();
  }
}

/** The outputs of one component for the inputs in `r.inputs` (what `toma forward` writes). */
export async function componentOutputs(
  component: ComponentName,
  r: ComponentRun,
): Promise<Record<string, TensorToWrite>> {
  const log = r.log ?? (() => {});
  const config = resolveConfig(r.checkpoint, r.config);
  const ck = Checkpoint.open(r.checkpoint);
  try {
    const t0 = performance.now();
    switch (component) {
      case 'ae': {
        const model = AeDecoder.load(r.be, ck, { dtype: r.dtype, config });
        log(`loaded the autoencoder decoder (${mib(model.deviceBytes)} MiB ${r.dtype}) in ${secs(t0)} s`);
        try {
          const zs = inputShape(r.inputs, 'in.z', 4);
          const [B, zc, h, w] = zs as [number, number, number, number];
          if (zc !== model.config.z_channels)
            throw new Error(
              `${r.inputs.path}: in.z has ${zc} channels, the autoencoder takes ${model.config.z_channels}`,
            );
          const t1 = performance.now();
          const img = await model.decode(r.inputs.readF32('in.z'), B, h, w);
          log(`decoded ${B} x ${img.shape[1]}x${img.shape[2]} in ${secs(t1)} s`);
          const [, H, W, C] = img.shape;
          return { out: { dtype: 'F32', shape: [B, C, H, W], data: nhwcToNchw(img.data, B, H, W, C) } };
        } finally {
          model.dispose();
        }
      }
      case 'clip': {
        const model = ClipTextModel.load(r.be, ck, { dtype: r.dtype, config });
        log(`loaded the CLIP text encoder (${mib(model.deviceBytes)} MiB ${r.dtype}) in ${secs(t0)} s`);
        try {
          const [B, L] = inputShape(r.inputs, 'in.input_ids', 2) as [number, number];
          const out = model.encode(r.inputs.readF32('in.input_ids'), B, L);
          const last = await out.lastHiddenState.read();
          const pooled = await out.pooled.read();
          out.lastHiddenState.dispose();
          out.pooled.dispose();
          const C = model.config.hidden_size;
          return {
            'out.last_hidden_state': { dtype: 'F32', shape: [B, L, C], data: last },
            'out.pooler_output': { dtype: 'F32', shape: [B, C], data: pooled },
          };
        } finally {
          model.dispose();
        }
      }
      case 't5': {
        const model = T5Encoder.load(r.be, ck, { dtype: r.dtype, config });
        log(`loaded the T5 encoder (${mib(model.deviceBytes)} MiB ${r.dtype}) in ${secs(t0)} s`);
        try {
          const [B, L] = inputShape(r.inputs, 'in.input_ids', 2) as [number, number];
          let attentionMask: Float32Array | undefined;
          if (r.inputs.has('in.attention_mask')) {
            const ms = r.inputs.info('in.attention_mask').shape;
            if (ms.length !== 2 || ms[0] !== B || ms[1] !== L)
              throw new Error(
                `${r.inputs.path}: in.attention_mask has shape [${ms.join(', ')}], expected [${B}, ${L}]`,
              );
            attentionMask = r.inputs.readF32('in.attention_mask');
          }
          const t1 = performance.now();
          const out = model.encode(r.inputs.readF32('in.input_ids'), B, L, { attentionMask });
          const data = await out.read();
          out.dispose();
          log(`encoded ${B} x ${L} tokens in ${secs(t1)} s`);
          return { 'out.last_hidden_state': { dtype: 'F32', shape: [B, L, model.config.d_model], data } };
        } finally {
          model.dispose();
        }
      }
    }
  } finally {
    ck.close();
  }
}

function inputShape(inputs: Checkpoint, key: string, rank: number): number[] {
  if (!inputs.has(key)) throw new Error(`${inputs.path}: input "${key}" is missing`);
  const s = inputs.info(key).shape;
  if (s.length !== rank || s.some((d) => d === 0))
    throw new Error(
      `${inputs.path}: input "${key}" has shape [${s.join(', ')}], expected ${rank} non-empty dimensions`,
    );
  return s;
}

/** The config for a checkpoint: given (JSON text or object), config.json beside it, or <name>.json {config}. */
export function resolveConfig(
  checkpoint: string,
  given?: string | Record<string, unknown>,
): Record<string, unknown> {
  if (typeof given === 'object') return given;
  if (typeof given === 'string') {
    try {
      const v = JSON.parse(given);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    } catch {}
    throw new Error(`--config must be a JSON object, got ${given.slice(0, 80)}`);
  }
  const isDir = existsSync(checkpoint) && statSync(checkpoint).isDirectory();
  const dir = isDir ? checkpoint : dirname(checkpoint);
  const hf = join(dir, 'config.json');
  if (existsSync(hf)) return readObject(hf);
  if (!isDir) {
    const sibling = join(
      dir,
      `${basename(checkpoint).replace(/(\.safetensors)?(\.index\.json)?$/, '')}.json`,
    );
    if (existsSync(sibling)) {
      const j = readObject(sibling);
      if (j.config && typeof j.config === 'object') return j.config as Record<string, unknown>;
    }
    const embedded = embeddedConfig(checkpoint);
    if (embedded) return embedded;
  }
  return {};
}

/** The config JSON a .safetensors file carries in its header (__metadata__.config: the SDXL fixtures). */
function embeddedConfig(path: string): Record<string, unknown> | undefined {
  if (!path.endsWith('.safetensors') || !existsSync(path)) return undefined;
  const ck = Checkpoint.open(path);
  try {
    const text = ck.metadata.config;
    if (text === undefined) return undefined;
    try {
      const v = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    } catch {}
    throw new Error(`${path}: __metadata__.config is not a JSON object`);
  } finally {
    ck.close();
  }
}

function readObject(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {}
  throw new Error(`${path}: not a JSON object`);
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const secs = (t0: number) => ((performance.now() - t0) / 1000).toFixed(2);
