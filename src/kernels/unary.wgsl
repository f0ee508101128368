// y = act(x * s), elementwise.
#if F16
enable f16;
#endif
alias T = {{T}};
const ACT: u32 = {{ACT}}u; // 0 none, 1 gelu_tanh, 2 silu, 3 gelu (erf)

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), for the exact GELU (ACT 3).
fn erfApprox(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}

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
  } else if (ACT == 3u) {
    v = 0.5 * v * (1.0 + erfApprox(v * 0.7071067811865476));
  }
  y[i] = T(v);
}
