// Copies count slabs along one axis: src viewed as [outer, srcAxis, inner], dst as [outer, dstAxis, inner].
// Concat, split and slice are all this kernel.
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32, countInner: u32, srcAxisInner: u32, dstAxisInner: u32, srcOff: u32, dstOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  let o = i / p.countInner;
  let r = i % p.countInner;
  dst[o * p.dstAxisInner + p.dstOff + r] = src[o * p.srcAxisInner + p.srcOff + r];
}
