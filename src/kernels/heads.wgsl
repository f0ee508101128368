// Projection rows -> attention heads, with the optional QK RMSNorm and RoPE fused in:
//   out[b, h, seqOffset + l, :] = rope(rmsnorm(src[b, l, column + h·D : column + (h+1)·D]))
// One thread per rotated pair (D/2 threads per head row), ROWS head rows per workgroup; the RMS
// statistic is a workgroup-memory reduction over the row's threads. This replaces a gather (the
// head transpose), a norm and a rope launch, and writes K/V straight into the joint [text | image] buffer.
// With QKV, one launch does all three slots of a fused qkv projection (workgroup z = 0 q, 1 k, 2 v):
// q and k get the norm (their own weights) and RoPE, v is only transposed; k and v go to their own
// outputs at rows [seqOffsetKV, +L) of LoutKV.
#if F16
enable f16;
#endif
alias T = {{T}};
const HALF: u32 = {{HALF}}u;   // D / 2
const ROWS: u32 = {{ROWS}}u;   // head rows per workgroup

struct Params {
  rows: u32, L: u32, H: u32, W: u32, column: u32, Lout: u32, seqOffset: u32, eps: f32,
  LoutKV: u32, seqOffsetKV: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;
#if NORM
@group(0) @binding(3) var<storage, read> normWeight: array<T>;
#endif
#if ROPE
@group(0) @binding(4) var<storage, read> table: array<f32>;
#endif
#if QKV
@group(0) @binding(5) var<storage, read_write> dstK: array<T>;
@group(0) @binding(6) var<storage, read_write> dstV: array<T>;
#if NORM
@group(0) @binding(7) var<storage, read> normWeightK: array<T>;
#endif
#endif

var<workgroup> red: array<f32, ROWS * HALF>;

@compute @workgroup_size(ROWS * HALF)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let slot = li / HALF;            // which head row of this workgroup
  let i = li % HALF;               // which pair
  let r = (wid.y * nwg.x + wid.x) * ROWS + slot;   // ((b * L) + l) * H + h
  let live = r < p.rows;
  let rr = min(r, p.rows - 1u);
  let h = rr % p.H;
  let bl = rr / p.H;               // b * L + l
  let l = bl % p.L;
  let b = bl / p.L;
#if QKV
  let part = wid.z;                // 0 q, 1 k, 2 v (uniform over the workgroup)
  let column = part * p.H * (2u * HALF);
  let rotate = part < 2u;
#else
  let column = p.column;
  let rotate = true;
#endif
  let s = bl * p.W + column + h * (2u * HALF) + 2u * i;
  var x0 = f32(src[s]);
  var x1 = f32(src[s + 1u]);
  if (rotate) {
#if NORM
    red[li] = x0 * x0 + x1 * x1;
    workgroupBarrier();
#if POW2
    for (var stride = HALF / 2u; stride > 0u; stride >>= 1u) {
      if (i < stride) { red[li] += red[li + stride]; }
      workgroupBarrier();
    }
#else
    if (i == 0u) {
      var total = 0.0;
      for (var j = 0u; j < HALF; j++) { total += red[li + j]; }
      red[li] = total;
    }
    workgroupBarrier();
#endif
    let inv = inverseSqrt(red[slot * HALF] / f32(2u * HALF) + p.eps);
#if QKV
    let w0 = select(f32(normWeight[2u * i]), f32(normWeightK[2u * i]), part == 1u);
    let w1 = select(f32(normWeight[2u * i + 1u]), f32(normWeightK[2u * i + 1u]), part == 1u);
#else
    let w0 = f32(normWeight[2u * i]);
    let w1 = f32(normWeight[2u * i + 1u]);
#endif
    x0 = x0 * inv * w0;
    x1 = x1 * inv * w1;
#endif
#if ROPE
    let t = (bl * HALF + i) * 2u;
    let c = table[t];
    let sn = table[t + 1u];
    let y0 = c * x0 - sn * x1;
    let y1 = sn * x0 + c * x1;
    x0 = y0;
    x1 = y1;
#endif
  }
  if (live) {
#if QKV
    if (part == 0u) {
      let o = (((b * p.H + h) * p.Lout) + p.seqOffset + l) * (2u * HALF) + 2u * i;
      dst[o] = T(x0);
      dst[o + 1u] = T(x1);
    } else {
      let o = (((b * p.H + h) * p.LoutKV) + p.seqOffsetKV + l) * (2u * HALF) + 2u * i;
      if (part == 1u) {
        dstK[o] = T(x0);
        dstK[o + 1u] = T(x1);
      } else {
        dstV[o] = T(x0);
        dstV[o + 1u] = T(x1);
      }
    }
#else
    let o = (((b * p.H + h) * p.Lout) + p.seqOffset + l) * (2u * HALF) + 2u * i;
    dst[o] = T(x0);
    dst[o + 1u] = T(x1);
#endif
  }
}
