// 2-D convolution as an implicit GEMM on tensor cores through subgroup matrices (f16 in, f32
// accumulate, f16 out), channels-last:
//   y[m, co] = relu?(bias[co] + sum_k A[m, k] * w[co, k] + residual[m, co])
// m = (b, oy, ox) over the output, k = (ky, kx, ci), w [Cout, KH, KW, Cin] = the [N, K] operand, and
// A gathered from x on the fly: zero padding (KH-1)/2, STRIDE 1 or 2, nearest 2x upsampling of x
// (UP = 2), input rows above / below x from other buffers (TOP / BOTTOM, row bands of an image).
//
// The GEMM is matmul_sgm.wgsl's (see docs/kernels/matmul.md): BM x BN workgroup tiles, one 64x64
// block of 4x4 16x16 result matrices per subgroup, K staged BK at a time through workgroup memory as
// vec4<u32> (8 f16) with rows padded by 8 f16, register prefetch of the next slice, grouped tile order,
// and an epilogue that stages f32 strips through workgroup memory. What differs is the A operand:
// - every tile row's output pixel (b, oy, ox) is decoded once per workgroup into rowInfo;
// - with VEC (Cin % 8 == 0) a 16-byte chunk of 8 k never crosses a tap, so it is one 16-byte load of
//   8 channels of one input pixel (or zeros in the padding); a thread's chunks of a slice share one
//   k, decoded into its tap once per slice;
// - without VEC every one of the 8 elements is gathered on its own (small Cin such as conv_in's 4).
//
// SGM = false is the same kernel with the tensor-core multiply replaced by scalar f32 FMAs over the
// same staged f16 tiles (and f32 buffers, rounded to f16 as they are staged): the gather, staging,
// prefetch and epilogue then run, and are tested, on adapters without subgroup matrices or f16
// (SwiftShader in CI). It is not a fast path.
#if SGM
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;
#endif

alias T = {{T}}; // storage type: f16 with SGM, f32 in the emulation
const UP: i32 = {{UP}};
const STRIDE: i32 = {{STRIDE}};
const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const STAGES: u32 = {{STAGES}}u;
const GROUP: u32 = {{GROUP}}u; // workgroup tiles per column group (L2 reuse of the input rows)

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

// Sources of an input pixel (locate()).
const SRC_X: u32 = 0u;
const SRC_TOP: u32 = 1u;
const SRC_BOTTOM: u32 = 2u;
const SRC_PAD: u32 = 3u;

