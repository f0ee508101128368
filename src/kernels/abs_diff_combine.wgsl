// absDiffSums, phase 2: adds the chunk partials [rows, chunks, 2] of abs_diff_partial into out [rows, 2].
// One workgroup per row: strided f32 sums per thread, then a tree over the workgroup.
const WG: u32 = 256u;

struct Params { chunks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> wd: array<f32, WG>;
var<workgroup> ws: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.x;
  var d = 0.0;
  var s = 0.0;
  for (var c = li; c < p.chunks; c += WG) {
    let o = (row * p.chunks + c) * 2u;
    d += partial[o];
    s += partial[o + 1u];
  }
  wd[li] = d;
  ws[li] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) {
      wd[li] += wd[li + stride];
      ws[li] += ws[li + stride];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    out[row * 2u] = wd[0];
    out[row * 2u + 1u] = ws[0];
  }
}
