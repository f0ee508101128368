// Writes random-weight model folders (what `toma generate --model-dir` reads). writeRandomFolder is the
// machinery: weights f16, streamed tensor by tensor (src/pipeline/random-shard.ts), optionally on several
// worker threads (one file each at a time), the folder written under a temporary name and renamed when
// complete, so an interrupted run leaves no folder that looks whole. writeRandomFluxFolder lays out
// FLUX.1's diffusers folder: transformer/ and text_encoder_2/ sharded with an index, text_encoder/, vae/
// (decoder only), tokenizer/ (CLIP: vocab.json + merges.txt), tokenizer_2/ (T5: tokenizer.json),
// scheduler/ and model_index.json. (SDXL's: sdxl-random.ts.)
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { discardTemp, forgetTemp, registerTemp } from '../io/output.js';
import { streamedFileBytes } from '../io/safetensors-stream.js';
import { aeConfigJson, aeDecoderShapes } from '../models/ae/shapes.js';
import { clipConfigJson, clipTextShapes } from '../models/clip/shapes.js';
import { fluxDiffusersConfigJson, fluxStoredShapes } from '../models/flux/shapes.js';
import { t5ConfigJson, t5Shapes } from '../models/t5/shapes.js';
import { syntheticClipTokenizer, syntheticT5Tokenizer } from '../text/synthetic-tokenizers.js';
import type { FluxPipelinePreset } from './flux-presets.js';
import { type ShardJob, shardTensors, writeShard } from './random-shard.js';

export interface RandomFolderOptions {
  preset: FluxPipelinePreset;
  seed?: number;
  /** Largest shard of the sharded components, in bytes (default 2 GiB). */
  shardBytes?: number;
  /** Worker threads writing files in parallel (default 1: in this thread). */
  threads?: number;
  /** Replace an existing folder. */
  force?: boolean;
  onProgress?: (written: number, total: number) => void;
}

export interface RandomFolderResult {
  dir: string;
  /** Bytes of weights (the safetensors headers not counted). */
  bytes: number;
  files: number;
}

const json = (path: string, v: unknown) => writeFileSync(path, `${JSON.stringify(v, null, 2)}\n`);

