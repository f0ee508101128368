// ToMeSD: for each source row of the cosine scores [Nsrc, Ndst] (one batch element), the best score and
// its destination (lowest index on ties). One workgroup per source row. NaN scores (NaN tokens) lose to
// every number; a row of only NaN gives destination 0 and score -inf, as the CPU reference does.
#if F16
enable f16;
#endif
alias T = {{T}};
const WG: u32 = 256u;

struct Params { ns: u32, nd: u32, outOffset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<T>;
@group(0) @binding(2) var<storage, read_write> nodeMax: array<u32>; // f32 bits (so -inf can be stored)
@group(0) @binding(3) var<storage, read_write> nodeIdx: array<u32>;

const NONE: u32 = 0xffffffffu;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

// Similarities compared as integers that order like the numbers, NaN below everything and -0 equal
// to +0: WGSL implementations may assume floats are never NaN, so float comparisons cannot be trusted
// to give NaN scores an order, and a partial order would break the ranking's permutation (the CPU
// reference sorts NaN last, too).
fn orderKey(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; } // NaN
  if (b == 0x80000000u) { return 0x80000000u; } // -0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// Whether score v of destination i beats w of j; NONE (nothing yet) loses to any destination.
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  let a = orderKey(v);
  let c = orderKey(w);
  return i != NONE && (j == NONE || a > c || (a == c && i < j));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.ns) { return; } // uniform across the workgroup
  var v = 0.0;
  var vi = NONE;
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
    let best = bestV[0];
    // Only NaN scores: -inf (as bits: WGSL has no infinity), the CPU reference's initial best.
    nodeMax[p.outOffset + row] = select(bitcast<u32>(best), 0xff800000u, orderKey(best) == 0u);
    nodeIdx[p.outOffset + row] = bestI[0];
  }
}
