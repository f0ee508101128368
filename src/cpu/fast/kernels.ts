// The WebAssembly SIMD matmul kernel: C[MR rows, NR cols] tiles accumulated in v128 registers from
// packed operands (see pack.ts for the layouts).
import { encodeModule, FunctionBuilder, I32, type Local, V128 } from './wasm.js';

/** Rows of A per register tile. */
export const MR = 4;
/** Columns of B per register tile (two f32x4 vectors). */
export const NR = 8;

/**
 * gemm(ap, bp, cp, ldc, kc, aTileStride, bPanelStride, mTiles, nPanels, accumulate):
 * for every B panel j < nPanels and A tile i < mTiles,
 *   C[i*MR.., j*NR..] (+)= A tile i [kc][MR] · B panel j [kc][NR]
 * with A tile i at ap + i*aTileStride, B panel j at bp + j*bPanelStride, C rows ldc bytes apart.
 * accumulate = 0 overwrites C, otherwise adds to it (k-blocked calls after the first).
 * All counts must be >= 1; addresses and strides are in bytes.
 */
function gemmFunction(fma: boolean): FunctionBuilder {
  const f = new FunctionBuilder(10);
  const [ap, bp, cp, ldc, kc, aStride, bStride, mTiles, nPanels, accumulate] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
  ].map((i) => f.param(i)) as Local[] as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const j = f.local(0x7f);
  const i = f.local(0x7f);
  const aTile = f.local(0x7f);
  const cTile = f.local(0x7f);
  const cCol = f.local(0x7f);
  const a = f.local(0x7f);
  const b = f.local(0x7f);
  const bEnd = f.local(0x7f);
  const row = f.local(0x7f);
  const acc: Local[][] = [];
  for (let r = 0; r < MR; r++) acc.push([f.local(V128), f.local(V128)]);
  const b0 = f.local(V128);
  const b1 = f.local(V128);
  const t = f.local(V128);

  /** row = the address of C row r of the current tile. */
  const rowAddress = (r: number) => {
    f.get(cTile);
    if (r > 0) f.get(ldc).i32(r).i32Mul().i32Add();
    f.set(row);
  };

  f.get(cp).set(cCol);
  f.i32(0).set(j);
  f.loop(() => {
    f.get(ap).set(aTile);
    f.get(cCol).set(cTile);
    f.i32(0).set(i);
    f.loop(() => {
      // load or zero the accumulators
      f.get(accumulate).ifElse(
        () => {
          for (let r = 0; r < MR; r++) {
            rowAddress(r);
            f.get(row).v128Load(0).set(acc[r]![0]!);
            f.get(row).v128Load(16).set(acc[r]![1]!);
          }
        },
        () => {
          for (let r = 0; r < MR; r++) {
            f.v128Zero().set(acc[r]![0]!);
            f.v128Zero().set(acc[r]![1]!);
          }
        },
      );
      // the k loop: one row of the B panel and one column of the A tile per iteration
      f.get(aTile).set(a);
      f.get(bp).set(b);
      f.get(b)
        .get(kc)
        .i32(NR * 4)
        .i32Mul()
        .i32Add()
        .set(bEnd);
      f.loop(() => {
        f.get(b).v128Load(0).set(b0);
        f.get(b).v128Load(16).set(b1);
        for (let r = 0; r < MR; r++) {
          f.get(a)
            .load32Splat(r * 4)
            .set(t);
          for (const [c, bv] of [
            [acc[r]![0]!, b0],
            [acc[r]![1]!, b1],
          ] as const) {
            if (fma) f.get(t).get(bv).get(c).f32x4RelaxedMadd().set(c);
            else f.get(c).get(t).get(bv).f32x4Mul().f32x4Add().set(c);
          }
        }
        f.inc(a, MR * 4);
        f.inc(b, NR * 4);
        f.get(b).get(bEnd).i32Ne().brIf(0);
      });
      for (let r = 0; r < MR; r++) {
        rowAddress(r);
        f.get(row).get(acc[r]![0]!).v128Store(0);
        f.get(row).get(acc[r]![1]!).v128Store(16);
      }
      f.inc(aTile, aStride);
      f.get(cTile).get(ldc).i32(MR).i32Mul().i32Add().set(cTile);
      f.inc(i, 1);
      f.get(i).get(mTiles).i32LtU().brIf(0);
    });
    f.inc(bp, bStride);
    f.inc(cCol, NR * 4);
    f.inc(j, 1);
    f.get(j).get(nPanels).i32LtU().brIf(0);
  });
  return f;
}

