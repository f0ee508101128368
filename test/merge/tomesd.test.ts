import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tomesdMatchRef, tomesdPartition, tomesdPlanRef } from '../../src/cpu/tomesd.js';
import {
  tomesdMatch,
  tomesdMerge,
  tomesdPlan,
  tomesdRope,
  tomesdUnmerge,
  uploadPartition,
} from '../../src/merge/tomesd.js';
import { assertClose, cpu, gpu, gpuDtypes, noGpu, pair, rng, TOL } from '../helpers.js';

const B = 2;

describe('ToMeSD partition', () => {
  for (const [H, W] of [
    [6, 6],
    [7, 5],
    [2, 9],
  ] as const) {
    it(`${H}x${W}: one destination per full 2x2 cell, every other token a source`, () => {
      const part = tomesdPartition(H, W, 7);
      const cellsH = Math.floor(H / 2);
      const cellsW = Math.floor(W / 2);
      assert.equal(part.dst.length, cellsH * cellsW);
      part.dst.forEach((r, j) => {
        assert.equal(Math.floor(Math.floor(r / W) / 2), Math.floor(j / cellsW), 'cell row');
        assert.equal(Math.floor((r % W) / 2), j % cellsW, 'cell column');
      });
      const all = [...part.src, ...part.dst].sort((a, b) => a - b);
      assert.deepEqual(
        all,
        Array.from({ length: H * W }, (_, i) => i),
      );
      assert.deepEqual(tomesdPartition(H, W, 7), part, 'same seed, same partition');
    });
  }
  it('different seeds choose different destinations', () => {
    assert.notDeepEqual(tomesdPartition(16, 16, 1).dst, tomesdPartition(16, 16, 2).dst);
  });
});

