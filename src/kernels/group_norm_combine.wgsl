// Group-norm statistics, phase 2: merges the partial (count, mean, M2) of every chunk (Chan's formula)
// into stats [B, G, 2] = (mean, 1 / sqrt(M2 / count + eps)). One workgroup per (group, batch).
const WG: u32 = 256u;

struct Params { totalChunks: u32, G: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;

var<workgroup> wn: array<f32, WG>;
var<workgroup> wm: array<f32, WG>;
var<workgroup> wM2: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wid.x;
  let b = wid.y;
  var n = 0.0;
  var mean = 0.0;
  var M2 = 0.0;
  for (var c = li; c < p.totalChunks; c += WG) {
    let o = ((b * p.totalChunks + c) * p.G + g) * 3u;
    let nb = partial[o];
    let nt = n + nb;
    if (nb > 0.0) {
      let d = partial[o + 1u] - mean;
      mean += d * nb / nt;
      M2 += partial[o + 2u] + d * d * n * nb / nt;
      n = nt;
    }
  }
  wn[li] = n;
  wm[li] = mean;
  wM2[li] = M2;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) {
      let na = wn[li];
      let nb = wn[li + stride];
      let nt = na + nb;
      if (nt > 0.0) {
        let d = wm[li + stride] - wm[li];
        wm[li] = wm[li] + d * nb / nt;
        wM2[li] = wM2[li] + wM2[li + stride] + d * d * na * nb / nt;
        wn[li] = nt;
      }
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let o = (b * p.G + g) * 2u;
    stats[o] = wm[0];
    stats[o + 1u] = inverseSqrt(max(wM2[0], 0.0) / wn[0] + p.eps);
  }
}
