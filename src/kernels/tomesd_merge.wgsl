// ToMeSD merge: rows [0, unm) copy the unmerged sources (by descending similarity); row unm + j is
// destination j averaged with the sources merged into it: (x_dst + Σ x_src) / (1 + count).
// One workgroup per (channel chunk, merged row, batch element); f32 accumulation.
// The plan's and partition's indices are tensor contents the CPU cannot check before the launch: an
// index out of range contributes nothing (a zero row, or a skipped source) instead of being followed.
#if F16
enable f16;
#endif
alias VT = {{VT}};
alias VF = {{VF}};
const WG: u32 = 256u;

struct Params { N: u32, ns: u32, nd: u32, r: u32, tokens: u32, CV: u32, listStride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read> srcIdx: array<u32>;
@group(0) @binding(3) var<storage, read> dstIdx: array<u32>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read> list: array<u32>;
@group(0) @binding(6) var<storage, read> groupStart: array<u32>;
@group(0) @binding(7) var<storage, read> groupCount: array<u32>;
@group(0) @binding(8) var<storage, read_write> y: array<VT>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let cv = wid.x * WG + li;
  let row = wid.y;
  let b = wid.z;
  if (cv >= p.CV) { return; }
  let unm = p.ns - p.r;
  let out = (b * p.tokens + row) * p.CV + cv;
  if (row < unm) {
    var v = VT();
    let o = order[b * p.ns + p.r + row];
    if (o < p.ns && srcIdx[o] < p.N) { v = x[(b * p.N + srcIdx[o]) * p.CV + cv]; }
    y[out] = v;
    return;
  }
  let j = row - unm;
  var acc = VF();
  if (dstIdx[j] < p.N) { acc = VF(x[(b * p.N + dstIdx[j]) * p.CV + cv]); }
  let start = min(groupStart[b * p.nd + j], p.listStride);
  let count = min(groupCount[b * p.nd + j], p.listStride - start); // the group stays inside the list
  for (var q = 0u; q < count; q++) {
    let l = list[b * p.listStride + start + q];
    if (l < p.ns && srcIdx[l] < p.N) { acc += VF(x[(b * p.N + srcIdx[l]) * p.CV + cv]); }
  }
  y[out] = VT(acc / f32(1u + count));
}
