// ToMeSD: gather rows and scale them to unit L2 norm (norm clamped at 1e-12), for the cosine matmul.
// out[b, m, :] = x[b, idx[m], :] / |x[b, idx[m], :]|, one workgroup per (row m, batch element b).
// An index >= N (a partition tensor's contents, not checkable before the launch) gives a zero row.
#if F16
enable f16;
#endif
alias T = {{T}};
const WG: u32 = 256u;

struct Params { N: u32, M: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let m = wid.x;
  let b = wid.y;
  let valid = idx[m] < p.N;
  let src = (b * p.N + select(0u, idx[m], valid)) * p.C;
  var ss = 0.0;
  for (var c = li; c < p.C; c += WG) { let v = select(0.0, f32(x[src + c]), valid); ss += v * v; }
  red[li] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / max(sqrt(red[0]), 1e-12);
  let dst = (b * p.M + m) * p.C;
  for (var c = li; c < p.C; c += WG) { y[dst + c] = T(select(0.0, f32(x[src + c]), valid) * inv); }
}
