// y = act(x * s), elementwise.
#if F16
enable f16;
#endif
alias T = {{T}};
const ACT: u32 = {{ACT}}u; // 0 none, 1 gelu_tanh, 2 silu, 3 gelu (activation.wgsl)

struct Params { n: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

#include activation

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  y[i] = T(activate(f32(x[i]) * p.s));
}
