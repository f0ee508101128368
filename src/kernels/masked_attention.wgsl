// Attention with an additive f32 bias, causal masking and key padding, on SIMT cores (every adapter):
// one thread per query row, BQ rows per workgroup, keys staged through workgroup memory BK at a time,
// online softmax in f32. q [B, H, Lq, D], k/v [B, H, Lk, D] -> out [B, Lq, H*D].
// bias [H, Lq, Lk] or [B, H, Lq, Lk] (biasBatchStride 0 or H*Lq*Lk); keyMask u32 [B, Lk], 0 = padding,
// whose score becomes the lowest f32 (Hugging Face adds finfo.min); causal keys j > i are skipped.
#if F16
enable f16;
#endif
alias T = {{T}};
const D: u32 = {{D}}u;
const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;
const CAUSAL: bool = {{CAUSAL}};

struct Params { H: u32, Lq: u32, Lk: u32, scale: f32, biasBatchStride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<T>;
@group(0) @binding(2) var<storage, read> k: array<T>;
@group(0) @binding(3) var<storage, read> v: array<T>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;
#if BIAS
@group(0) @binding(5) var<storage, read> bias: array<f32>;
#endif
#if KEYMASK
@group(0) @binding(6) var<storage, read> keyMask: array<u32>;
#endif

var<workgroup> Ks: array<f32, BK * D>;
var<workgroup> Vs: array<f32, BK * D>;
#if KEYMASK
var<workgroup> Ms: array<u32, BK>;
#endif

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let LOW = bitcast<f32>(0xff7fffffu); // lowest finite f32
  let bh = wid.y;
  let b = bh / p.H;
  let h = bh % p.H;
  let q0 = wid.x * BQ;
  let qi = q0 + li;
  let valid = qi < p.Lq;
  let qrow = min(qi, p.Lq - 1u);
  let qbase = (bh * p.Lq + qrow) * D;
  let kvbase = bh * p.Lk * D;
#if BIAS
  let biasBase = b * p.biasBatchStride + (h * p.Lq + qrow) * p.Lk;
#endif

  var qv: array<f32, D>;
  var acc: array<f32, D>;
  for (var d = 0u; d < D; d++) {
    qv[d] = f32(q[qbase + d]) * p.scale;
    acc[d] = 0.0;
  }
  var m = LOW;
  var l = 0.0;
  var s: array<f32, BK>;

  var kEnd = p.Lk;
  if (CAUSAL) { kEnd = min(p.Lk, q0 + BQ); } // the same for the whole workgroup
  for (var k0 = 0u; k0 < kEnd; k0 += BK) {
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
#if KEYMASK
    for (var e = li; e < BK; e += BQ) {
      var mk = 1u;
      if (e < nk) { mk = keyMask[b * p.Lk + k0 + e]; }
      Ms[e] = mk;
    }
#endif
    workgroupBarrier();
    var bmax = m;
    for (var j = 0u; j < BK; j++) {
      var sc = LOW;
      let key = k0 + j;
      if (j < nk && (!CAUSAL || key <= qrow)) {
        var dot = 0.0;
        for (var d = 0u; d < D; d++) { dot = fma(qv[d], Ks[j * D + d], dot); }
        sc = dot;
#if BIAS
        sc += bias[biasBase + key];
#endif
#if KEYMASK
        if (Ms[j] == 0u) { sc = LOW; }
#endif
        bmax = max(bmax, sc);
      }
      s[j] = sc;
    }
    let corr = exp(m - bmax);
    l *= corr;
    for (var d = 0u; d < D; d++) { acc[d] *= corr; }
    for (var j = 0u; j < BK; j++) {
      if (j < nk && (!CAUSAL || k0 + j <= qrow)) {
        let pj = exp(s[j] - bmax);
        l += pj;
        for (var d = 0u; d < D; d++) { acc[d] = fma(pj, Vs[j * D + d], acc[d]); }
      }
    }
    m = bmax;
  }
  if (valid) {
    let obase = (b * p.Lq + qi) * p.H * D + h * D;
    let inv = 1.0 / l; // l >= 1: the row's largest score contributes exp(0)
    for (var d = 0u; d < D; d++) { out[obase + d] = T(acc[d] * inv); }
  }
}
