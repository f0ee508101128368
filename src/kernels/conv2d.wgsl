// 2-D convolution as an implicit GEMM on SIMT cores, channels-last, stride 1 or 2 (STRIDE), zero
// padding ph / pw before the input (after it: whatever the output size implies):
//   y[m, co] = bias[co] + sum_k A[m, k] * w[co, k] (+ residual[m, co])
// with m = (b, oy, ox) over the output and k = (ky, kx, ci), so w [Cout, KH, KW, Cin] is the [N, K]
// operand of matmul_simt and A is gathered from x on the fly: zero padding, optional nearest 2x
// upsampling of x (UP = 2), optional input rows above / below x from other buffers (TOP / BOTTOM),
// and an optional ReLU of the result after the residual (RELU).
// Tiling as matmul_simt: 64x64 outputs per workgroup of 16x16 threads, 4x4 per thread, K by 16.
// Each thread loads the same 4 output rows at every K step, so their (b, oy, ox) are decoded once,
// and its k position advances without divisions.
#if F16
enable f16;
#endif

alias T = {{T}};
const UP: i32 = {{UP}};
const STRIDE: u32 = {{STRIDE}}u;
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  H: u32,
  W: u32,
  Cin: u32,
  KW: u32,
  Ho: u32,
  Wo: u32,
  ph: i32,
  pw: i32,
  padRows: i32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> w: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<T>;
#endif
#if RESIDUAL
@group(0) @binding(5) var<storage, read> residual: array<T>;
#endif
#if TOP
@group(0) @binding(6) var<storage, read> top: array<T>;
#endif
#if BOTTOM
@group(0) @binding(7) var<storage, read> bottom: array<T>;
#endif

var<workgroup> As: array<array<f32, BM>, BK>;
var<workgroup> Ws: array<array<f32, BN>, BK>;

fn floorDiv(a: i32) -> i32 {
  if (UP == 1) { return a; }
  if (a >= 0) { return a / UP; }
  return -((-a + UP - 1) / UP);
}

/** The input value at output pixel (b, oy, ox) shifted by tap (ky, kx), channel ci; 0 in the padding. */
fn gatherA(b: u32, oy: u32, ox: u32, ky: u32, kx: u32, ci: u32) -> f32 {
  let ix = i32(ox * STRIDE + kx) - p.pw;
  if (ix < 0 || ix >= i32(p.W) * UP) { return 0.0; }
  let sx = u32(ix / UP);
  let ry = floorDiv(i32(oy * STRIDE + ky) - p.ph);
  let H = i32(p.H);
  if (ry >= 0 && ry < H) { return f32(x[((b * p.H + u32(ry)) * p.W + sx) * p.Cin + ci]); }
#if TOP
  if (ry < 0 && ry >= -p.padRows) {
    return f32(top[((b * u32(p.padRows) + u32(ry + p.padRows)) * p.W + sx) * p.Cin + ci]);
  }
#endif
#if BOTTOM
  if (ry >= H && ry < H + p.padRows) {
    return f32(bottom[((b * u32(p.padRows) + u32(ry - H)) * p.W + sx) * p.Cin + ci]);
  }
#endif
  return 0.0;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let tid = lid.y * 16u + lid.x;
  let kk = tid % BK;  // this thread's k offset inside every K step
  let r0 = tid / BK;  // and its rows r0 + 16 e, e = 0..3
  var ob: array<u32, 4>;
  var oy: array<u32, 4>;
  var ox: array<u32, 4>;
  for (var e = 0u; e < 4u; e++) {
    let m = min(row0 + r0 + 16u * e, p.M - 1u);
    ox[e] = m % p.Wo;
    let t = m / p.Wo;
    oy[e] = t % p.Ho;
    ob[e] = t / p.Ho;
  }
  // k = kk decoded into (ky, kx, ci); advanced by BK per step
  var ci = kk % p.Cin;
  var tap = kk / p.Cin;
  var kx = tap % p.KW;
  var ky = tap / p.KW;

  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      acc[i][j] = 0.0;
    }
  }
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    let gk = k0 + kk;
    for (var e = 0u; e < 4u; e++) {
      let r = r0 + 16u * e;
      var a = 0.0;
      if (row0 + r < p.M && gk < p.K) { a = gatherA(ob[e], oy[e], ox[e], ky, kx, ci); }
      As[kk][r] = a;
      let gc = col0 + r;
      var bw = 0.0;
      if (gc < p.N && gk < p.K) { bw = f32(w[gc * p.K + gk]); }
      Ws[kk][r] = bw;
    }
    ci += BK;
    while (ci >= p.Cin) {
      ci -= p.Cin;
      kx += 1u;
      if (kx == p.KW) { kx = 0u; ky += 1u; }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = As[k][lid.y + 16u * i];
        bv[i] = Ws[k][lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + 16u * i;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x + 16u * j;
      if (c >= p.N) { continue; }
      var v = acc[i][j];
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
