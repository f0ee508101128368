import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRopeTable } from '../../src/cpu/rope.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

describe('heads kernel (projection rows -> heads, fused QK RMSNorm + RoPE) vs CPU reference', {
  skip: noGpu,
}, () => {
  for (const dtype of gpuDtypes) {
    for (const D of [16, 64, 128, 24]) {
      it(`${dtype} D=${D}: all slots, with and without norm/rope, into a joint buffer`, async () => {
        const r = rng();
        const B = 2;
        const L = 7;
        const H = 3;
        const W = 3 * H * D + 5; // extra columns after the slots (like linear1's mlp part)
        const ids: number[] = [];
        for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) ids.push(0, l % 3, Math.floor(l / 3));
        const table = buildRopeTable(ids, B, L, [D / 2, D / 4, D / 4], 10000);
        const [sc, sg] = pair(gpu!, r.normals(B * L * W), [B, L, W], dtype);
        const [nc, ng] = pair(gpu!, r.normals(D, 0.3, 1), [D], dtype);
        const [tc, tg] = pair(gpu!, table, [B, L, D / 2, 2], 'f32');
        for (const [column, useNorm, useRope] of [
          [0, true, true],
          [H * D, true, false],
          [2 * H * D, false, false],
          [1, false, true],
        ] as const) {
          const o = { heads: H, headDim: D, column, eps: 1e-6 };
          const want = await cpu
            .heads(sc, { ...o, norm: useNorm ? nc : undefined, rope: useRope ? tc : undefined })
            .read();
          const got = await gpu!
            .heads(sg, { ...o, norm: useNorm ? ng : undefined, rope: useRope ? tg : undefined })
            .read();
          assertClose(got, want, TOL[dtype], `column ${column} norm ${useNorm} rope ${useRope}`);
        }
        // into a joint [B, H, 3 + L, D] buffer at row 3; rows 0..2 keep what was there
        const [jc, jg] = pair(gpu!, r.normals(B * H * (3 + L) * D), [B, H, 3 + L, D], dtype);
        const o = { heads: H, headDim: D, column: H * D, norm: undefined, eps: 1e-6, seqOffset: 3 };
        const want = await cpu.heads(sc, { ...o, rope: tc, into: jc }).read();
        const got = await gpu!.heads(sg, { ...o, rope: tg, into: jg }).read();
        assertClose(got, want, TOL[dtype], 'into');
      });
      it(`${dtype} D=${D}: q, k, v of a fused qkv in one call (new outputs, and into joint buffers)`, async () => {
        const r = rng();
        const [B, L, H] = [2, 9, 3];
        const W = 3 * H * D + 7;
        const ids: number[] = [];
        for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) ids.push(0, l % 4, Math.floor(l / 4));
        const table = buildRopeTable(ids, B, L, [D / 2, D / 4, D / 4], 10000);
        const [sc, sg] = pair(gpu!, r.normals(B * L * W), [B, L, W], dtype);
        const [qnc, qng] = pair(gpu!, r.normals(D, 0.3, 1), [D], dtype);
        const [knc, kng] = pair(gpu!, r.normals(D, 0.3, 1), [D], dtype);
        const [tc, tg] = pair(gpu!, table, [B, L, D / 2, 2], 'f32');
        const o = { heads: H, headDim: D, eps: 1e-6 };
        const want = cpu.qkvHeads(sc, { ...o, qNorm: qnc, kNorm: knc, rope: tc });
        const got = gpu!.qkvHeads(sg, { ...o, qNorm: qng, kNorm: kng, rope: tg });
        for (const s of ['q', 'k', 'v'] as const)
          assertClose(await got[s].read(), await want[s].read(), TOL[dtype], `qkv ${s}`);
        // the CPU op is three heads() calls
        const kAlone = await cpu.heads(sc, { ...o, column: H * D, norm: knc, rope: tc }).read();
        assertClose(await want.k.read(), kAlone, 1e-7, 'qkvHeads k vs heads (CPU)');
        const Lj = 4 + L + 2;
        const [kjc, kjg] = pair(gpu!, r.normals(B * H * Lj * D), [B, H, Lj, D], dtype);
        const [vjc, vjg] = pair(gpu!, r.normals(B * H * Lj * D), [B, H, Lj, D], dtype);
        const at = { kInto: undefined, vInto: undefined, seqOffset: 4 };
        const wantJ = cpu.qkvHeads(sc, {
          ...o,
          ...at,
          qNorm: qnc,
          kNorm: knc,
          rope: tc,
          kInto: kjc,
          vInto: vjc,
        });
        const gotJ = gpu!.qkvHeads(sg, {
          ...o,
          ...at,
          qNorm: qng,
          kNorm: kng,
          rope: tg,
          kInto: kjg,
          vInto: vjg,
        });
        for (const s of ['q', 'k', 'v'] as const)
          assertClose(await gotJ[s].read(), await wantJ[s].read(), TOL[dtype], `qkv into ${s}`);
      });
    }
  }
  it('matches gather + rmsNorm + rope composed from the plain ops (CPU)', async () => {
    const r = rng();
    const B = 1;
    const L = 5;
    const H = 2;
    const D = 8;
    const x = cpu.tensor(r.normals(B * L * 3 * H * D), [B, L, 3 * H * D]);
    const norm = cpu.tensor(r.normals(D), [D]);
    const table = cpu.tensor(
      buildRopeTable([0, 0, 0, 0, 1, 2, 0, 2, 1, 0, 3, 3, 0, 4, 0], B, L, [2, 4, 2], 10000),
      [B, L, D / 2, 2],
    );
    // k heads by hand: rows l·(3H) + H + h of [B, L·3H, D], transposed to [B, H, L, D]
    const idx: number[] = [];
    for (let h = 0; h < H; h++) for (let l = 0; l < L; l++) idx.push(l * 3 * H + H + h);
    const rows = cpu.gather(cpu.reshape(x, [B, L * 3 * H, D]), cpu.tensor(idx, [B, H * L], 'u32'));
    const composed = cpu.rope(cpu.rmsNorm(cpu.reshape(rows, [B, H, L, D]), norm), table);
    const fused = cpu.heads(x, { heads: H, headDim: D, column: H * D, norm, rope: table });
    const a = await fused.read();
    const b = await composed.read();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `element ${i}`);
  });
});
