// Group-norm phase 3, elementwise over a channels-last [B, S, C]: (x - mean) * rstd * weight + bias,
// then SiLU when SILU; stats [B, G, 2] from group_norm_combine.
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32, C: u32, cpg: u32, SC: u32, G: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
#if WEIGHT
@group(0) @binding(4) var<storage, read> weight: array<T>;
#endif
#if BIAS
@group(0) @binding(5) var<storage, read> bias: array<T>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  let c = i % p.C;
  let o = ((i / p.SC) * p.G + c / p.cpg) * 2u;
  var v = (f32(x[i]) - stats[o]) * stats[o + 1u];
#if WEIGHT
  v *= f32(weight[c]);
#endif
#if BIAS
  v += f32(bias[c]);
#endif
#if SILU
  v = v / (1.0 + exp(-v));
#endif
  y[i] = T(v);
}
