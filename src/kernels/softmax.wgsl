// Softmax over rows of C values, one workgroup per row, f32 arithmetic.
#if F16
enable f16;
#endif
alias T = {{T}};
const WG: u32 = 256u;

struct Params { rows: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.C;
  var m = -3.0e38;
  for (var c = li; c < p.C; c += WG) { m = max(m, f32(x[base + c])); }
  red[li] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] = max(red[li], red[li + s]); }
    workgroupBarrier();
  }
  m = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var c = li; c < p.C; c += WG) { sum += exp(f32(x[base + c]) - m); }
  red[li] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  for (var c = li; c < p.C; c += WG) { y[base + c] = T(exp(f32(x[base + c]) - m) * inv); }
}
