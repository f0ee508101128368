// Checkpoint key layouts. The canonical names are the original release's state_dict keys
// (black-forest-labs/flux: img_in, double_blocks.N.img_attn.qkv, ...). The diffusers layout
// (FluxTransformer2DModel) maps onto them: separate q/k/v projections are concatenated by rows, the
// single blocks' linear1 is to_q | to_k | to_v | proj_mlp, and the final adaLN linear stores
// (scale, shift) where the original stores (shift, scale), so its halves are swapped.
import { type FluxConfig, headDim, mlpHidden } from './config.js';

export type KeyLayout = 'original' | 'diffusers';

/** Canonical key -> shape, in the original state_dict order. */
export function canonicalShapes(c: FluxConfig): Map<string, number[]> {
  const H = c.hidden_size;
  const D = headDim(c);
  const M = mlpHidden(c);
  const m = new Map<string, number[]>();
  const linear = (name: string, out: number, inp: number, bias = true) => {
    m.set(`${name}.weight`, [out, inp]);
    if (bias) m.set(`${name}.bias`, [out]);
  };
  const embedder = (name: string, inp: number) => {
    linear(`${name}.in_layer`, H, inp);
    linear(`${name}.out_layer`, H, H);
  };
  linear('img_in', H, c.in_channels);
  embedder('time_in', 256);
  embedder('vector_in', c.vec_in_dim);
  if (c.guidance_embed) embedder('guidance_in', 256);
  linear('txt_in', H, c.context_in_dim);
  for (let i = 0; i < c.depth; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}`;
      linear(`${p}_mod.lin`, 6 * H, H);
      linear(`${p}_attn.qkv`, 3 * H, H, c.qkv_bias);
      m.set(`${p}_attn.norm.query_norm.scale`, [D]);
      m.set(`${p}_attn.norm.key_norm.scale`, [D]);
      linear(`${p}_attn.proj`, H, H);
      linear(`${p}_mlp.0`, M, H);
      linear(`${p}_mlp.2`, H, M);
    }
  }
  for (let i = 0; i < c.depth_single_blocks; i++) {
    const p = `single_blocks.${i}`;
    linear(`${p}.linear1`, 3 * H + M, H);
    linear(`${p}.linear2`, H, H + M);
    m.set(`${p}.norm.query_norm.scale`, [D]);
    m.set(`${p}.norm.key_norm.scale`, [D]);
    linear(`${p}.modulation.lin`, 3 * H, H);
  }
  linear('final_layer.linear', c.out_channels, H);
  linear('final_layer.adaLN_modulation.1', 2 * H, H);
  return m;
}

/** How one canonical tensor is read from a checkpoint. */
export type Source =
  | { op: 'copy'; key: string }
  /** Rows (the first axis) of several stored tensors, in order. */
  | { op: 'concat'; parts: { key: string; rows: number }[] }
  /** The stored tensor with its two halves along the first axis exchanged. */
  | { op: 'swap'; key: string };

/** Canonical key -> where it is stored in `layout` (keys without any prefix). */
export function sourcesFor(c: FluxConfig, layout: KeyLayout): Map<string, Source> {
  const shapes = canonicalShapes(c);
  const out = new Map<string, Source>();
  if (layout === 'original') {
    for (const k of shapes.keys()) out.set(k, { op: 'copy', key: k });
    return out;
  }
  const H = c.hidden_size;
  const M = mlpHidden(c);
  const copy = (canon: string, key: string) => {
    for (const wb of ['weight', 'bias']) {
      if (shapes.has(`${canon}.${wb}`)) out.set(`${canon}.${wb}`, { op: 'copy', key: `${key}.${wb}` });
    }
  };
  const concat = (canon: string, parts: [string, number][]) => {
    for (const wb of ['weight', 'bias']) {
      if (shapes.has(`${canon}.${wb}`))
        out.set(`${canon}.${wb}`, {
          op: 'concat',
          parts: parts.map(([key, rows]) => ({ key: `${key}.${wb}`, rows })),
        });
    }
  };
  copy('img_in', 'x_embedder');
  copy('txt_in', 'context_embedder');
  const tte = 'time_text_embed';
  for (const [canon, key] of [
    ['time_in', `${tte}.timestep_embedder`],
    ['vector_in', `${tte}.text_embedder`],
    ['guidance_in', `${tte}.guidance_embedder`],
  ] as const) {
    copy(`${canon}.in_layer`, `${key}.linear_1`);
    copy(`${canon}.out_layer`, `${key}.linear_2`);
  }
  for (let i = 0; i < c.depth; i++) {
    const p = `double_blocks.${i}`;
    const d = `transformer_blocks.${i}`;
    copy(`${p}.img_mod.lin`, `${d}.norm1.linear`);
    copy(`${p}.txt_mod.lin`, `${d}.norm1_context.linear`);
    concat(`${p}.img_attn.qkv`, [
      [`${d}.attn.to_q`, H],
      [`${d}.attn.to_k`, H],
      [`${d}.attn.to_v`, H],
    ]);
    concat(`${p}.txt_attn.qkv`, [
      [`${d}.attn.add_q_proj`, H],
      [`${d}.attn.add_k_proj`, H],
      [`${d}.attn.add_v_proj`, H],
    ]);
    out.set(`${p}.img_attn.norm.query_norm.scale`, { op: 'copy', key: `${d}.attn.norm_q.weight` });
    out.set(`${p}.img_attn.norm.key_norm.scale`, { op: 'copy', key: `${d}.attn.norm_k.weight` });
    out.set(`${p}.txt_attn.norm.query_norm.scale`, { op: 'copy', key: `${d}.attn.norm_added_q.weight` });
    out.set(`${p}.txt_attn.norm.key_norm.scale`, { op: 'copy', key: `${d}.attn.norm_added_k.weight` });
    copy(`${p}.img_attn.proj`, `${d}.attn.to_out.0`);
    copy(`${p}.txt_attn.proj`, `${d}.attn.to_add_out`);
    copy(`${p}.img_mlp.0`, `${d}.ff.net.0.proj`);
    copy(`${p}.img_mlp.2`, `${d}.ff.net.2`);
    copy(`${p}.txt_mlp.0`, `${d}.ff_context.net.0.proj`);
    copy(`${p}.txt_mlp.2`, `${d}.ff_context.net.2`);
  }
  for (let i = 0; i < c.depth_single_blocks; i++) {
    const p = `single_blocks.${i}`;
    const d = `single_transformer_blocks.${i}`;
    concat(`${p}.linear1`, [
      [`${d}.attn.to_q`, H],
      [`${d}.attn.to_k`, H],
      [`${d}.attn.to_v`, H],
      [`${d}.proj_mlp`, M],
    ]);
    copy(`${p}.linear2`, `${d}.proj_out`);
    out.set(`${p}.norm.query_norm.scale`, { op: 'copy', key: `${d}.attn.norm_q.weight` });
    out.set(`${p}.norm.key_norm.scale`, { op: 'copy', key: `${d}.attn.norm_k.weight` });
    copy(`${p}.modulation.lin`, `${d}.norm.linear`);
  }
  copy('final_layer.linear', 'proj_out');
  out.set('final_layer.adaLN_modulation.1.weight', { op: 'swap', key: 'norm_out.linear.weight' });
  out.set('final_layer.adaLN_modulation.1.bias', { op: 'swap', key: 'norm_out.linear.bias' });
  for (const k of shapes.keys()) if (!out.has(k)) throw new Error(`internal: no diffusers source for ${k}`);
  return out;
}

/** The stored shape of each tensor a source reads, given the canonical shape. */
export function storedShapes(src: Source, canonical: number[]): { key: string; shape: number[] }[] {
  if (src.op === 'concat')
    return src.parts.map((p) => ({ key: p.key, shape: [p.rows, ...canonical.slice(1)] }));
  return [{ key: src.key, shape: canonical }];
}

/** Prefixes some exporters put in front of every key (ComfyUI, pipelines saved whole). */
const PREFIXES = ['', 'model.diffusion_model.', 'transformer.', 'model.'];

/** Finds the layout and key prefix of a checkpoint from its keys, or explains why none fits. */
export function detectLayout(has: (key: string) => boolean): { layout: KeyLayout; prefix: string } {
  for (const prefix of PREFIXES) {
    if (has(`${prefix}img_in.weight`)) return { layout: 'original', prefix };
    if (has(`${prefix}x_embedder.weight`)) return { layout: 'diffusers', prefix };
  }
  throw new Error(
    'not a Flux transformer checkpoint: found neither img_in.weight (original release layout) nor x_embedder.weight (diffusers layout)',
  );
}
