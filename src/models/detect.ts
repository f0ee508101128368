// What model family a checkpoint's keys look like, so that loading the wrong file (a CLIP checkpoint
// given as T5, the whole Flux transformer given as the autoencoder) fails with a message that says so.
import { isIoKey } from './weights.js';

export type ModelFamily = 'flux' | 't5' | 'clip' | 'ae' | 'unet' | 'sd3' | 'unknown';

const NAMES: Record<ModelFamily, string> = {
  flux: 'a Flux transformer',
  t5: 'a T5 encoder',
  clip: 'a CLIP text encoder',
  ae: 'a Flux autoencoder',
  unet: 'a Stable Diffusion UNet',
  sd3: 'a Stable Diffusion 3 transformer',
  unknown: 'no known model',
};

/** Key patterns that identify each family (any one match is enough). */
const SIGNATURES: [ModelFamily, RegExp][] = [
  ['unet', /^(model\.diffusion_model\.)?(input_blocks\.\d+\.|down_blocks\.\d+\.(resnets|attentions)\.)/],
  // a family this package does not run, named so that loading one says what it is
  ['sd3', /^(model\.diffusion_model\.)?joint_blocks\.\d+\./],
  [
    'flux',
    /^(model\.diffusion_model\.)?(double_blocks\.\d+\.|transformer_blocks\.\d+\.attn\.|single_transformer_blocks\.)/,
  ],
  ['t5', /^(encoder\.block\.\d+\.layer\.\d+\.|shared\.weight$|encoder\.embed_tokens\.weight$)/],
  ['clip', /^(text_model\.)?(embeddings\.token_embedding\.weight$|encoder\.layers\.\d+\.self_attn\.)/],
  [
    'ae',
    /^(decoder\.(conv_in|up\.\d+|up_blocks\.\d+|mid\.|mid_block\.)|encoder\.(down\.\d+|down_blocks\.\d+))/,
  ],
];

export function familyName(f: ModelFamily): string {
  return NAMES[f];
}

/** The family most keys point to, and one key as evidence. */
export function detectFamily(keys: string[]): { family: ModelFamily; evidence?: string } {
  const counts = new Map<ModelFamily, { n: number; key: string }>();
  for (const k of keys) {
    if (isIoKey(k)) continue;
    for (const [f, re] of SIGNATURES) {
      if (re.test(k)) {
        const c = counts.get(f);
        if (c) c.n++;
        else counts.set(f, { n: 1, key: k });
        break;
      }
    }
  }
  let best: ModelFamily = 'unknown';
  let bestN = 0;
  for (const [f, c] of counts)
    if (c.n > bestN) {
      best = f;
      bestN = c.n;
    }
  return { family: best, evidence: counts.get(best)?.key };
}

/**
 * The parts of SDXL's single-file release (sd_xl_base_1.0.safetensors: Stability's SGM key names) and the
 * key prefix each lives under. The text encoders keep their own naming below the prefix (CLIP-L in
 * Hugging Face's "text_model.…", OpenCLIP-bigG in OpenCLIP's "transformer.resblocks.…").
 */
export const SDXL_SINGLE_FILE_PREFIXES = {
  unet: 'model.diffusion_model.',
  clipL: 'conditioner.embedders.0.transformer.',
  clipG: 'conditioner.embedders.1.model.',
  vae: 'first_stage_model.',
} as const;
export type SdxlPart = keyof typeof SDXL_SINGLE_FILE_PREFIXES;

/**
 * Which parts a checkpoint holds under the single-file prefixes (none: not such a file; a UNet alone under
 * model.diffusion_model. may be any SGM-layout UNet: isSdxlSingleFile needs the text encoders too).
 */
export function sdxlSingleFileParts(keys: Iterable<string>): SdxlPart[] {
  const found = new Set<SdxlPart>();
  const entries = Object.entries(SDXL_SINGLE_FILE_PREFIXES) as [SdxlPart, string][];
  for (const k of keys) for (const [part, prefix] of entries) if (k.startsWith(prefix)) found.add(part);
  return entries.map(([p]) => p).filter((p) => found.has(p));
}

/** Whether the keys are a whole SDXL single-file checkpoint (the UNet with both text encoders). */
export function isSdxlSingleFile(keys: Iterable<string>): boolean {
  const parts = sdxlSingleFileParts(keys);
  return parts.includes('unet') && parts.includes('clipL') && parts.includes('clipG');
}

/** Throws unless the keys look like `want`, saying what they look like instead. */
export function expectFamily(path: string, keys: string[], want: ModelFamily): void {
  const { family, evidence } = detectFamily(keys);
  if (family === want) return;
  const sample = keys.filter((k) => !isIoKey(k)).slice(0, 3);
  const what =
    family === 'unknown'
      ? `its keys match no known model (first keys: ${sample.map((k) => `"${k}"`).join(', ') || 'none'})`
      : `it looks like ${NAMES[family]} (e.g. "${evidence}")`;
  throw new Error(`${path} is not ${NAMES[want]} checkpoint: ${what}`);
}
