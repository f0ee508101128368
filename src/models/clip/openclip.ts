// OpenCLIP's text tower under Hugging Face CLIPTextModelWithProjection names, so ClipTextModel loads it
// as it loads a transformers checkpoint. SDXL's single-file release keeps its second text encoder
// (OpenCLIP ViT-bigG) this way under "conditioner.embedders.1.model.":
//   token_embedding.weight                        -> text_model.embeddings.token_embedding.weight
//   positional_embedding [L, C]                   -> text_model.embeddings.position_embedding.weight
//   transformer.resblocks.N.ln_1 / ln_2           -> text_model.encoder.layers.N.layer_norm1 / layer_norm2
//   transformer.resblocks.N.attn.in_proj_weight [3C, C] (q, k, v stacked by rows; bias [3C] likewise)
//                                                 -> ....self_attn.q_proj / k_proj / v_proj
//   transformer.resblocks.N.attn.out_proj         -> ....self_attn.out_proj
//   transformer.resblocks.N.mlp.c_fc / c_proj     -> ....mlp.fc1 / fc2
//   ln_final                                      -> text_model.final_layer_norm
//   text_projection [C, P] (applied as x · P)     -> text_projection.weight [P, C] (transposed)
// Other keys (logit_scale, attn_mask) are not exposed. The activation is exact GELU (OPENCLIP_TEXT_CONFIG):
// a single file has no config.json to say so.
import { MappedSource, type StoredPart } from '../source-views.js';
import { WeightError, type WeightSource } from '../weights.js';

/** What an OpenCLIP text tower's config.json would say that its shapes cannot (ViT-bigG, ViT-H). */
export const OPENCLIP_TEXT_CONFIG = { hidden_act: 'gelu' } as const;

const LAYER_RENAMES: [RegExp, string][] = [
  [/^ln_1\.(weight|bias)$/, 'layer_norm1.$1'],
  [/^ln_2\.(weight|bias)$/, 'layer_norm2.$1'],
  [/^attn\.out_proj\.(weight|bias)$/, 'self_attn.out_proj.$1'],
  [/^mlp\.c_fc\.(weight|bias)$/, 'mlp.fc1.$1'],
  [/^mlp\.c_proj\.(weight|bias)$/, 'mlp.fc2.$1'],
];

/** True when `prefix` holds an OpenCLIP text tower (its fused attention input projection). */
export function isOpenClipText(src: WeightSource, prefix = ''): boolean {
  return src.has(`${prefix}transformer.resblocks.0.attn.in_proj_weight`);
}

/** The OpenCLIP text tower under `prefix` as a transformers CLIP text checkpoint. */
export function openClipTextSource(src: WeightSource, prefix = ''): MappedSource {
  const first = `${prefix}transformer.resblocks.0.attn.in_proj_weight`;
  if (!src.has(first))
    throw new WeightError(
      `${src.path}: tensor "${first}" is missing (an OpenCLIP text encoder checkpoint needs it)`,
    );
  const parts = new Map<string, StoredPart>();
  const t = 'text_model.';
  const top: [string, string][] = [
    ['token_embedding.weight', `${t}embeddings.token_embedding.weight`],
    ['positional_embedding', `${t}embeddings.position_embedding.weight`],
    ['ln_final.weight', `${t}final_layer_norm.weight`],
    ['ln_final.bias', `${t}final_layer_norm.bias`],
  ];
  for (const [stored, name] of top) if (src.has(prefix + stored)) parts.set(name, { key: prefix + stored });
  if (src.has(`${prefix}text_projection`))
    parts.set('text_projection.weight', { key: `${prefix}text_projection`, transpose: true });
  const block = new RegExp(`^${escapeRegExp(prefix)}transformer\\.resblocks\\.(\\d+)\\.(.+)$`);
  for (const key of src.keys()) {
    const m = block.exec(key);
    if (!m) continue;
    const layer = `${t}encoder.layers.${m[1]}.`;
    const rest = m[2]!;
    const fused = /^attn\.in_proj_(weight|bias)$/.exec(rest);
    if (fused) {
      // q, k, v stacked along the first axis: thirds of it
      const rows = src.info(key).shape[0]!;
      if (rows % 3 !== 0)
        throw new WeightError(
          `${src.path}: tensor "${key}" has ${rows} rows, expected 3 x the width (q, k and v stacked)`,
        );
      const C = rows / 3;
      ['q_proj', 'k_proj', 'v_proj'].forEach((proj, i) => {
        parts.set(`${layer}self_attn.${proj}.${fused[1]}`, { key, rows: [i * C, C] });
      });
      continue;
    }
    for (const [re, to] of LAYER_RENAMES)
      if (re.test(rest)) {
        parts.set(layer + rest.replace(re, to), { key });
        break;
      }
  }
  return new MappedSource(
    src,
    parts,
    `${src.path} [OpenCLIP text encoder${prefix ? ` under "${prefix}"` : ''}]`,
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
