// Flash-style attention on SIMT cores (every adapter): one thread per query row, BQ rows per
// workgroup, keys streamed through workgroup memory BK at a time, online softmax in f32 with one
// rescale per key block. q [B, H, Lq, D], k/v [B, H, Lk, D] -> out [B, Lq, H*D].
// With RANGES, each query block attends only to its listed key ranges (block-sparse attention).
#if F16
enable f16;
#endif
alias T = {{T}};
const D: u32 = {{D}}u;
const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;

struct Params { H: u32, Lq: u32, Lk: u32, scale: f32, blockSize: u32, maxRanges: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;
#if RANGES
@group(0) @binding(5) var<storage, read> ranges: array<u32>;
#endif

var<workgroup> Ks: array<f32, BK * D>;
var<workgroup> Vs: array<f32, BK * D>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bh = wid.y;                  // b * H + h
  let q0 = wid.x * BQ;
  let qi = q0 + li;
  let valid = qi < p.Lq;
  let qrow = min(qi, p.Lq - 1u);
  let qbase = (bh * p.Lq + qrow) * D;
  let kvbase = bh * p.Lk * D;

  var qv: array<f32, D>;
  var acc: array<f32, D>;
  for (var d = 0u; d < D; d++) {
    qv[d] = f32(q[qbase + d]) * p.scale;
    acc[d] = 0.0;
  }
  var m = -3.0e38;
  var l = 0.0;
  var s: array<f32, BK>;

#if RANGES
  let rb = (q0 / p.blockSize) * p.maxRanges * 2u;
  let nRanges = p.maxRanges;
#else
  let nRanges = 1u;
#endif
  for (var r = 0u; r < nRanges; r++) {
#if RANGES
    let kStart = min(ranges[rb + 2u * r], p.Lk);
    let kEnd = min(ranges[rb + 2u * r + 1u], p.Lk);
#else
    let kStart = 0u;
    let kEnd = p.Lk;
#endif
    for (var k0 = kStart; k0 < kEnd; k0 += BK) {
      let nk = min(BK, kEnd - k0);
      workgroupBarrier();
      for (var e = li; e < BK * D; e += BQ) {
        let j = e / D;
        var kv = 0.0;
        var vv = 0.0;
        if (j < nk) {
          kv = f32(k[kvbase + (k0 + j) * D + e % D]);
          vv = f32(v[kvbase + (k0 + j) * D + e % D]);
        }
        Ks[e] = kv;
        Vs[e] = vv;
      }
      workgroupBarrier();
      var bmax = m;
      for (var j = 0u; j < BK; j++) {
        var dot = 0.0;
        for (var d = 0u; d < D; d++) { dot = fma(qv[d], Ks[j * D + d], dot); }
        s[j] = dot;
        if (j < nk) { bmax = max(bmax, dot); }
      }
      let corr = exp(m - bmax);
      l *= corr;
      for (var d = 0u; d < D; d++) { acc[d] *= corr; }
      for (var j = 0u; j < BK; j++) {
        if (j < nk) {
          let pj = exp(s[j] - bmax);
          l += pj;
          for (var d = 0u; d < D; d++) { acc[d] = fma(pj, Vs[j * D + d], acc[d]); }
        }
      }
      m = bmax;
    }
  }
  if (valid) {
    let b = bh / p.H;
    let h = bh % p.H;
    let obase = (b * p.Lq + qi) * p.H * D + h * D;
    var inv = 0.0;
    if (l > 0.0) { inv = 1.0 / l; }
    for (var d = 0u; d < D; d++) { out[obase + d] = T(acc[d] * inv); }
  }
}