struct Params {
  M: u32, // B * Ho * Wo
  N: u32, // Cout
  K: u32, // KH * KW * Cin
  H: u32,
  W: u32,
  Cin: u32,
  KW: u32,
  Ho: u32,
  Wo: u32,
  ph: i32,
  pw: i32,
  padRows: i32,
  tilesM: u32,
  tilesN: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
#if SGM
#if VEC
@group(0) @binding(1) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<f16>;
@group(0) @binding(2) var<storage, read> w: array<f16>;
#endif
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> y: array<T>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<T>;
#endif
#if RESIDUAL
@group(0) @binding(5) var<storage, read> residual: array<T>;
#endif
#if TOP
#if SGM
#if VEC
@group(0) @binding(6) var<storage, read> top: array<vec4<u32>>;
#else
@group(0) @binding(6) var<storage, read> top: array<f16>;
#endif
#else
@group(0) @binding(6) var<storage, read> top: array<f32>;
#endif
#endif
#if BOTTOM
#if SGM
#if VEC
@group(0) @binding(7) var<storage, read> bottom: array<vec4<u32>>;
#else
@group(0) @binding(7) var<storage, read> bottom: array<f16>;
#endif
#else
@group(0) @binding(7) var<storage, read> bottom: array<f32>;
#endif
#endif

var<workgroup> sm: array<vec4<u32>, SMEM_VEC>;
// The output pixel of every row of the workgroup's tile: (b, oy << 16 | ox).
var<workgroup> rowInfo: array<vec2<u32>, BM>;

fn pack8(a: f32, b: f32, c: f32, d: f32, e: f32, f: f32, g: f32, h: f32) -> vec4<u32> {
  return vec4<u32>(
    pack2x16float(vec2<f32>(a, b)),
    pack2x16float(vec2<f32>(c, d)),
    pack2x16float(vec2<f32>(e, f)),
    pack2x16float(vec2<f32>(g, h)),
  );
}

fn floorDiv(a: i32) -> i32 {
  if (UP == 1) { return a; }
  if (a >= 0) { return a / UP; }
  return -((-a + UP - 1) / UP);
}

/** k -> its tap and channel (ky, kx, ci). */
fn decodeK(k: u32) -> vec3<u32> {
  let tap = k / p.Cin;
  return vec3<u32>(tap / p.KW, tap % p.KW, k % p.Cin);
}

/**
 * The input pixel that tile row r reads at tap (ky, kx): its source buffer and the element index of
 * its channel 0 there, or SRC_PAD in the zero padding.
 */
fn locate(r: u32, ky: u32, kx: u32) -> vec2<u32> {
  let info = rowInfo[r];
  let b = info.x;
  let oy = i32(info.y >> 16u);
  let ox = i32(info.y & 0xffffu);
  let ix = ox * STRIDE - p.pw + i32(kx); // column in the (upsampled) input
  if (ix < 0 || ix >= i32(p.W) * UP) { return vec2<u32>(SRC_PAD, 0u); }
  let sx = u32(ix / UP);
  let ry = floorDiv(oy * STRIDE - p.ph + i32(ky)); // row of x
  let H = i32(p.H);
  if (ry >= 0 && ry < H) { return vec2<u32>(SRC_X, ((b * p.H + u32(ry)) * p.W + sx) * p.Cin); }
#if TOP
  if (ry < 0 && ry >= -p.padRows) {
    return vec2<u32>(SRC_TOP, ((b * u32(p.padRows) + u32(ry + p.padRows)) * p.W + sx) * p.Cin);
  }
#endif
#if BOTTOM
  if (ry >= H && ry < H + p.padRows) {
    return vec2<u32>(SRC_BOTTOM, ((b * u32(p.padRows) + u32(ry - H)) * p.W + sx) * p.Cin);
  }
#endif
  return vec2<u32>(SRC_PAD, 0u);
}

#if VEC
/** 8 channels from element e (a multiple of 8) of a source buffer, as 8 packed f16. */
fn load8(src: u32, e: u32) -> vec4<u32> {
#if SGM
  if (src == SRC_X) { return x[e / 8u]; }
#if TOP
  if (src == SRC_TOP) { return top[e / 8u]; }
#endif
#if BOTTOM
  if (src == SRC_BOTTOM) { return bottom[e / 8u]; }
#endif
#else
  if (src == SRC_X) { return pack8(x[e], x[e + 1u], x[e + 2u], x[e + 3u], x[e + 4u], x[e + 5u], x[e + 6u], x[e + 7u]); }
#if TOP
  if (src == SRC_TOP) {
    return pack8(top[e], top[e + 1u], top[e + 2u], top[e + 3u], top[e + 4u], top[e + 5u], top[e + 6u], top[e + 7u]);
  }
#endif
#if BOTTOM
  if (src == SRC_BOTTOM) {
    return pack8(
      bottom[e], bottom[e + 1u], bottom[e + 2u], bottom[e + 3u],
      bottom[e + 4u], bottom[e + 5u], bottom[e + 6u], bottom[e + 7u],
    );
  }
#endif
#endif
  return vec4<u32>();
}
#else
/** One element of a source buffer. */
fn load1(src: u32, e: u32) -> f32 {
  if (src == SRC_X) { return f32(x[e]); }
#if TOP
  if (src == SRC_TOP) { return f32(top[e]); }
#endif
#if BOTTOM
  if (src == SRC_BOTTOM) { return f32(bottom[e]); }
#endif
  return 0.0;
}

/** Element k of A's tile row r; 0 past K and in the padding. */
fn gather1(r: u32, k: u32) -> f32 {
  if (k >= p.K) { return 0.0; }
  let t = decodeK(k);
  let at = locate(r, t.x, t.y);
  if (at.x == SRC_PAD) { return 0.0; }
  return load1(at.x, at.y + t.z);
}
#endif

/** A[row0 + r, k .. k+8) as 8 packed f16; `tap` is decodeK(k) (used with VEC). */
fn fetchA(r: u32, k: u32, tap: vec3<u32>) -> vec4<u32> {
#if VEC
  if (k >= p.K) { return vec4<u32>(); }
  let at = locate(r, tap.x, tap.y);
  if (at.x == SRC_PAD) { return vec4<u32>(); }
  return load8(at.x, at.y + tap.z);
#else
  return pack8(
    gather1(r, k), gather1(r, k + 1u), gather1(r, k + 2u), gather1(r, k + 3u),
    gather1(r, k + 4u), gather1(r, k + 5u), gather1(r, k + 6u), gather1(r, k + 7u),
  );
#endif
}

/** w[row, k .. k+8) as 8 packed f16 (row clamped: rows past N feed no written output); zeros past K. */
fn fetchW(row: u32, k: u32) -> vec4<u32> {
  let r = min(row, p.N - 1u);
#if VEC
  if (k >= p.K) { return vec4<u32>(); }
#if SGM
  return w[r * (p.K / 8u) + k / 8u];
#else
  let e = r * p.K + k;
  return pack8(w[e], w[e + 1u], w[e + 2u], w[e + 3u], w[e + 4u], w[e + 5u], w[e + 6u], w[e + 7u]);
#endif
#else
  let b = r * p.K;
  let l = p.K - 1u;
  var h: array<f32, 8>;
  for (var e = 0u; e < 8u; e++) { h[e] = select(0.0, f32(w[b + min(k + e, l)]), k + e < p.K); }
  return pack8(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
#endif
}

#if !SGM
/** Element k of the f16 tile row starting at vec4 index `at`, as f32. */
fn tileAt(at: u32, k: u32) -> f32 {
  return unpack2x16float(sm[at + k / 8u][(k % 8u) / 2u])[k % 2u];
}
#endif

@compute @workgroup_size(THREADS)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
#if SGM
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
#if !SGM
  let sg = tid / 32u;
  let lane = tid % 32u;
#endif
  // Grouped tile order: GROUP row-tiles sweep all column tiles together, so the input rows they
  // share and the weight rows they sweep stay in L2.
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

  // The output pixel of every tile row (rows past M clamped: they feed no written output).
  for (var r = tid; r < BM; r += THREADS) {
    let m = min(row0 + r, p.M - 1u);
    let ox = m % p.Wo;
    let t = m / p.Wo;
    rowInfo[r] = vec2<u32>(t / p.Ho, ((t % p.Ho) << 16u) | ox);
  }
  workgroupBarrier();

#if SGM
  var c00: Acc; var c01: Acc; var c02: Acc; var c03: Acc;
  var c10: Acc; var c11: Acc; var c12: Acc; var c13: Acc;
  var c20: Acc; var c21: Acc; var c22: Acc; var c23: Acc;
  var c30: Acc; var c31: Acc; var c32: Acc; var c33: Acc;
#else
  // Lane l owns row l/2 of each 16-row strip i of the block, columns (l%2)*32 + j: acc[i*32 + j].
  var acc: array<f32, 128>;
  let er = lane / 2u;
  let ec = (lane % 2u) * 32u;
#endif

  var ra: array<vec4<u32>, A_PER>;
  var rb: array<vec4<u32>, B_PER>;
  let nT = (p.K + BK - 1u) / BK;
  // Every chunk a thread fetches sits at the same k offset in its tile row (THREADS % CPR == 0).
  let kc = (tid % CPR) * 8u;

  // Slice 0 into buffer 0.
  let tap0 = decodeK(kc);
  for (var i = 0u; i < A_PER; i++) {
    let c = i * THREADS + tid;
    sm[(c / CPR) * LDS + c % CPR] = fetchA(c / CPR, kc, tap0);
  }
  for (var i = 0u; i < B_PER; i++) {
    let c = i * THREADS + tid;
    sm[A_VEC + (c / CPR) * LDS + c % CPR] = fetchW(col0 + c / CPR, kc);
  }
  workgroupBarrier();

  for (var t = 0u; t < nT; t++) {
    let cur = t % STAGES;
    let hasNext = t + 1u < nT;
    let k1 = (t + 1u) * BK + kc;
#if PREFETCH
    if (hasNext) {
      let tap1 = decodeK(k1);
      for (var i = 0u; i < A_PER; i++) {
        let c = i * THREADS + tid;
        ra[i] = fetchA(c / CPR, k1, tap1);
      }
      for (var i = 0u; i < B_PER; i++) {
        let c = i * THREADS + tid;
        rb[i] = fetchW(col0 + c / CPR, k1);
      }
    }
#endif

    let aOff = cur * STAGE_VEC + wm * 64u * LDS;
    let bOff = cur * STAGE_VEC + A_VEC + wn * 64u * LDS;
#if SGM
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
#else
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = tileAt(aOff + (16u * i + er) * LDS, kk); }
      for (var j = 0u; j < 32u; j++) {
        let bv = tileAt(bOff + (ec + j) * LDS, kk);
        for (var i = 0u; i < 4u; i++) { acc[i * 32u + j] = fma(a[i], bv, acc[i * 32u + j]); }
      }
    }
#endif

    if (hasNext) {
      let nxt = (t + 1u) % STAGES;
      if (STAGES == 1u) { workgroupBarrier(); } // everyone is done reading the only buffer
#if !PREFETCH
      let tap1 = decodeK(k1);
      for (var i = 0u; i < A_PER; i++) {
        let c = i * THREADS + tid;
        ra[i] = fetchA(c / CPR, k1, tap1);
      }
      for (var i = 0u; i < B_PER; i++) {
        let c = i * THREADS + tid;
        rb[i] = fetchW(col0 + c / CPR, k1);
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
#if SGM
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
#else
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 32u; j++) {
      let c = ec + j;
      sm[stage + er * EPI_LD + c / 4u][c % 4u] = bitcast<u32>(acc[i * 32u + j]);
    }
    workgroupBarrier();
    finishStrip(stage, lane, r0 + 16u * i, cb);
    workgroupBarrier();
  }
#endif
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
#if RESIDUAL
          v += f32(residual[r * p.N + c]);
#endif
#if RELU
          v = max(v, 0.0);
#endif
          y[r * p.N + c] = T(v);
        }
      }
    }
  }
}