/**
 * out = e^x for the four lanes of local x (clobbered), as Cephes' expf: x = n ln2 + r with |r| <= ln2/2,
 * a degree-6 polynomial for e^r (relative error ~1e-7), times 2^n built in the exponent bits. x is
 * clamped to [-87.3, 88] first, so n stays a normal exponent (e^-87.3 ~ 1e-38 stands in for 0).
 */
function emitExp(f: FunctionBuilder, x: Local, out: Local, n: Local): void {
  f.get(x).f32x4Const(88).v('f32x4Min').f32x4Const(-87.3).v('f32x4Max').set(x);
  f.get(x).f32x4Const(Math.LOG2E).f32x4Mul().v('f32x4Nearest').set(n);
  // r = x - n * ln2, ln2 in two parts so the product is exact for the part that matters
  f.get(x).get(n).f32x4Const(0.693359375).f32x4Mul().v('f32x4Sub');
  f.get(n).f32x4Const(-2.1219444e-4).f32x4Mul().v('f32x4Sub').set(x);
  f.f32x4Const(1.98756915e-4);
  for (const c of [1.39819995e-3, 8.33345191e-3, 4.16657959e-2, 1.66666655e-1, 5.00000012e-1]) {
    f.get(x).f32x4Mul().f32x4Const(c).f32x4Add();
  }
  f.get(x).f32x4Mul().get(x).f32x4Mul().get(x).f32x4Add().f32x4Const(1).f32x4Add();
  // times 2^n: (n + 127) << 23 is 2^n's bit pattern
  f.get(n).v('i32x4TruncSatF32x4S').i32(127).v('i32x4Splat').v('i32x4Add').i32(23).v('i32x4Shl');
  f.f32x4Mul().set(out);
}

/** The activation codes of epilogue(): 0 none, 1 GELU (tanh form), 2 SiLU, as tasks.ts's ACTIVATIONS. */
function emitActivation(f: FunctionBuilder, act: Local, v: Local, t: Local, e: Local, n: Local): void {
  // both as x / (1 + e^-z): GELU's 0.5 (1 + tanh(u)) is the logistic function of 2u
  f.get(act)
    .i32(1)
    .i32Eq()
    .ifElse(() => {
      f.get(v).get(v).f32x4Mul().get(v).f32x4Mul().f32x4Const(0.044715).f32x4Mul().get(v).f32x4Add();
      f.f32x4Const(-2 * Math.sqrt(2 / Math.PI))
        .f32x4Mul()
        .set(t);
    });
  f.get(act)
    .i32(2)
    .i32Eq()
    .ifElse(() => {
      f.f32x4Const(0).get(v).v('f32x4Sub').set(t);
    });
  f.get(act).ifElse(() => {
    emitExp(f, t, e, n);
    f.get(v).get(e).f32x4Const(1).f32x4Add().v('f32x4Div').set(v);
  });
}

/**
 * epilogue(y, bias, gate, residual, groups, act): for `groups` groups of four floats of one row,
 * y = act(y + bias) * gate + residual, each operand skipped where its address is 0.
 */
function epilogueFunction(): FunctionBuilder {
  const f = new FunctionBuilder(6);
  const [y, bias, gate, residual, groups, act] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const o = f.local(I32);
  const end = f.local(I32);
  const [v, t, e, n] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  f.i32(0).set(o);
  f.get(groups).i32(16).i32Mul().set(end);
  f.loop(() => {
    f.get(y).get(o).i32Add().v128Load().set(v);
    f.get(bias).ifElse(() => {
      f.get(v).get(bias).get(o).i32Add().v128Load().f32x4Add().set(v);
    });
    emitActivation(f, act, v, t, e, n);
    f.get(gate).ifElse(() => {
      f.get(v).get(gate).get(o).i32Add().v128Load().f32x4Mul().set(v);
    });
    f.get(residual).ifElse(() => {
      f.get(v).get(residual).get(o).i32Add().v128Load().f32x4Add().set(v);
    });
    f.get(y).get(o).i32Add().get(v).v128Store();
    f.inc(o, 16);
    f.get(o).get(end).i32LtU().brIf(0);
  });
  return f;
}

