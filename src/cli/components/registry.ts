// Model components that `toma forward` can run. Each reads its inputs (keys `in.*`) from a safetensors
// file and returns the tensors to write. To add one (ae, clip, t5, sdxl-*, ...): implement ForwardComponent in
// a file beside this one and list it below.
import type { Backend } from '../../backend.js';
import type { Checkpoint, TensorToWrite } from '../../io/safetensors.js';
import { COMPONENTS, componentOutputs } from '../components.js';
import { flux } from './flux.js';
import { sdxlClipG, sdxlVae, sdxlVaeEncode } from './sdxl.js';
import { sdxlUnet } from './sdxl-unet.js';

export interface ForwardRun {
  be: Backend;
  dtype: 'f32' | 'f16';
  /** Path of the checkpoint (.safetensors, *.safetensors.index.json or a folder). */
  checkpoint: string;
  inputs: Checkpoint;
  /** The --config value (a preset name or JSON), if given. */
  config?: string;
  /**
   * --max-memory: the device memory the run may take; flux streams transformer blocks to stay within
   * it (src/models/flux/residency.ts). Other components ignore it.
   */
  maxMemory?: number;
  log(line: string): void;
}

export interface ForwardComponent {
  name: string;
  summary: string;
  /** Input keys read from --inputs, for the help text ("?" marks optional ones). */
  inputKeys: string[];
  /** Output keys written to --out. */
  outputKeys: string[];
  run(r: ForwardRun): Promise<Record<string, TensorToWrite>>;
}

/** The Flux text encoders and autoencoder (src/cli/components.ts); their config is JSON, not a preset. */
const encoders: ForwardComponent[] = (['ae', 'clip', 't5'] as const).map((name) => ({
  name,
  ...COMPONENTS[name],
  run: (r: ForwardRun) => componentOutputs(name, r),
}));

export const components: ForwardComponent[] = [
  flux,
  ...encoders,
  sdxlUnet,
  sdxlClipG,
  sdxlVae,
  sdxlVaeEncode,
];
