// ToMeSD merge: rows [0, unm) copy the unmerged sources (by descending similarity); row unm + j is
// destination j averaged with the sources merged into it: (x_dst + Σ x_src) / (1 + count).
// One workgroup per (channel chunk, merged row, batch element); f32 accumulation.
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
    let s = srcIdx[order[b * p.ns + p.r + row]];
    y[out] = x[(b * p.N + s) * p.CV + cv];
    return;
  }
  let j = row - unm;
  var acc = VF(x[(b * p.N + dstIdx[j]) * p.CV + cv]);
  let start = groupStart[b * p.nd + j];
  let count = groupCount[b * p.nd + j];
  for (var q = 0u; q < count; q++) {
    let s = srcIdx[list[b * p.listStride + start + q]];
    acc += VF(x[(b * p.N + s) * p.CV + cv]);
  }
  y[out] = VT(acc / f32(1u + count));
}