/** Splits a component's tensors into shards of at most `maxBytes` (f16), in model order. */
function planShards(
  dir: string,
  stem: string,
  shapes: Map<string, number[]>,
  maxBytes: number,
  seed: number,
): { jobs: ShardJob[]; index: Record<string, string> | null } {
  const groups: { key: string; shape: number[] }[][] = [[]];
  let size = 0;
  for (const [key, shape] of shapes) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    if (size > 0 && size + bytes > maxBytes) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push({ key, shape });
    size += bytes;
  }
  if (groups.length === 1)
    return { jobs: [{ path: join(dir, `${stem}.safetensors`), seed, tensors: groups[0]! }], index: null };
  const n = groups.length;
  const index: Record<string, string> = {};
  const jobs = groups.map((tensors, i) => {
    const name = `${stem}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
    for (const t of tensors) index[t.key] = name;
    return { path: join(dir, name), seed, tensors };
  });
  return { jobs, index };
}

/** Bytes of weights (f16) a folder of this preset holds: what writing it needs on disk, within a few MB. */
export function randomFolderBytes(p: FluxPipelinePreset): number {
  const maps = [
    fluxStoredShapes(p.transformer, 'diffusers'),
    clipTextShapes(p.clip),
    t5Shapes(p.t5),
    aeDecoderShapes(p.ae, 'diffusers'),
  ];
  let n = 0;
  for (const m of maps) for (const s of m.values()) n += s.reduce((a, b) => a * b, 1) * 2;
  return n;
}

const jobBytes = (j: ShardJob) => j.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 2, 0);

/** What a folder writer (writeRandomFolder's fill) can add: folders, JSON files and random-weight files. */
export interface RandomFolderWriter {
  /** A folder under the new one (made if needed). */
  sub(name: string): string;
  json(path: string, value: unknown): void;
  /**
   * A diffusers component: `name`/config.json and its weights as `stem`.safetensors, sharded with an
   * index when larger than the shard size.
   */
  component(name: string, stem: string, shapes: Map<string, number[]>, config: unknown): void;
  /** One unsharded .safetensors file at `path` (relative to the new folder), e.g. a single-file release. */
  file(path: string, shapes: Map<string, number[]>, metadata?: Record<string, string>): void;
}

/**
 * Writes a folder of random weights: `fill` lays it out (configs now, weights queued), then the weight
 * files are streamed, largest first, on `threads` workers. The folder is made under a temporary name and
 * renamed when complete, so an interrupted run leaves no folder that looks whole.
 */
export async function writeRandomFolder(
  dir: string,
  o: Omit<RandomFolderOptions, 'preset'>,
  fill: (w: RandomFolderWriter) => void,
): Promise<RandomFolderResult> {
  const seed = o.seed ?? 0;
  const maxBytes = o.shardBytes ?? 2 ** 31;
  if (existsSync(dir)) {
    if (!o.force) throw new Error(`${dir} already exists (pass force / --force to replace it)`);
  }
  // a fresh folder under an unguessable name (mkdtemp), removed by a cancellation like a temp file
  mkdirSync(dirname(dir), { recursive: true }); // the parent too, as before the partial folder
  const tmp = mkdtempSync(join(dirname(dir), `.${basename(dir)}.partial-`));
  registerTemp(tmp);
  const sub = (name: string) => {
    const d = join(tmp, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  try {
    const jobs: ShardJob[] = [];
    fill({
      sub,
      json: (path, value) => json(join(tmp, path), value),
      component(name, stem, shapes, config) {
        const d = sub(name);
        json(join(d, 'config.json'), config);
        const plan = planShards(d, stem, shapes, maxBytes, seed);
        jobs.push(...plan.jobs);
        if (plan.index) {
          const total = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1) * 2, 0);
          json(join(d, `${stem}.safetensors.index.json`), {
            metadata: { total_size: total },
            weight_map: plan.index,
          });
        }
      },
      file(path, shapes, metadata) {
        mkdirSync(dirname(join(tmp, path)), { recursive: true });
        const tensors = [...shapes].map(([key, shape]) => ({ key, shape }));
        jobs.push({ path: join(tmp, path), seed, tensors, ...(metadata ? { metadata } : {}) });
      },
    });

    // progress counts whole files (headers included), as the writers report them
    const total = jobs.reduce((a, j) => a + streamedFileBytes(shardTensors(j), j.metadata), 0);
    let written = 0;
    const progress = (delta: number) => {
      written += delta;
      o.onProgress?.(written, total);
    };
    jobs.sort((a, b) => jobBytes(b) - jobBytes(a)); // largest first keeps the threads busy to the end
    const threads = Math.max(1, Math.min(o.threads ?? 1, jobs.length));
    if (threads === 1) {
      for (const job of jobs) {
        let last = 0;
        await writeShard(job, (w) => {
          progress(w - last);
          last = w;
        });
      }
    } else {
      await runInWorkers(jobs, threads, progress);
    }
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    forgetTemp(tmp);
    return { dir, bytes: jobs.reduce((a, j) => a + jobBytes(j), 0), files: jobs.length };
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}

export function writeRandomFluxFolder(dir: string, o: RandomFolderOptions): Promise<RandomFolderResult> {
  const p = o.preset;
  const seed = o.seed ?? 0;
  return writeRandomFolder(dir, o, (w) => {
    w.component(
      'transformer',
      'diffusion_pytorch_model',
      fluxStoredShapes(p.transformer, 'diffusers'),
      fluxDiffusersConfigJson(p.transformer),
    );
    w.component('text_encoder', 'model', clipTextShapes(p.clip), clipConfigJson(p.clip));
    w.component('text_encoder_2', 'model', t5Shapes(p.t5), t5ConfigJson(p.t5));
    w.component('vae', 'diffusion_pytorch_model', aeDecoderShapes(p.ae, 'diffusers'), aeConfigJson(p.ae));

    const clipTok = syntheticClipTokenizer(p.clipTokenizerVocab, { seed: seed + 7 });
    const tok = w.sub('tokenizer');
    json(join(tok, 'vocab.json'), clipTok.vocab);
    writeFileSync(join(tok, 'merges.txt'), clipTok.merges);
    json(join(tok, 'tokenizer_config.json'), clipTok.config);
    const t5Tok = syntheticT5Tokenizer(p.t5TokenizerVocab, { seed: seed + 5 });
    const tok2 = w.sub('tokenizer_2');
    json(join(tok2, 'tokenizer.json'), t5Tok.tokenizer);
    json(join(tok2, 'tokenizer_config.json'), t5Tok.config);

    const dev = p.transformer.guidance_embed;
    json(join(w.sub('scheduler'), 'scheduler_config.json'), {
      _class_name: 'FlowMatchEulerDiscreteScheduler',
      num_train_timesteps: 1000,
      shift: dev ? 3.0 : 1.0,
      use_dynamic_shifting: dev,
      base_shift: 0.5,
      max_shift: 1.15,
      base_image_seq_len: 256,
      max_image_seq_len: 4096,
    });
    w.json('model_index.json', {
      _class_name: 'FluxPipeline',
      _diffusers_version: '0.30.0',
      _comment: 'random weights written by toma-webgpu tools/make-random-flux-folder.mjs',
      scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
      text_encoder: ['transformers', 'CLIPTextModel'],
      text_encoder_2: ['transformers', 'T5EncoderModel'],
      tokenizer: ['transformers', 'CLIPTokenizer'],
      tokenizer_2: ['transformers', 'T5TokenizerFast'],
      transformer: ['diffusers', 'FluxTransformer2DModel'],
      vae: ['diffusers', 'AutoencoderKL'],
    });
  });
}

/** Runs the jobs on `threads` workers, each taking the next job when it finishes one. */
async function runInWorkers(
  jobs: ShardJob[],
  threads: number,
  progress: (delta: number) => void,
): Promise<void> {
  const queue = [...jobs];
  const url = new URL('./random-shard-worker.js', import.meta.url);
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: threads }, () => {
        const w = new Worker(url);
        workers.push(w);
        return new Promise<void>((resolve, reject) => {
          const next = () => {
            const job = queue.shift();
            if (job) w.postMessage(job);
            else {
              w.postMessage(null);
              resolve();
            }
          };
          w.on('message', (m: { type: string; delta?: number; message?: string }) => {
            if (m.type === 'bytes') progress(m.delta!);
            else if (m.type === 'done') next();
            else if (m.type === 'error') reject(new Error(m.message));
          });
          w.on('error', reject);
          next();
        });
      }),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
