// y = act(x · wᵀ + bias) * gate + residual on plain SIMT cores (every adapter).
// x [M, K], w [N, K] (nn.Linear layout), y [M, N]; storage type T (f32 or f16), f32 accumulation.
// 64x64 output tile per workgroup of 16x16 threads, 4x4 outputs per thread (strided by 16 so
// neighbouring threads read neighbouring workgroup-memory words), K staged 16 at a time.
// With QUANT (a ggml type name) w is a QuantizedMatrix's raw blocks (wq) and its tile is dequantized
// as it is staged, 8 consecutive elements per thread (quant_decode.wgsl); with T = f16 each value is
// rounded to f16 first, as the CPU reference does.
#if F16
enable f16;
#endif

alias T = {{T}};
const ACT: u32 = {{ACT}}u; // 0 none, 1 gelu_tanh, 2 silu, 3 gelu (activation.wgsl)
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  rowsPerGate: u32,
  gateStride: u32, // the gate's row stride and first column (a chunk of the modulation table)
  gateColumn: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
#if QUANT
@group(0) @binding(2) var<storage, read> wq: array<u32>;
#else
@group(0) @binding(2) var<storage, read> w: array<T>;
#endif
@group(0) @binding(3) var<storage, read_write> y: array<T>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<T>;
#endif
#if GATE
@group(0) @binding(5) var<storage, read> gate: array<T>;
#endif
#if RESIDUAL
@group(0) @binding(6) var<storage, read> residual: array<T>;
#endif

var<workgroup> As: array<array<f32, BM>, BK>;
var<workgroup> Ws: array<array<f32, BN>, BK>;

#if QUANT
#include quant_decode
#endif

#include activation

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      acc[i][j] = 0.0;
    }
  }
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // 64 rows x 16 k of each operand: 1024 values, 4 per thread, k fastest for coalesced reads.
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      let r = idx / BK;
      let kk = idx % BK;
      let gk = k0 + kk;
      let gr = row0 + r;
      var a = 0.0;
      if (gr < p.M && gk < p.K) { a = f32(x[gr * p.K + gk]); }
      As[kk][r] = a;
#if !QUANT
      let gc = col0 + r;
      var b = 0.0;
      if (gc < p.N && gk < p.K) { b = f32(w[gc * p.K + gk]); }
      Ws[kk][r] = b;
#endif
    }
#if QUANT
    // 64 rows x 16 k of w: 128 runs of 8 consecutive elements, each decoded from its block.
    if (tid < 128u) {
      let r = tid / 2u;
      let kk = (tid % 2u) * 8u;
      let gc = col0 + r;
      var v: array<f32, 8>;
      if (gc < p.N && k0 + kk < p.K) { v = dequant8(gc, k0 + kk, p.K); }
      for (var e = 0u; e < 8u; e++) { Ws[kk + e][r] = f32(T(v[e])); }
    }
#endif
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[kk][lid.y + 16u * i];
        b[i] = Ws[kk][lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
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
      v = activate(v);
#if GATE
      v *= f32(gate[(r / p.rowsPerGate) * p.gateStride + p.gateColumn + c]);
#endif
#if RESIDUAL
      v += f32(residual[r * p.N + c]);
#endif
      y[r * p.N + c] = T(v);
    }
  }
}
