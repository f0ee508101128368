// Flux rotary embedding: x [B, H, L, D], table [B, L, D/2, 2] of (cos, sin);
// pair (x0, x1) = (x[2i], x[2i+1]) -> (cos·x0 − sin·x1, sin·x0 + cos·x1). One thread per pair.
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { pairs: u32, H: u32, L: u32, half: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.pairs) { return; }
  let pair = i % p.half;
  let row = i / p.half;        // (b * H + h) * L + l
  let l = row % p.L;
  let b = row / (p.L * p.H);
  let t = ((b * p.L + l) * p.half + pair) * 2u;
  let c = table[t];
  let s = table[t + 1u];
  let x0 = f32(x[2u * i]);
  let x1 = f32(x[2u * i + 1u]);
  y[2u * i] = T(c * x0 - s * x1);
  y[2u * i + 1u] = T(s * x0 + c * x1);
}
