// Which pipeline a --model-dir or --checkpoint is for: FLUX.1 or Stable Diffusion XL. Decided from what
// is cheap to read: model_index.json's class, the component folders (unet/ vs transformer/), file names
// (flux1-*.safetensors, *.gguf) and, for a lone .safetensors file, its tensor names (the header only). No
// Node modules here: this is part of the browser bundle.
import type { FileTree } from '../io/file-tree.js';
import { detectFamily, sdxlSingleFileParts } from '../models/detect.js';
import { readJsonIn, SDXL_PIPELINE_CLASSES, SdxlFolderError } from './sdxl-layout.js';

export type PipelineFamily = 'flux' | 'sdxl';

/** What a checkpoint file's tensor names make it: an SDXL single file or SGM UNet, else FLUX. */
function familyOfKeys(keys: string[]): PipelineFamily {
  if (sdxlSingleFileParts(keys).length > 0) return 'sdxl';
  return detectFamily(keys).family === 'unet' ? 'sdxl' : 'flux';
}

/**
 * The pipeline family of the model at `o` (FLUX.1 when nothing says SDXL, so that an incomplete folder
 * gets FLUX.1's list of what is missing as before). `keysOf` lists a .safetensors file's tensor names.
 */
export function pipelineFamilyIn(
  tree: FileTree,
  o: { modelDir?: string; checkpoint?: string },
  keysOf: (path: string) => string[],
): PipelineFamily {
  const keys = (p: string): string[] | null => {
    try {
      return keysOf(p);
    } catch {
      return null; // unreadable: the chosen pipeline's loader reports it
    }
  };
  if (o.modelDir && tree.isDir(o.modelDir)) {
    const index = tree.join(o.modelDir, 'model_index.json');
    if (tree.isFile(index)) {
      const c = readJsonIn(tree, index)._class_name;
      if (typeof c === 'string') {
        if (/^Flux/.test(c)) return 'flux';
        if (SDXL_PIPELINE_CLASSES.includes(c)) return 'sdxl';
        throw new SdxlFolderError(
          `${o.modelDir}: model_index.json describes a ${c}; supported: FluxPipeline (FLUX.1) and ${SDXL_PIPELINE_CLASSES.join(', ')} (Stable Diffusion XL base)`,
        );
      }
    }
    if (tree.isDir(tree.join(o.modelDir, 'unet'))) return 'sdxl';
    if (tree.isDir(tree.join(o.modelDir, 'transformer'))) return 'flux';
    if (!o.checkpoint) {
      const names = tree.list(o.modelDir);
      if (names.some((n) => /^flux.*\.(safetensors|gguf)$/i.test(n))) return 'flux';
      for (const n of names.filter((n) => /\.safetensors$/i.test(n))) {
        const k = keys(tree.join(o.modelDir, n));
        if (k && sdxlSingleFileParts(k).includes('unet')) return 'sdxl';
      }
    }
  }
  if (o.checkpoint && tree.isFile(o.checkpoint) && /\.safetensors$/i.test(o.checkpoint)) {
    const k = keys(o.checkpoint);
    if (k) return familyOfKeys(k);
  }
  return 'flux';
}
