// Group-norm statistics, phase 1: partial (count, mean, M2) per (batch, chunk of positions, group) of a
// channels-last tensor [B, S, C], written at chunk index chunkOffset + chunk of a [B, totalChunks, G, 3]
// array (several tensors, e.g. row bands of one image, fill disjoint chunk ranges of one array).
// Workgroup (chunk, b): thread li serves group li % G and walks positions lane, lane + LANES, ...
// (lane = li / G), with Welford updates; lanes are merged with Chan's formula.
#if F16
enable f16;
#endif
alias T = {{T}};
const G: u32 = {{G}}u;
const WG: u32 = 256u;
const LANES: u32 = WG / G;

struct Params { S: u32, C: u32, chunkSize: u32, chunkOffset: u32, totalChunks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

var<workgroup> wn: array<f32, WG>;
var<workgroup> wm: array<f32, WG>;
var<workgroup> wM2: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let chunk = wid.x;
  let b = wid.y;
  let g = li % G;
  let lane = li / G;
  let cpg = p.C / G;
  let s0 = chunk * p.chunkSize;
  let s1 = min(p.S, s0 + p.chunkSize);
  var n = 0.0;
  var mean = 0.0;
  var M2 = 0.0;
  for (var s = s0 + lane; s < s1; s += LANES) {
    let base = (b * p.S + s) * p.C + g * cpg;
    for (var c = 0u; c < cpg; c++) {
      let v = f32(x[base + c]);
      n += 1.0;
      let d = v - mean;
      mean += d / n;
      M2 += d * (v - mean);
    }
  }
  wn[li] = n;
  wm[li] = mean;
  wM2[li] = M2;
  workgroupBarrier();
  for (var stride = LANES / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      let o = li + stride * G;
      let na = wn[li];
      let nb = wn[o];
      let nt = na + nb;
      if (nt > 0.0) {
        let d = wm[o] - wm[li];
        wm[li] = wm[li] + d * nb / nt;
        wM2[li] = wM2[li] + wM2[o] + d * d * na * nb / nt;
        wn[li] = nt;
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u) {
    let o = ((b * p.totalChunks + p.chunkOffset + chunk) * G + g) * 3u;
    partial[o] = wn[li];
    partial[o + 1u] = wm[li];
    partial[o + 2u] = wM2[li];
  }
}
