// Row normalisation, one workgroup per row of C values:
//   MODE 0: no normalisation, 1: LayerNorm, 2: RMSNorm; then optional affine weight / bias;
//   then optional adaLN modulation y * (1 + scale[b]) + shift[b] with b = row / rowsPerBatch, shift and
//   scale read from rows of modStride values at columns shiftCol / scaleCol (chunks of one table).
// Statistics in f32 with a two-pass mean/variance (the row is re-read from memory; it is in cache).
#if F16
enable f16;
#endif
alias T = {{T}};
const MODE: u32 = {{MODE}}u;
const WG: u32 = 256u;

struct Params { rows: u32, C: u32, rowsPerBatch: u32, eps: f32, modStride: u32, shiftCol: u32, scaleCol: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
#if WEIGHT
@group(0) @binding(3) var<storage, read> weight: array<T>;
#endif
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<T>;
#endif
#if MODULATE
@group(0) @binding(5) var<storage, read> shift: array<T>;
@group(0) @binding(6) var<storage, read> scale: array<T>;
#endif

var<workgroup> red: array<f32, WG>;

fn reduceSum(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; } // uniform across the workgroup
  let base = row * p.C;
  var mean = 0.0;
  var inv = 1.0;
  if (MODE == 1u) {
    var s = 0.0;
    for (var c = li; c < p.C; c += WG) { s += f32(x[base + c]); }
    mean = reduceSum(s, li) / f32(p.C);
    var v = 0.0;
    for (var c = li; c < p.C; c += WG) { let d = f32(x[base + c]) - mean; v += d * d; }
    inv = inverseSqrt(reduceSum(v, li) / f32(p.C) + p.eps);
  } else if (MODE == 2u) {
    var ss = 0.0;
    for (var c = li; c < p.C; c += WG) { let d = f32(x[base + c]); ss += d * d; }
    inv = inverseSqrt(reduceSum(ss, li) / f32(p.C) + p.eps);
  }
#if MODULATE
  let mb = (row / p.rowsPerBatch) * p.modStride;
#endif
  for (var c = li; c < p.C; c += WG) {
    var v = (f32(x[base + c]) - mean) * inv;
#if WEIGHT
    v *= f32(weight[c]);
#endif
#if BIAS
    v += f32(bias[c]);
#endif
#if MODULATE
    v = v * (1.0 + f32(scale[mb + p.scaleCol + c])) + f32(shift[mb + p.shiftCol + c]);
#endif
    y[base + c] = T(v);
  }
}
