// T5 encoders from GGUF files in llama.cpp's naming (arch t5encoder, as the community converts
// t5-v1_1-xxl): the names map back to Hugging Face's, the matrices stay quantized on the device, and the
// encoding equals that of the same weights dequantized at load (CPU exactly, WebGPU f32 within 1e-5).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { GgufFile, writeGguf } from '../../src/io/gguf.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import type { T5Config } from '../../src/models/t5/config.js';
import { hfNameOfT5Gguf, isT5Gguf, t5SourceFromGguf } from '../../src/models/t5/gguf-names.js';
import { T5Encoder } from '../../src/models/t5/index.js';
import { t5Shapes } from '../../src/models/t5/shapes.js';
import { quantize } from '../../src/quant/quantize.js';
import { cpu, gpu, relErr } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'toma-t5-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config: T5Config = {
  vocab_size: 100,
  d_model: 64,
  d_kv: 16,
  d_ff: 128,
  num_layers: 2,
  num_heads: 4,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
};

/** Hugging Face name → llama.cpp name (the inverse of hfNameOfT5Gguf over the names a T5 has). */
function llamaName(hf: string): string {
  if (hf === 'shared.weight') return 'token_embd.weight';
  if (hf === 'encoder.final_layer_norm.weight') return 'enc.output_norm.weight';
  const m = /^encoder\.block\.(\d+)\.layer\.(\d)\.(.+)\.weight$/.exec(hf)!;
  const names: Record<string, string> = {
    '0.layer_norm': 'attn_norm',
    '0.SelfAttention.q': 'attn_q',
    '0.SelfAttention.k': 'attn_k',
    '0.SelfAttention.v': 'attn_v',
    '0.SelfAttention.o': 'attn_o',
    '0.SelfAttention.relative_attention_bias': 'attn_rel_b',
    '1.layer_norm': 'ffn_norm',
    '1.DenseReluDense.wi_0': 'ffn_gate',
    '1.DenseReluDense.wi_1': 'ffn_up',
    '1.DenseReluDense.wo': 'ffn_down',
  };
  return `enc.blk.${m[1]}.${names[`${m[2]}.${m[3]}`]!}.weight`;
}

function writeT5Gguf(path: string): void {
  const shapes = t5Shapes(config);
  const src = new RandomWeightSource('random T5', shapes, { seed: 3 });
  writeGguf(
    path,
    [['general.architecture', { type: 'string', value: 't5encoder' }]],
    [...shapes].map(([k, shape]) => {
      const type = shape.length === 2 && shape[1]! % 32 === 0 ? 'Q8_0' : 'F32';
      return [llamaName(k), { type, shape, bytes: quantize(type, src.readF32(k)) }];
    }),
  );
}

describe('T5 from GGUF (llama.cpp naming)', () => {
  const path = join(dir, 't5-q8_0.gguf');
  writeT5Gguf(path);
  const ids = Array.from({ length: 2 * 9 }, (_, i) => (i * 7) % 100);

  it('maps every llama.cpp name back to the Hugging Face one', () => {
    for (const k of t5Shapes(config).keys()) assert.equal(hfNameOfT5Gguf(llamaName(k)), k);
    assert.equal(hfNameOfT5Gguf('enc.blk.0.attn_x.weight'), undefined);
  });

  const encode = async (be: Backend, quantized: 'keep' | 'dequantize') => {
    const g = GgufFile.open(path);
    try {
      assert.ok(isT5Gguf(g));
      const model = T5Encoder.load(be, t5SourceFromGguf(g), { dtype: 'f32', quantized });
      try {
        const out = model.encode(ids, 2, 9);
        const v = await out.read();
        out.dispose();
        return v;
      } finally {
        model.dispose();
      }
    } finally {
      g.close();
    }
  };

  it(`matrices stay Q8_0; the encoding equals the dequantized weights' (CPU exact${gpu ? ', WebGPU ≤ 1e-5' : ''})`, async () => {
    const ref = await encode(cpu, 'dequantize');
    assert.deepEqual(await encode(cpu, 'keep'), ref);
    if (gpu) {
      const e = relErr(await encode(gpu, 'keep'), ref);
      assert.ok(e <= 1e-5, `WebGPU relative error ${e}`);
    }
  });
});
