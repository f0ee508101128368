// Dequantizes a QuantizedMatrix [N, K] (ggml blocks, type QUANT) into a dense [N, K] tensor of T
// (f32 exactly as the CPU reference; f16 its rounding). One thread per 8 consecutive elements of a row.
#if F16
enable f16;
#endif

alias T = {{T}};

struct Params {
  K: u32,
  groups: u32, // N * K / 8
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<T>>;

#include quant_decode

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = (wid.y * nwg.x + wid.x) * 256u + li;
  if (g >= p.groups) { return; }
  let perRow = p.K / 8u;
  let v = dequant8(g / perRow, (g % perRow) * 8u, p.K);
  y[2u * g] = vec4<T>(T(v[0]), T(v[1]), T(v[2]), T(v[3]));
  y[2u * g + 1u] = vec4<T>(T(v[4]), T(v[5]), T(v[6]), T(v[7]));
}
