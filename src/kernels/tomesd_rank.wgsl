// ToMeSD without a sort: each source's rank in descending similarity (ties: lower index first) is the
// number of sources ahead of it, counted over all sources (O(Nsrc²) comparisons, from workgroup-memory
// tiles). From the rank: the order, which rows are merged (rank < r), the merged row each raster token
// is restored from (rowOf) and the raster token whose RoPE each merged row takes (repIdx).
// One thread per source (and per destination); grid (ceil(max(Nsrc, Ndst) / WG), B). Raster indices from the partition are checked
// before they index rowOf (the CPU cannot check tensor contents before a launch).
const WG: u32 = 256u;

struct Params { ns: u32, nd: u32, N: u32, r: u32, tokens: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> nodeMax: array<f32>;
@group(0) @binding(2) var<storage, read> nodeIdx: array<u32>;
@group(0) @binding(3) var<storage, read> srcIdx: array<u32>;
@group(0) @binding(4) var<storage, read> dstIdx: array<u32>;
@group(0) @binding(5) var<storage, read_write> rank: array<u32>;
@group(0) @binding(6) var<storage, read_write> order: array<u32>;
@group(0) @binding(7) var<storage, read_write> rowOf: array<u32>;
@group(0) @binding(8) var<storage, read_write> repIdx: array<u32>;

var<workgroup> tile: array<u32, WG>;

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wid.y;
  let i = wid.x * WG + li;
  let mine = i < p.ns;
  var v = 0u;
  if (mine) { v = orderKey(nodeMax[b * p.ns + i]); }
  var ahead = 0u;
  for (var j0 = 0u; j0 < p.ns; j0 += WG) {
    if (j0 + li < p.ns) { tile[li] = orderKey(nodeMax[b * p.ns + j0 + li]); }
    workgroupBarrier();
    let m = min(WG, p.ns - j0);
    for (var jj = 0u; jj < m; jj++) {
      let w = tile[jj];
      if (w > v || (w == v && j0 + jj < i)) { ahead++; }
    }
    workgroupBarrier();
  }
  let unm = p.ns - p.r;
  if (mine) {
    let s = srcIdx[i];
    rank[b * p.ns + i] = ahead; // a total order: ahead < ns, and every rank is taken once
    order[b * p.ns + ahead] = i;
    if (ahead >= p.r) {
      repIdx[b * p.tokens + ahead - p.r] = s;
    }
    if (s < p.N) {
      rowOf[b * p.N + s] = select(unm + nodeIdx[b * p.ns + i], ahead - p.r, ahead >= p.r);
    }
  }
  if (i < p.nd) {
    let d = dstIdx[i];
    if (d < p.N) { rowOf[b * p.N + d] = unm + i; }
    repIdx[b * p.tokens + unm + i] = d;
  }
}