/** The four vectors in a..d (rows) replaced by their transpose (columns). */
function emitTranspose(f: FunctionBuilder, [a, b, c, d]: Local[], [t0, t1, t2, t3]: Local[]): void {
  f.get(a!).get(b!).shuffle32([0, 4, 1, 5]).set(t0!);
  f.get(a!).get(b!).shuffle32([2, 6, 3, 7]).set(t1!);
  f.get(c!).get(d!).shuffle32([0, 4, 1, 5]).set(t2!);
  f.get(c!).get(d!).shuffle32([2, 6, 3, 7]).set(t3!);
  f.get(t0!).get(t2!).shuffle32([0, 1, 4, 5]).set(a!);
  f.get(t0!).get(t2!).shuffle32([2, 3, 6, 7]).set(b!);
  f.get(t1!).get(t3!).shuffle32([0, 1, 4, 5]).set(c!);
  f.get(t1!).get(t3!).shuffle32([2, 3, 6, 7]).set(d!);
}

/**
 * softmax(s, ldS, p, groups, sums): for the MR (= 4) rows of scores at s (ldS bytes apart), over
 * groups*4 columns: e = exp(s - rowmax), written to p in the packed A layout ([k][MR],
 * ready for the P·V kernel call), and the row sums of e to sums[0..3]. Columns past the keys must
 * hold -Infinity.
 */
function softmaxFunction(): FunctionBuilder {
  const f = new FunctionBuilder(5);
  const [s, ldS, p, groups, sums] = [0, 1, 2, 3, 4].map((i) => f.param(i)) as [
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const o = f.local(I32);
  const end = f.local(I32);
  const out = f.local(I32);
  const rows = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const tmp = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const maxes = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const [max, sum, e, n] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const loadRows = () => {
    for (let r = 0; r < MR; r++) {
      f.get(s).get(o).i32Add();
      if (r > 0) f.get(ldS).i32(r).i32Mul().i32Add();
      f.v128Load().set(rows[r]!);
    }
  };
  f.get(groups).i32(16).i32Mul().set(end);
  for (const m of maxes) f.f32x4Const(Number.NEGATIVE_INFINITY).set(m);
  f.i32(0).set(o);
  f.loop(() => {
    loadRows();
    for (let r = 0; r < MR; r++) f.get(maxes[r]!).get(rows[r]!).v('f32x4Max').set(maxes[r]!);
    f.inc(o, 16);
    f.get(o).get(end).i32LtU().brIf(0);
  });
  // lane r of max = row r's maximum
  emitTranspose(f, maxes, tmp);
  f.get(maxes[0]!).get(maxes[1]!).v('f32x4Max').get(maxes[2]!).v('f32x4Max').get(maxes[3]!).v('f32x4Max');
  f.set(max);
  f.f32x4Const(0).set(sum);
  f.i32(0).set(o);
  f.get(p).set(out);
  f.loop(() => {
    loadRows();
    // columns: lane r of rows[c] = row r, column c of this group, as the packed layout wants
    emitTranspose(f, rows, tmp);
    for (let c = 0; c < 4; c++) {
      f.get(rows[c]!).get(max).v('f32x4Sub').set(rows[c]!);
      emitExp(f, rows[c]!, e, n);
      f.get(out)
        .get(e)
        .v128Store(16 * c);
      f.get(sum).get(e).f32x4Add().set(sum);
    }
    f.inc(out, 64);
    f.inc(o, 16);
    f.get(o).get(end).i32LtU().brIf(0);
  });
  f.get(sums).get(sum).v128Store();
  return f;
}

/** The kernel module's bytes, over a shared memory of at most `maxPages` (or an unshared one). */
export function kernelModuleBytes(o: { maxPages?: number; fma?: boolean } = {}): Uint8Array<ArrayBuffer> {
  return encodeModule(
    [
      { name: 'gemm', body: gemmFunction(!!o.fma) },
      { name: 'epilogue', body: epilogueFunction() },
      { name: 'softmax', body: softmaxFunction() },
    ],
    { minPages: 1, sharedMaxPages: o.maxPages },
  );
}

/** The exports of an instantiated kernel module. */
export interface KernelExports {
  gemm(
    ap: number,
    bp: number,
    cp: number,
    ldc: number,
    kc: number,
    aTileStride: number,
    bPanelStride: number,
    mTiles: number,
    nPanels: number,
    accumulate: number,
  ): void;
  epilogue(y: number, bias: number, gate: number, residual: number, groups: number, act: number): void;
  softmax(s: number, ldS: number, p: number, groups: number, sums: number): void;
}
