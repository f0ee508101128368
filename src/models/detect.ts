// What model family a checkpoint's keys look like, so that loading the wrong file (a CLIP checkpoint
// given as T5, the whole Flux transformer given as the autoencoder) fails with a message that says so.
import { SDXL_SINGLE_FILE_PREFIX } from './sdxl-single-file.js';
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

/** The parts of SDXL's single-file release, in the order the layout names them. */
export const SDXL_PARTS = ['unet', 'clipL', 'clipG', 'vae'] as const;
export type SdxlPart = (typeof SDXL_PARTS)[number];

/**
 * Which parts a checkpoint's keys hold under the single-file prefixes (sdxl-single-file.ts; none: not
 * such a file). A UNet alone under model.diffusion_model. may be any SGM-layout UNet.
 */
export function sdxlSingleFileParts(keys: Iterable<string>): SdxlPart[] {
  const found = new Set<SdxlPart>();
  for (const k of keys)
    for (const p of SDXL_PARTS) if (k.startsWith(SDXL_SINGLE_FILE_PREFIX[p])) found.add(p);
  return SDXL_PARTS.filter((p) => found.has(p));
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
