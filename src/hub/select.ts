// Which files of a repo to fetch. By default only what a FLUX.1 pipeline reads from a diffusers-layout
// repo: black-forest-labs/FLUX.1-schnell also carries the single-file release (flux1-schnell.safetensors,
// ae.safetensors: 24 GB more) and pictures, which the diffusers folders make redundant.

/** The default for a diffusers FLUX.1 repo (the folders src/pipeline/model-folder.ts reads). */
export const FLUX_DIFFUSERS_PATTERNS: readonly string[] = [
  'model_index.json',
  'scheduler/*.json',
  ...['transformer', 'text_encoder', 'text_encoder_2', 'vae'].flatMap((d) => [
    `${d}/config.json`,
    `${d}/*.safetensors`,
    `${d}/*.safetensors.index.json`,
  ]),
  ...['tokenizer', 'tokenizer_2'].flatMap((d) => [`${d}/*.json`, `${d}/*.txt`, `${d}/*.model`]),
];

/** fnmatch as huggingface_hub's allow_patterns uses it: `*` spans any characters (slashes too), `?` one. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export function matchesAny(path: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globToRegExp(p).test(path));
}

/** Keeps the repo paths that some pattern matches, in the order given. */
export function selectFiles<T extends { path: string }>(
  entries: readonly T[],
  patterns: readonly string[],
): T[] {
  const res = patterns.map(globToRegExp);
  return entries.filter((e) => res.some((r) => r.test(e.path)));
}