describe('ToMeSD kernels vs CPU reference', { skip: noGpu }, () => {
  for (const dtype of gpuDtypes) {
    for (const [H, W, C] of [
      [6, 6, 16],
      [7, 5, 7],
    ] as const) {
      const N = H * W;
      it(`${dtype} ${H}x${W} C ${C}: matching (near-ties allowed), plan, merge, unmerge`, async () => {
        const r = rng();
        const part = tomesdPartition(H, W, r.nextU32());
        const ns = part.src.length;
        const [xc, xg] = pair(gpu!, r.normals(B * N * C), [B, N, C], dtype);
        const pg = uploadPartition(gpu!, part);
        const pc = uploadPartition(cpu, part);
        const mg = tomesdMatch(gpu!, xg, pg);
        const want = tomesdMatchRef(cpu.data(xc), B, C, part);
        const gotMax = await mg.nodeMax.read();
        const gotIdx = await gpu!.readU32(mg.nodeIdx);
        assertClose(gotMax, want.nodeMax, dtype === 'f16' ? 2e-3 : 1e-5, 'nodeMax');
        for (let i = 0; i < B * ns; i++) {
          if (gotIdx[i] === want.nodeIdx[i]) continue;
          // A different destination is fine only if it is (nearly) as similar as the reference's pick.
          const b = Math.floor(i / ns);
          const other = tomesdMatchRef(cpu.data(xc), B, C, {
            ...part,
            dst: part.dst.subarray(gotIdx[i]!, gotIdx[i]! + 1),
          });
          assert.ok(
            want.nodeMax[i]! - other.nodeMax[b * ns + (i % ns)]! < 1e-5,
            `source ${i}: destination ${gotIdx[i]} vs ${want.nodeIdx[i]}`,
          );
        }
        // From here on both backends use the reference match so plans must agree exactly.
        const matchC = {
          nodeMax: cpu.tensor(want.nodeMax, [B, ns]),
          nodeIdx: cpu.tensor(want.nodeIdx, [B, ns], 'u32'),
        };
        const matchG = {
          nodeMax: gpu!.tensor(want.nodeMax, [B, ns]),
          nodeIdx: gpu!.tensor(want.nodeIdx, [B, ns], 'u32'),
        };
        for (const rr of [0, Math.floor(ns / 2), ns]) {
          const planC = tomesdPlan(cpu, matchC, pc, rr);
          const planG = tomesdPlan(gpu!, matchG, pg, rr);
          assert.equal(planG.tokens, N - rr);
          for (const k of ['order', 'rowOf', 'repIdx', 'groupStart', 'groupCount'] as const)
            assert.deepEqual(await gpu!.readU32(planG[k]), await cpu.readU32(planC[k]), `${k} r=${rr}`);
          if (rr > 0)
            assert.deepEqual(await gpu!.readU32(planG.list), await cpu.readU32(planC.list), `list r=${rr}`);
          const yg = tomesdMerge(gpu!, xg, pg, planG);
          const yc = tomesdMerge(cpu, xc, pc, planC);
          assertClose(await yg.read(), await yc.read(), TOL[dtype], `merge r=${rr}`);
          const ug = tomesdUnmerge(gpu!, yg, planG);
          assertClose(
            await ug.read(),
            await tomesdUnmerge(cpu, yc, planC).read(),
            TOL[dtype],
            `unmerge r=${rr}`,
          );
          if (rr === 0)
            assert.deepEqual(await ug.read(), await xg.read(), 'nothing merged: unmerge(merge(x)) = x');
        }
      });
    }
  }

  it('tied similarities: rank and groups break ties by source index on both backends', async () => {
    const r = rng();
    const part = tomesdPartition(8, 6, 3);
    const ns = part.src.length;
    const nd = part.dst.length;
    const levels = [0.25, 0.5, 0.75];
    const nodeMax = Float32Array.from({ length: B * ns }, () => levels[r.int(3)]!);
    const nodeIdx = Uint32Array.from({ length: B * ns }, () => r.int(3)); // few destinations: big groups
    for (const rr of [1, 17, ns - 1]) {
      const ref = tomesdPlanRef(nodeMax, nodeIdx, B, part, rr);
      const planG = tomesdPlan(
        gpu!,
        { nodeMax: gpu!.tensor(nodeMax, [B, ns]), nodeIdx: gpu!.tensor(nodeIdx, [B, ns], 'u32') },
        uploadPartition(gpu!, part),
        rr,
      );
      assert.deepEqual(await gpu!.readU32(planG.order), ref.order, `order r=${rr}`);
      assert.deepEqual(await gpu!.readU32(planG.list), ref.list, `list r=${rr}`);
      assert.deepEqual(await gpu!.readU32(planG.groupStart), ref.groupStart);
      assert.deepEqual(await gpu!.readU32(planG.groupCount), ref.groupCount);
      let total = 0;
      for (let j = 0; j < nd; j++) total += ref.groupCount[j]!;
      assert.equal(total, rr, 'every merged source is in one group');
    }
  });
});

