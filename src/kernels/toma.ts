// Launchers for the ToMA kernels (toma_select, toma_merge, toma_unmerge). Arguments are validated by
// the ops in src/merge/toma.ts, which pick these or the CPU reference.
import type { GpuBackend } from '../gpu/backend.js';
import type { TileLayout } from '../merge/tile-layout.js';
import type { Tensor } from '../tensor.js';

const WG = 256;

/** The tile-similarity kernel: greedy selection (writes dst) and/or merge weights (writes p and m). */
export function tomaSelectGpu(
  be: GpuBackend,
  x: Tensor,
  layout: TileLayout,
  o: { select: boolean; weights: boolean; tau: number; dst?: Tensor },
): { dst: Tensor; p?: Tensor; m?: Tensor } {
  const [B, , C] = x.shape as [number, number, number];
  const np = Math.ceil(layout.nMax / 4) * 4;
  const vec = C % 4 === 0 ? 4 : 1;
  const dst = o.dst ?? be.empty([B, layout.tokens], 'u32');
  const wShape = [B, layout.tiles, layout.kMax, layout.nMax];
  const p = o.weights ? be.empty(wShape, 'f32') : undefined;
  const m = o.weights ? be.empty(wShape, 'f32') : undefined;
  be.rt.launch({
    shader: 'toma_select',
    params: {
      T: x.dtype,
      F16: x.dtype === 'f16',
      VEC: vec,
      VEC4: vec === 4,
      VT: vec === 4 ? `vec4<${x.dtype}>` : x.dtype,
      VF: vec === 4 ? 'vec4<f32>' : 'f32',
      NMAX: layout.nMax,
      KMAX: layout.kMax,
      NP: np,
      SHM: Math.max(np * np, 1024),
      SELECT: o.select,
      WEIGHTS: o.weights,
    },
    uniforms: [...layout.uniforms(), C, layout.tiles, { f: o.tau }],
    buffers: [be.buf(x), be.buf(dst), p && be.buf(p), m && be.buf(m)],
    grid: [layout.tilesW, layout.tilesH, B],
    category: 'merge',
  });
  return { dst, p, m };
}

function vecParams(t: Tensor, C: number) {
  const vec = C % 4 === 0 ? 4 : 1;
  const T = t.dtype;
  return {
    vec,
    params: {
      F16: T === 'f16',
      VT: vec === 4 ? `vec4<${T}>` : T,
      VF: vec === 4 ? 'vec4<f32>' : 'f32',
    },
  };
}

/** Rows of text each text workgroup copies (TEXT_ROWS in the kernels). */
const TEXT_ROWS = 8;

/**
 * Uniforms and grid rows for [text | image] sequences: the kernels' tile workgroups skip the text
 * rows, and extra grid rows (past the tile rows) copy them.
 */
function jointGeometry(
  layout: TileLayout,
  chunks: number,
  textRows: number,
  inRows: number,
  outRows: number,
) {
  const nx = chunks * layout.tilesW;
  const textGroups = chunks * Math.ceil(textRows / TEXT_ROWS);
  return {
    uniforms: [inRows, outRows, textRows, layout.tilesH],
    gridY: layout.tilesH + Math.ceil(textGroups / nx),
  };
}

/**
 * y [B, textRows + tokens, C] = [x's text rows | M · x's image rows per tile]; x [B, textRows + N, C].
 * textRows = 0 is the plain merge.
 */
export function tomaMergeGpu(be: GpuBackend, x: Tensor, m: Tensor, layout: TileLayout, textRows = 0): Tensor {
  const [B, , C] = x.shape as [number, number, number];
  const { vec, params } = vecParams(x, C);
  const cv = C / vec;
  const chunks = Math.ceil(cv / WG);
  const kb = Math.min(layout.kMax, 16);
  const y = be.empty([B, textRows + layout.tokens, C], x.dtype);
  const joint = jointGeometry(layout, chunks, textRows, textRows + layout.n, textRows + layout.tokens);
  be.rt.launch({
    shader: 'toma_merge',
    params: {
      ...params,
      TILE: layout.tile,
      KMAX: layout.kMax,
      KB: kb,
      KPAD: Math.ceil(layout.kMax / kb) * kb,
      PRELOAD: layout.nMax <= 16,
    },
    uniforms: [...layout.uniforms(), cv, layout.tiles, chunks, ...joint.uniforms],
    buffers: [be.buf(x), be.buf(m), be.buf(y)],
    grid: [chunks * layout.tilesW, joint.gridY, B],
    category: 'merge',
  });
  return y;
}

/**
 * x' [B, textRows + N, C] (image rows in raster order) = residual + [z's text rows | Pᵀ · z's merged
 * rows per tile]; z [B, textRows + tokens, C]. textRows = 0 and no residual is the plain unmerge.
 */
export function tomaUnmergeGpu(
  be: GpuBackend,
  z: Tensor,
  p: Tensor,
  layout: TileLayout,
  textRows = 0,
  residual?: Tensor,
): Tensor {
  const [B, , C] = z.shape as [number, number, number];
  const { vec, params } = vecParams(z, C);
  const cv = C / vec;
  const chunks = Math.ceil(cv / WG);
  const ib = Math.min(layout.nMax, 16);
  const out = be.empty([B, textRows + layout.n, C], z.dtype);
  const joint = jointGeometry(layout, chunks, textRows, textRows + layout.tokens, textRows + layout.n);
  be.rt.launch({
    shader: 'toma_unmerge',
    params: {
      ...params,
      TILE: layout.tile,
      KMAX: layout.kMax,
      IB: ib,
      NPAD: Math.ceil(layout.nMax / ib) * ib,
      PRELOAD: layout.kMax <= 16,
      RESIDUAL: !!residual,
    },
    uniforms: [...layout.uniforms(), cv, layout.tiles, chunks, ...joint.uniforms],
    buffers: [be.buf(z), be.buf(p), be.buf(out), residual && be.buf(residual)],
    grid: [chunks * layout.tilesW, joint.gridY, B],
    category: 'merge',
  });
  return out;
}
