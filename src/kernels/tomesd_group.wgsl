// ToMeSD: the merged sources grouped by destination without a sort or atomics. A merged source's place
// in the list ordered by (destination, source index) is the number of merged sources before it in that
// order (O(Nsrc²) comparisons, from workgroup-memory tiles); the first of each group also records the
// group's start and size. groupStart / groupCount must be zero-filled before (empty groups stay 0, 0).
// One thread per source; grid (ceil(Nsrc / WG), B). A destination index >= Nd (a caller's match, not
// checkable before the launch) leaves its source out of every group instead of indexing past them.
const WG: u32 = 256u;

struct Params { ns: u32, nd: u32, r: u32, listStride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> nodeIdx: array<u32>;
@group(0) @binding(2) var<storage, read> rank: array<u32>;
@group(0) @binding(3) var<storage, read_write> list: array<u32>;
@group(0) @binding(4) var<storage, read_write> groupStart: array<u32>;
@group(0) @binding(5) var<storage, read_write> groupCount: array<u32>;

var<workgroup> tileDst: array<u32, WG>;   // destination of each source in the tile, or NONE if not merged
const NONE: u32 = 0xffffffffu;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let b = wid.y;
  let i = wid.x * WG + li;
  var d = NONE;
  if (i < p.ns && rank[b * p.ns + i] < p.r) { d = select(NONE, nodeIdx[b * p.ns + i], nodeIdx[b * p.ns + i] < p.nd); }
  var pos = 0u;
  var same = 0u;
  var sameBefore = 0u;
  for (var j0 = 0u; j0 < p.ns; j0 += WG) {
    let j = j0 + li;
    var dj = NONE;
    if (j < p.ns && rank[b * p.ns + j] < p.r) { dj = select(NONE, nodeIdx[b * p.ns + j], nodeIdx[b * p.ns + j] < p.nd); }
    tileDst[li] = dj;
    workgroupBarrier();
    let m = min(WG, p.ns - j0);
    for (var jj = 0u; jj < m; jj++) {
      let e = tileDst[jj];
      if (e != NONE) {
        let before = j0 + jj < i;
        if (e < d || (e == d && before)) { pos++; }
        if (e == d) {
          same++;
          if (before) { sameBefore++; }
        }
      }
    }
    workgroupBarrier();
  }
  // pos < r <= listStride when rank is a permutation (tomesd_rank's); checked for any other rank.
  if (d != NONE && pos < p.listStride) {
    list[b * p.listStride + pos] = i;
    if (sameBefore == 0u) {
      groupStart[b * p.nd + d] = pos;
      groupCount[b * p.nd + d] = same;
    }
  }
}
