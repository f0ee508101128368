// ToMeSD: for each source row of the cosine scores [Nsrc, Ndst] (one batch element), the best score and
// its destination (lowest index on ties). One workgroup per source row.
#if F16
enable f16;
#endif
alias T = {{T}};
const WG: u32 = 256u;

struct Params { ns: u32, nd: u32, outOffset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<T>;
@group(0) @binding(2) var<storage, read_write> nodeMax: array<f32>;
@group(0) @binding(3) var<storage, read_write> nodeIdx: array<u32>;

var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.ns) { return; } // uniform across the workgroup
  var v = -3.0e38;
  var vi = 0xffffffffu;
  for (var j = li; j < p.nd; j += WG) {
    let s = f32(scores[row * p.nd + j]);
    if (better(s, j, v, vi)) { v = s; vi = j; }
  }
  bestV[li] = v;
  bestI[li] = vi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s && better(bestV[li + s], bestI[li + s], bestV[li], bestI[li])) {
      bestV[li] = bestV[li + s];
      bestI[li] = bestI[li + s];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    nodeMax[p.outOffset + row] = bestV[0];
    nodeIdx[p.outOffset + row] = bestI[0];
  }
}
