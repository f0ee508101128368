// dst[b, idx[b, m], :] = src[b, m, :]  (out-of-range indices skipped)
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32, N: u32, M: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  let row = i / p.C;
  let c = i % p.C;
  let b = row / p.M;
  let r = idx[row];
  if (r < p.N) {
    dst[(b * p.N + r) * p.C + c] = src[i];
  }
}
