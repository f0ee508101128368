// GEGLU: rows of 2n values (hidden | gate) -> rows of n, y = hidden · gelu(gate) with the exact GELU
// (activation.wgsl's ACT 3; src/cpu/geglu.ts is the reference).
#if F16
enable f16;
#endif
alias T = {{T}};
const ACT: u32 = 3u;

#include activation

struct Params { total: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.total) { return; }
  let row = i / p.n;
  let j = i - row * p.n;
  let base = row * 2u * p.n;
  y[i] = T(f32(x[base + j]) * activate(f32(x[base + p.n + j])));
}
