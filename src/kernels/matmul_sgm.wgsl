// y = act(x · wᵀ + bias) * gate + residual on tensor cores through subgroup matrices (f16 in, f32
// accumulate, f16 out). x [M, K], w [N, K] (nn.Linear layout), y [M, N]; any M, N, K.
//
// A workgroup computes a BM x BN tile with (BM/64)*(BN/64) subgroups, each owning a 64x64 block as
// 4x4 result matrices of 16x16. K is staged through workgroup memory BK at a time as vec4<u32>
// (8 f16 per element, 16-byte aligned matrix loads), each tile row padded by 8 f16 so the 16-byte
// row segments of a matrix load fall in different banks. With STAGES=2 the next K-slice is fetched
// into registers while the current one is multiplied and stored into the other buffer (one barrier
// per slice); with STAGES=1 and PREFETCH the fetch overlaps the multiply but the store waits for a
// barrier. Offsets and strides of matrix loads on an array<vec4<u32>> count vec4 elements.
// The f32 results cannot be converted in registers, so the epilogue stores each 16-row strip of a
// subgroup's block to workgroup memory (reusing the tile buffers) and the threads finish it.
// With QUANT (a ggml type name) w is a QuantizedMatrix's raw blocks (wq): fetchW decodes the 8
// elements of a chunk from their block (quant_decode.wgsl) and rounds them to f16, so the tile is
// dequantized on its way into registers and workgroup memory.
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

const ACT: u32 = {{ACT}}u; // 0 none, 1 gelu_tanh, 2 silu, 3 gelu (activation.wgsl)
const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const STAGES: u32 = {{STAGES}}u;
const GROUP: u32 = {{GROUP}}u; // workgroup tiles per column group (L2 reuse of the x rows)

const SG_N: u32 = BN / 64u;
const THREADS: u32 = (BM / 64u) * SG_N * 32u;
const LDS: u32 = (BK + 8u) / 8u; // padded tile row, in vec4 (BK + 8 f16)
const CPR: u32 = BK / 8u; // vec4 chunks of one tile row
const A_VEC: u32 = BM * LDS;
const STAGE_VEC: u32 = A_VEC + BN * LDS;
const A_PER: u32 = BM * CPR / THREADS; // chunks each thread fetches per K-slice
const B_PER: u32 = BN * CPR / THREADS;
const EPI_LD: u32 = 17u; // staging row of 64 f32 plus 4 (in vec4)
const EPI_VEC: u32 = (BM / 64u) * SG_N * 16u * EPI_LD;
const SMEM_VEC: u32 = max(STAGES * STAGE_VEC, EPI_VEC);