// Index contents the CPU cannot check before a launch (they live on the GPU): the kernels must stay in
// bounds whatever they hold. Under guard mode (the test default) an out-of-bounds write fails the test;
// before these kernels were hardened, each case below wrote past a buffer (docs/kernels/robustness.md).
describe('ToMeSD kernels stay in bounds on bad index contents', { skip: noGpu }, () => {
  const part = tomesdPartition(6, 6, 5);
  const ns = part.src.length;
  const nd = part.dst.length;
  const N = 36;
  const C = 8;

  it('NaN similarities (caller-supplied) rank last, as on the CPU: the plan is a permutation', async () => {
    const r = rng();
    const nodeMax = r.normals(B * ns);
    for (let k = 0; k < 7; k++) nodeMax[r.int(B * ns)] = Number.NaN;
    nodeMax[3] = -0; // ties with +0 on both backends
    nodeMax[4] = 0;
    const nodeIdx = Uint32Array.from({ length: B * ns }, () => r.int(nd));
    for (const rr of [ns - 9, ns - 1, ns]) {
      const ref = tomesdPlanRef(nodeMax, nodeIdx, B, part, rr);
      const pg = uploadPartition(gpu!, part);
      const planG = tomesdPlan(
        gpu!,
        { nodeMax: gpu!.tensor(nodeMax, [B, ns]), nodeIdx: gpu!.tensor(nodeIdx, [B, ns], 'u32') },
        pg,
        rr,
      );
      const order = await gpu!.readU32(planG.order);
      for (let b = 0; b < B; b++)
        assert.deepEqual(
          Array.from(order.subarray(b * ns, (b + 1) * ns)).sort((a, c) => a - c),
          Array.from({ length: ns }, (_, i) => i),
          'order is a permutation',
        );
      for (const k of ['order', 'rowOf', 'repIdx', 'list', 'groupStart', 'groupCount'] as const)
        assert.deepEqual(await gpu!.readU32(planG[k]), ref[k], `${k} r=${rr}`);
      const x = r.normals(B * N * C);
      const y = tomesdMerge(gpu!, gpu!.tensor(x, [B, N, C]), pg, planG);
      const pc = uploadPartition(cpu, part);
      const planC = tomesdPlan(
        cpu,
        { nodeMax: cpu.tensor(nodeMax, [B, ns]), nodeIdx: cpu.tensor(nodeIdx, [B, ns], 'u32') },
        pc,
        rr,
      );
      assertClose(
        await y.read(),
        await tomesdMerge(cpu, cpu.tensor(x, [B, N, C]), pc, planC).read(),
        1e-6,
        'merge',
      );
    }
  });

  it('NaN tokens: matching picks destination 0 with score -inf on both backends', async () => {
    const r = rng();
    const x = r.normals(B * N * C);
    x.fill(Number.NaN, 0, N * C); // batch 0 all NaN
    for (let k = 0; k < 3; k++) x[N * C + r.int(N * C)] = Number.NaN; // batch 1: a few NaN tokens
    const want = tomesdMatchRef(x, B, C, part);
    const m = tomesdMatch(gpu!, gpu!.tensor(x, [B, N, C]), uploadPartition(gpu!, part));
    const idx = await gpu!.readU32(m.nodeIdx);
    const max = await m.nodeMax.read();
    for (let i = 0; i < ns; i++) {
      assert.equal(idx[i], want.nodeIdx[i], `batch 0 source ${i}`);
      assert.equal(max[i], Number.NEGATIVE_INFINITY);
    }
    for (let i = ns; i < B * ns; i++) assert.ok(idx[i]! < nd, `batch 1 source ${i - ns}: ${idx[i]}`);
  });

  it('a partition with more destinations than sources (past one workgroup): every row written', async () => {
    const r = rng();
    const n = 300;
    const perm = Array.from({ length: n }, (_, i) => i).sort(() => r.uniform() - 0.5);
    const custom = { n, src: Uint32Array.from(perm.slice(0, 20)), dst: Uint32Array.from(perm.slice(20)) };
    const nodeMax = r.normals(B * 20);
    const nodeIdx = Uint32Array.from({ length: B * 20 }, () => r.int(n - 20));
    const ref = tomesdPlanRef(nodeMax, nodeIdx, B, custom, 7);
    const plan = tomesdPlan(
      gpu!,
      { nodeMax: gpu!.tensor(nodeMax, [B, 20]), nodeIdx: gpu!.tensor(nodeIdx, [B, 20], 'u32') },
      uploadPartition(gpu!, custom),
      7,
    );
    for (const k of ['order', 'rowOf', 'repIdx', 'list', 'groupStart', 'groupCount'] as const)
      assert.deepEqual(await gpu!.readU32(plan[k]), ref[k], k);
  });

  it('out-of-range partition indices and destinations are skipped, not followed', async () => {
    const r = rng();
    const src = Uint32Array.from(part.src);
    src[ns - 1] = N + 3; // past the tokens of the last batch element
    src[2] = 0xfffffff0;
    const dst = Uint32Array.from(part.dst);
    dst[nd - 1] = N + 1;
    const pg = { src: gpu!.tensor(src, [ns], 'u32'), dst: gpu!.tensor(dst, [nd], 'u32') };
    const x = gpu!.tensor(r.normals(B * N * C), [B, N, C]);
    const match = tomesdMatch(gpu!, x, pg);
    const nodeIdx = await gpu!.readU32(match.nodeIdx);
    nodeIdx[1] = nd + 2; // and a destination index past the groups
    nodeIdx[B * ns - 1] = nd;
    const plan = tomesdPlan(
      gpu!,
      { nodeMax: match.nodeMax, nodeIdx: gpu!.tensor(nodeIdx, [B, ns], 'u32') },
      pg,
      ns,
    );
    const y = tomesdMerge(gpu!, x, pg, plan);
    const out = await y.read(); // guard: nothing was written out of bounds
    assert.ok(out.every(Number.isFinite), 'skipped indices contribute nothing, not garbage');
    const counts = await gpu!.readU32(plan.groupCount);
    for (let b = 0; b < B; b++) {
      let total = 0;
      for (let j = 0; j < nd; j++) total += counts[b * nd + j]!;
      assert.ok(total <= ns, `batch ${b}: ${total} grouped sources`);
    }
    await tomesdUnmerge(gpu!, y, plan).read();
    // A plan whose lists point anywhere: the merge reads only inside its inputs.
    const junk = (n: number) =>
      gpu!.tensor(
        Uint32Array.from({ length: B * n }, () => r.nextU32()),
        [B, n],
        'u32',
      );
    const bad = { ...plan, order: junk(ns), list: junk(ns), groupStart: junk(nd), groupCount: junk(nd) };
    // (Guard mode sees writes only; before the kernels clamped these, the merge read far out of bounds.)
    const merged = await tomesdMerge(gpu!, x, pg, bad).read();
    assert.ok(merged.every(Number.isFinite), 'only x values (or nothing) are averaged');
    await gpu!.sync();
  });
});

