// ToMeSD without a sort: each source's rank in descending similarity (ties: lower index first) is the
// number of sources ahead of it, counted over all sources (O(Nsrc²) comparisons, from workgroup-memory
// tiles). From the rank: the order, which rows are merged (rank < r), the merged row each raster token
// is restored from (rowOf) and the raster token whose RoPE each merged row takes (repIdx).
// One thread per source; grid (ceil(Nsrc / WG), B).
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

var<workgroup> tile: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wid.y;
  let i = wid.x * WG + li;
  let mine = i < p.ns;
  var v = 0.0;
  if (mine) { v = nodeMax[b * p.ns + i]; }
  var ahead = 0u;
  for (var j0 = 0u; j0 < p.ns; j0 += WG) {
    if (j0 + li < p.ns) { tile[li] = nodeMax[b * p.ns + j0 + li]; }
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
    rank[b * p.ns + i] = ahead;
    order[b * p.ns + ahead] = i;
    if (ahead >= p.r) {
      rowOf[b * p.N + s] = ahead - p.r;
      repIdx[b * p.tokens + ahead - p.r] = s;
    } else {
      rowOf[b * p.N + s] = unm + nodeIdx[b * p.ns + i];
    }
  }
  if (i < p.nd) {
    rowOf[b * p.N + dstIdx[i]] = unm + i;
    repIdx[b * p.tokens + unm + i] = dstIdx[i];
  }
}