struct Params {
  M: u32,
  N: u32,
  K: u32,
  rowsPerGate: u32,
  tilesM: u32,
  tilesN: u32,
  gateStride: u32, // the gate's row stride and first column (a chunk of the modulation table)
  gateColumn: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if VEC
@group(0) @binding(1) var<storage, read> x: array<vec4<u32>>;
#if QUANT
@group(0) @binding(2) var<storage, read> wq: array<u32>;
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
#endif
#else
@group(0) @binding(1) var<storage, read> x: array<f16>;
@group(0) @binding(2) var<storage, read> w: array<f16>;
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f16>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f16>;
#endif
#if GATE
@group(0) @binding(5) var<storage, read> gate: array<f16>;
#endif
#if RESIDUAL
@group(0) @binding(6) var<storage, read> residual: array<f16>;
#endif

var<workgroup> sm: array<vec4<u32>, SMEM_VEC>;

#include activation

#if !VEC
fn pack8(a: f16, b: f16, c: f16, d: f16, e: f16, f: f16, g: f16, h: f16) -> vec4<u32> {
  return vec4<u32>(
    bitcast<u32>(vec2<f16>(a, b)),
    bitcast<u32>(vec2<f16>(c, d)),
    bitcast<u32>(vec2<f16>(e, f)),
    bitcast<u32>(vec2<f16>(g, h)),
  );
}
#endif

// 8 consecutive f16 of row `row` (clamped: rows past the end only feed outputs that are never
// written) starting at column k; zeros past K.
fn fetchX(row: u32, k: u32) -> vec4<u32> {
  let r = min(row, p.M - 1u);
#if VEC
  if (k >= p.K) { return vec4<u32>(); }
  return x[r * (p.K / 8u) + k / 8u];
#else
  let b = r * p.K;
  let l = p.K - 1u;
  var h: array<f16, 8>;
  for (var e = 0u; e < 8u; e++) { h[e] = select(0.0h, x[b + min(k + e, l)], k + e < p.K); }
  return pack8(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
#endif
}

#if QUANT
#include quant_decode
#endif

fn fetchW(row: u32, k: u32) -> vec4<u32> {
  let r = min(row, p.N - 1u);
#if VEC
  if (k >= p.K) { return vec4<u32>(); }
#if QUANT
  let v = dequant8(r, k, p.K);
  return vec4<u32>(
    bitcast<u32>(vec2<f16>(f16(v[0]), f16(v[1]))),
    bitcast<u32>(vec2<f16>(f16(v[2]), f16(v[3]))),
    bitcast<u32>(vec2<f16>(f16(v[4]), f16(v[5]))),
    bitcast<u32>(vec2<f16>(f16(v[6]), f16(v[7]))),
  );
#else
  return w[r * (p.K / 8u) + k / 8u];
#endif
#else
  let b = r * p.K;
  let l = p.K - 1u;
  var h: array<f16, 8>;
  for (var e = 0u; e < 8u; e++) { h[e] = select(0.0h, w[b + min(k + e, l)], k + e < p.K); }
  return pack8(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
#endif
}

@compute @workgroup_size(THREADS)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  // Grouped tile order: GROUP row-tiles sweep all column tiles together, so the x rows they share
  // and the w rows they sweep stay in L2.
  let pid = wid.y * nwg.x + wid.x;
  if (pid >= p.tilesM * p.tilesN) { return; }
  let inGroup = GROUP * p.tilesN;
  let firstM = (pid / inGroup) * GROUP;
  let groupRows = min(p.tilesM - firstM, GROUP);
  let tm = firstM + (pid % inGroup) % groupRows;
  let tn = (pid % inGroup) / groupRows;
  let row0 = tm * BM;
  let col0 = tn * BN;

  let wm = sg / SG_N; // this subgroup's 64x64 block inside the tile
  let wn = sg % SG_N;

  var c00: Acc; var c01: Acc; var c02: Acc; var c03: Acc;
  var c10: Acc; var c11: Acc; var c12: Acc; var c13: Acc;
  var c20: Acc; var c21: Acc; var c22: Acc; var c23: Acc;
  var c30: Acc; var c31: Acc; var c32: Acc; var c33: Acc;

  var ra: array<vec4<u32>, A_PER>;
  var rb: array<vec4<u32>, B_PER>;
  let nT = (p.K + BK - 1u) / BK;

  // Slice 0 into buffer 0.
  for (var i = 0u; i < A_PER; i++) {
    let c = i * THREADS + tid;
    sm[(c / CPR) * LDS + c % CPR] = fetchX(row0 + c / CPR, (c % CPR) * 8u);
  }
  for (var i = 0u; i < B_PER; i++) {
    let c = i * THREADS + tid;
    sm[A_VEC + (c / CPR) * LDS + c % CPR] = fetchW(col0 + c / CPR, (c % CPR) * 8u);
  }
  workgroupBarrier();

  for (var t = 0u; t < nT; t++) {
    let cur = t % STAGES;
    let hasNext = t + 1u < nT;
#if PREFETCH
    if (hasNext) {
      let k1 = (t + 1u) * BK;
      for (var i = 0u; i < A_PER; i++) {
        let c = i * THREADS + tid;
        ra[i] = fetchX(row0 + c / CPR, k1 + (c % CPR) * 8u);
      }
      for (var i = 0u; i < B_PER; i++) {
        let c = i * THREADS + tid;
        rb[i] = fetchW(col0 + c / CPR, k1 + (c % CPR) * 8u);
      }
    }
#endif

    let aOff = cur * STAGE_VEC + wm * 64u * LDS;
    let bOff = cur * STAGE_VEC + A_VEC + wn * 64u * LDS;
    for (var kk = 0u; kk < BK / 16u; kk++) {
      let ko = kk * 2u; // 16 f16 = 2 vec4
      let a0 = subgroupMatrixLoad<L, row_major>(&sm, aOff + ko, LDS);
      let a1 = subgroupMatrixLoad<L, row_major>(&sm, aOff + 16u * LDS + ko, LDS);
      let a2 = subgroupMatrixLoad<L, row_major>(&sm, aOff + 32u * LDS + ko, LDS);
      let a3 = subgroupMatrixLoad<L, row_major>(&sm, aOff + 48u * LDS + ko, LDS);
      // B = wᵀ: column n of B is row n of the w tile, so a column-major load.
      let b0 = subgroupMatrixLoad<R, col_major>(&sm, bOff + ko, LDS);
      let b1 = subgroupMatrixLoad<R, col_major>(&sm, bOff + 16u * LDS + ko, LDS);
      let b2 = subgroupMatrixLoad<R, col_major>(&sm, bOff + 32u * LDS + ko, LDS);
      let b3 = subgroupMatrixLoad<R, col_major>(&sm, bOff + 48u * LDS + ko, LDS);
      c00 = subgroupMatrixMultiplyAccumulate(a0, b0, c00);
      c01 = subgroupMatrixMultiplyAccumulate(a0, b1, c01);
      c02 = subgroupMatrixMultiplyAccumulate(a0, b2, c02);
      c03 = subgroupMatrixMultiplyAccumulate(a0, b3, c03);
      c10 = subgroupMatrixMultiplyAccumulate(a1, b0, c10);
      c11 = subgroupMatrixMultiplyAccumulate(a1, b1, c11);
      c12 = subgroupMatrixMultiplyAccumulate(a1, b2, c12);
      c13 = subgroupMatrixMultiplyAccumulate(a1, b3, c13);
      c20 = subgroupMatrixMultiplyAccumulate(a2, b0, c20);
      c21 = subgroupMatrixMultiplyAccumulate(a2, b1, c21);
      c22 = subgroupMatrixMultiplyAccumulate(a2, b2, c22);
      c23 = subgroupMatrixMultiplyAccumulate(a2, b3, c23);
      c30 = subgroupMatrixMultiplyAccumulate(a3, b0, c30);
      c31 = subgroupMatrixMultiplyAccumulate(a3, b1, c31);
      c32 = subgroupMatrixMultiplyAccumulate(a3, b2, c32);
      c33 = subgroupMatrixMultiplyAccumulate(a3, b3, c33);
    }

    if (hasNext) {
      let nxt = (t + 1u) % STAGES;
      if (STAGES == 1u) { workgroupBarrier(); } // everyone is done reading the only buffer
#if !PREFETCH
      let k1 = (t + 1u) * BK;
      for (var i = 0u; i < A_PER; i++) {
        let c = i * THREADS + tid;
        ra[i] = fetchX(row0 + c / CPR, k1 + (c % CPR) * 8u);
      }
      for (var i = 0u; i < B_PER; i++) {
        let c = i * THREADS + tid;
        rb[i] = fetchW(col0 + c / CPR, k1 + (c % CPR) * 8u);
      }
#endif
      for (var i = 0u; i < A_PER; i++) {
        let c = i * THREADS + tid;
        sm[nxt * STAGE_VEC + (c / CPR) * LDS + c % CPR] = ra[i];
      }
      for (var i = 0u; i < B_PER; i++) {
        let c = i * THREADS + tid;
        sm[nxt * STAGE_VEC + A_VEC + (c / CPR) * LDS + c % CPR] = rb[i];
      }
      workgroupBarrier();
    }
  }

  // Epilogue, one 16-row strip of the subgroup's 64x64 block at a time (matrices stay in main:
  // no subgroup matrix crosses a function boundary).
  workgroupBarrier(); // the tile buffers become the staging area
  let stage = sg * 16u * EPI_LD;
  let r0 = row0 + wm * 64u;
  let cb = col0 + wn * 64u;
  subgroupMatrixStore<row_major>(&sm, stage, c00, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 4u, c01, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 8u, c02, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 12u, c03, EPI_LD);
  workgroupBarrier();
  finishStrip(stage, lane, r0, cb);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sm, stage, c10, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 4u, c11, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 8u, c12, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 12u, c13, EPI_LD);
  workgroupBarrier();
  finishStrip(stage, lane, r0 + 16u, cb);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sm, stage, c20, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 4u, c21, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 8u, c22, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 12u, c23, EPI_LD);
  workgroupBarrier();
  finishStrip(stage, lane, r0 + 32u, cb);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sm, stage, c30, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 4u, c31, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 8u, c32, EPI_LD);
  subgroupMatrixStore<row_major>(&sm, stage + 12u, c33, EPI_LD);
  workgroupBarrier();
  finishStrip(stage, lane, r0 + 48u, cb);
}

// Rows [row, row+16) x columns [col, col+64) of y from the f32 strip staged at `stage`.
fn finishStrip(stage: u32, lane: u32, row: u32, col: u32) {
  // 16 rows x 16 quads of columns; lanes 0-15 cover one row (coalesced writes).
  for (var e = 0u; e < 8u; e++) {
    let q = e * 32u + lane;
    let r = row + q / 16u;
    let v4 = bitcast<vec4<f32>>(sm[stage + (q / 16u) * EPI_LD + q % 16u]);
    if (r < p.M) {
      for (var u = 0u; u < 4u; u++) {
        let c = col + (q % 16u) * 4u + u;
        if (c < p.N) {
          var v = v4[u];
#if BIAS
          v += f32(bias[c]);
#endif
          v = activate(v);
#if GATE
          v *= f32(gate[(r / p.rowsPerGate) * p.gateStride + p.gateColumn + c]);
#endif
#if RESIDUAL
          v += f32(residual[r * p.N + c]);
#endif
          y[r * p.N + c] = f16(v);
        }
      }
    }
  }
}
