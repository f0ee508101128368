// T5 encoders as llama.cpp converts them (arch "t5encoder", e.g. the community's t5-v1_1-xxl GGUF files
// used with FLUX.1): the same tensors under llama.cpp's names. This view renames them to the Hugging Face
// names the T5 loader reads; values (quantized blocks too) pass through untouched.
import type { GgufReader } from '../../io/gguf.js';
import type { WeightSource } from '../weights.js';

/** llama.cpp name → Hugging Face T5EncoderModel name, for one tensor; undefined for unknown names. */
export function hfNameOfT5Gguf(name: string): string | undefined {
  if (name === 'token_embd.weight') return 'shared.weight';
  if (name === 'enc.output_norm.weight') return 'encoder.final_layer_norm.weight';
  const m = /^enc\.blk\.(\d+)\.(\w+)\.weight$/.exec(name);
  if (!m) return undefined;
  const a = `encoder.block.${m[1]}.layer.0.`;
  const f = `encoder.block.${m[1]}.layer.1.`;
  const map: Record<string, string> = {
    attn_norm: `${a}layer_norm`,
    attn_q: `${a}SelfAttention.q`,
    attn_k: `${a}SelfAttention.k`,
    attn_v: `${a}SelfAttention.v`,
    attn_o: `${a}SelfAttention.o`,
    attn_rel_b: `${a}SelfAttention.relative_attention_bias`,
    ffn_norm: `${f}layer_norm`,
    ffn_gate: `${f}DenseReluDense.wi_0`,
    ffn_up: `${f}DenseReluDense.wi_1`,
    ffn_down: `${f}DenseReluDense.wo`,
  };
  const hf = map[m[2]!];
  return hf && `${hf}.weight`;
}

/** Whether a GGUF file holds a T5 encoder in llama.cpp's naming. */
export function isT5Gguf(g: GgufReader): boolean {
  return g.architecture === 't5encoder' || g.architecture === 't5' || g.has('enc.blk.0.attn_q.weight');
}

/** The T5 tensors of a llama.cpp-named GGUF file under Hugging Face names (other tensors are left out). */
export function t5SourceFromGguf(g: GgufReader): WeightSource & { metadata: Record<string, string> } {
  const toGguf = new Map<string, string>();
  for (const k of g.keys()) {
    const hf = hfNameOfT5Gguf(k);
    if (hf) toGguf.set(hf, k);
  }
  const name = (k: string) => {
    const n = toGguf.get(k);
    if (n === undefined) throw new Error(`${g.path}: no tensor for "${k}"`);
    return n;
  };
  return {
    path: g.path,
    metadata: g.metadata,
    keys: () => [...toGguf.keys()],
    has: (k) => toGguf.has(k),
    info: (k) => g.info(name(k)),
    readF32: (k) => g.readF32(name(k)),
    readF16Bits: (k) => g.readF16Bits(name(k)),
    readQuantized: (k) => g.readQuantized(name(k)),
  };
}
