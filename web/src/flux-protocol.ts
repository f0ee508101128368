// Messages between the page and the FLUX.1 worker (flux-worker.ts). The worker reads the picked files
// with FileReaderSync (one tensor at a time, never a whole file) and runs the pipeline on its own
// WebGPU device; the page shows what was found, the limits, progress and the images.
import type { AeDecoderConfig } from '../../src/models/ae/config.js';
import type { ClipTextConfig } from '../../src/models/clip/config.js';
import type { FluxConfig } from '../../src/models/flux/config.js';
import type { T5Config } from '../../src/models/t5/config.js';
import type { ComponentSummary } from '../../src/pipeline/flux-file-list.js';
import type { StageName } from '../../src/pipeline/flux-pipeline.js';

export interface PickedEntry {
  /** Folder picker: the path under the picked folder's parent; a picked file: its name. */
  path: string;
  file: File;
}

export interface FluxRunRequest {
  prompt: string;
  seed: number;
  size: number;
  steps: number;
  guidance: number;
  /** The methods to run on the same noise, in order (dense first when comparing). */
  methods: { method: string; ratio: number; tile: number; mergeEvery: number; cache: string | null }[];
  dtype: 'f16' | 'f32';
  /** Run each stage once untimed first (GPU pipeline compilation). */
  warmUp: boolean;
}

export interface FluxOpened {
  description: string;
  variant: 'schnell' | 'dev';
  summary: ComponentSummary[];
  transformer: FluxConfig;
  t5: T5Config;
  clip: ClipTextConfig;
  ae: AeDecoderConfig;
  /** Pixels per latent cell (8 for FLUX.1): sizes are multiples of twice this. */
  latentFactor: number;
  /** T5 tokens per prompt (256 schnell, 512 dev). */
  textTokens: number;
}

export interface FluxImageOut {
  method: string;
  rgb: Uint8Array;
  stepMs: number[];
  totalMs: number;
  /** Values of the decoded image that were NaN or infinite (0 for a sound run). */
  nonFinite: number;
}

export type ToWorker =
  | { type: 'open'; folder: PickedEntry[]; extra: PickedEntry[]; dtype: 'f16' | 'f32' }
  | { type: 'run'; request: FluxRunRequest }
  | { type: 'cancel' };

export type FromWorker =
  | { type: 'opened'; info: FluxOpened }
  | { type: 'open-failed'; message: string }
  | {
      type: 'stage';
      stage: StageName;
      phase: 'start' | 'progress' | 'end';
      method?: string;
      done?: number;
      total?: number;
      ms?: number;
    }
  | { type: 'done'; images: FluxImageOut[]; width: number; height: number }
  | { type: 'failed'; message: string; aborted: boolean };