describe('ToMeSD semantics (CPU reference)', () => {
  it('merged destinations are means; unmerge copies them back; RoPE rows follow the representatives', async () => {
    const H = 4;
    const W = 4;
    const C = 3;
    const part = tomesdPartition(H, W, 11);
    const ns = part.src.length;
    const r = rng();
    const x = r.normals(H * W * C);
    const xc = cpu.tensor(x, [1, H * W, C]);
    const pc = uploadPartition(cpu, part);
    const match = tomesdMatch(cpu, xc, pc);
    const plan = tomesdPlan(cpu, match, pc, 5);
    const y = await tomesdMerge(cpu, xc, pc, plan).read();
    const idx = await cpu.readU32(match.nodeIdx);
    const order = await cpu.readU32(plan.order);
    const unm = ns - 5;
    for (let j = 0; j < part.dst.length; j++) {
      const members = [
        part.dst[j]!,
        ...Array.from(order.subarray(0, 5))
          .filter((i) => idx[i] === j)
          .map((i) => part.src[i]!),
      ];
      for (let c = 0; c < C; c++) {
        const mean = members.reduce((s, m) => s + x[m * C + c]!, 0) / members.length;
        assert.ok(Math.abs(y[(unm + j) * C + c]! - mean) < 1e-6);
      }
    }
    const u = await tomesdUnmerge(cpu, tomesdMerge(cpu, xc, pc, plan), plan).read();
    for (const i of order.subarray(0, 5)) {
      const row = unm + idx[i]!;
      assert.deepEqual(
        Array.from(u.subarray(part.src[i]! * C, part.src[i]! * C + C)),
        Array.from(y.subarray(row * C, row * C + C)),
      );
    }
    const table = cpu.tensor(
      Float32Array.from({ length: H * W * 2 }, (_, i) => i),
      [1, H * W, 1, 2],
    );
    const rope = await tomesdRope(cpu, table, plan).read();
    const rep = await cpu.readU32(plan.repIdx);
    rep.forEach((t, m) => {
      assert.deepEqual([rope[2 * m], rope[2 * m + 1]], [2 * t, 2 * t + 1]);
    });
  });

  it('argument errors name the problem', () => {
    const part = uploadPartition(cpu, tomesdPartition(4, 4, 1));
    assert.throws(() => tomesdMatch(cpu, cpu.zeros([1, 15, 4]), part), /4 destinations, but x has 15 tokens/);
    const m = tomesdMatch(cpu, cpu.zeros([1, 16, 4]), part);
    assert.throws(
      () => tomesdPlan(cpu, m, part, 13),
      /r \(sources merged\) must be an integer in \[0, 12\], got 13/,
    );
    const none = uploadPartition(cpu, tomesdPartition(1, 5, 1));
    assert.throws(() => tomesdMatch(cpu, cpu.zeros([1, 5, 4]), none), /no destinations/);
  });
});
