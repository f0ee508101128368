// The WebAssembly SIMD matmul kernel: C[MR rows, NR cols] tiles accumulated in v128 registers from
// packed operands (see pack.ts for the layouts).
import { encodeModule, FunctionBuilder, type Local, V128 } from './wasm.js';

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

/** The kernel module's bytes, over a shared memory of at most `maxPages` (or an unshared one). */
export function kernelModuleBytes(o: { maxPages?: number; fma?: boolean } = {}): Uint8Array<ArrayBuffer> {
  return encodeModule([{ name: 'gemm', body: gemmFunction(!!o.fma) }], {
    minPages: 1,
    sharedMaxPages: o.maxPages,
  });
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
}
