import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Tensor } from '../../src/tensor.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

/** softmax(q kᵀ scale + bias + mask) v from matmul and softmax ops: an independent reference. */
async function explicitAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
  bias: Float32Array | null,
  allowed: (b: number, i: number, j: number) => boolean,
): Promise<Float32Array> {
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.dim(2);
  const qd = await q.read();
  const kd = await k.read();
  const vd = await v.read();
  const out = new Float32Array(B * Lq * H * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const qt = cpu.tensor(qd.subarray(bh * Lq * D, (bh + 1) * Lq * D), [Lq, D]);
      const kt = cpu.tensor(kd.subarray(bh * Lk * D, (bh + 1) * Lk * D), [Lk, D]);
      const s = await cpu.matmul(qt, kt).read();
      for (let i = 0; i < Lq; i++)
        for (let j = 0; j < Lk; j++) {
          s[i * Lk + j] = s[i * Lk + j]! * scale + (bias ? bias[(h * Lq + i) * Lk + j]! : 0);
          if (!allowed(b, i, j)) s[i * Lk + j] = -1e30;
        }
      const p = await cpu.softmax(cpu.tensor(s, [Lq, Lk])).read();
      for (let i = 0; i < Lq; i++)
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j < Lk; j++) acc += p[i * Lk + j]! * vd[bh * Lk * D + j * D + d]!;
          out[(b * Lq + i) * H * D + h * D + d] = acc;
        }
    }
  return out;
}

describe('masked attention: CPU reference', () => {
  it('without options equals attention()', async () => {
    const r = rng();
    const q = cpu.tensor(r.normals(2 * 3 * 5 * 8), [2, 3, 5, 8]);
    const k = cpu.tensor(r.normals(2 * 3 * 7 * 8), [2, 3, 7, 8]);
    const v = cpu.tensor(r.normals(2 * 3 * 7 * 8), [2, 3, 7, 8]);
    assertClose(
      await cpu.maskedAttention(q, k, v).read(),
      await cpu.attention(q, k, v).read(),
      1e-6,
      'plain',
    );
  });
  it('bias, causal mask and key padding equal an explicit softmax(q kᵀ + bias) v', async () => {
    const r = rng();
    const [B, H, L, D] = [2, 3, 9, 8];
    const q = cpu.tensor(r.normals(B * H * L * D), [B, H, L, D]);
    const k = cpu.tensor(r.normals(B * H * L * D), [B, H, L, D]);
    const v = cpu.tensor(r.normals(B * H * L * D), [B, H, L, D]);
    const biasData = r.normals(H * L * L, 0, 2);
    const bias = cpu.tensor(biasData, [H, L, L]);
    const maskData = [1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0];
    const keyMask = cpu.tensor(maskData, [B, L], 'u32');
    const got = await cpu.maskedAttention(q, k, v, { scale: 1, bias, causal: true, keyMask }).read();
    const want = await explicitAttention(
      q,
      k,
      v,
      1,
      biasData,
      (b, i, j) => j <= i && maskData[b * L + j] === 1,
    );
    // rows whose causal keys are all padding are excluded from this comparison (tested below)
    const rowsOk = (b: number, i: number) => maskData.slice(b * L, b * L + i + 1).some((m) => m === 1);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < L; i++) {
        if (!rowsOk(b, i)) continue;
        const o = (b * L + i) * H * D;
        assertClose(got.subarray(o, o + H * D), want.subarray(o, o + H * D), 1e-6, `row ${b},${i}`);
      }
  });
  it('a row whose keys are all padding averages the values uniformly (as adding finfo.min does)', async () => {
    const r = rng();
    const q = cpu.tensor(r.normals(4 * 8), [1, 1, 4, 8]);
    const k = cpu.tensor(r.normals(4 * 8), [1, 1, 4, 8]);
    const vd = r.normals(4 * 8);
    const v = cpu.tensor(vd, [1, 1, 4, 8]);
    const keyMask = cpu.tensor([0, 0, 0, 0], [1, 4], 'u32');
    const got = await cpu.maskedAttention(q, k, v, { keyMask }).read();
    for (let d = 0; d < 8; d++) {
      const mean = (vd[d]! + vd[8 + d]! + vd[16 + d]! + vd[24 + d]!) / 4;
      assert.ok(Math.abs(got[d]! - mean) < 1e-6);
    }
  });
});

describe('masked attention kernel vs CPU reference', { skip: noGpu }, () => {
  const cases = [
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 16, bias: true, causal: false, mask: false },
    { B: 2, H: 3, Lq: 37, Lk: 53, D: 64, bias: true, causal: false, mask: true },
    { B: 2, H: 2, Lq: 77, Lk: 77, D: 16, bias: false, causal: true, mask: false },
    { B: 1, H: 2, Lq: 70, Lk: 70, D: 32, bias: true, causal: true, mask: true },
    { B: 2, H: 1, Lq: 5, Lk: 130, D: 8, bias: false, causal: false, mask: true },
  ];
  for (const dtype of gpuDtypes) {
    for (const c of cases) {
      it(`${dtype} B=${c.B} H=${c.H} Lq=${c.Lq} Lk=${c.Lk} D=${c.D} bias=${c.bias} causal=${c.causal} mask=${c.mask}`, async () => {
        const r = rng();
        const { B, H, Lq, Lk, D } = c;
        const [qc, qg] = pair(gpu!, r.normals(B * H * Lq * D), [B, H, Lq, D], dtype);
        const [kc, kg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], dtype);
        const [vc, vg] = pair(gpu!, r.normals(B * H * Lk * D), [B, H, Lk, D], dtype);
        const biasShape = B > 1 && c.mask ? [B, H, Lq, Lk] : [H, Lq, Lk];
        const biasData = r.normals(
          biasShape.reduce((a, b) => a * b, 1),
          0,
          3,
        );
        const [bc, bg] = pair(gpu!, biasData, biasShape, 'f32');
        // padding at the end of each row, one row fully padded when B > 1
        const mask = Array.from({ length: B * Lk }, (_, i) =>
          B > 1 && i >= Lk ? 0 : i % Lk < Lk - 3 || Lk < 4 ? 1 : 0,
        );
        const [mc, mg] = pair(gpu!, mask, [B, Lk], 'u32');
        const opts = (bias: typeof bc, keyMask: typeof mc) => ({
          scale: 0.3,
          causal: c.causal,
          bias: c.bias ? bias : undefined,
          keyMask: c.mask ? keyMask : undefined,
        });
        const want = await cpu.maskedAttention(qc, kc, vc, opts(bc, mc)).read();
        const got = await gpu!.maskedAttention(qg, kg, vg, opts(bg, mg)).read();
        assertClose(got, want, TOL[dtype] * 2, 'maskedAttention');
      });
    }
  }
});
