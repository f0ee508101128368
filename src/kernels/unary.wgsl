// y = act(x * s), elementwise.
#if F16
enable f16;
#endif
alias T = {{T}};
const ACT: u32 = {{ACT}}u; // 0 none, 1 gelu_tanh, 2 silu

struct Params { n: u32, s: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  var v = f32(x[i]) * p.s;
  if (ACT == 1u) {
    v = 0.5 * v * (1.0 + tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0)));
  } else if (ACT == 2u) {
    v = v / (1.0 + exp(-v));
  }
  y[i] = T(v);
}
