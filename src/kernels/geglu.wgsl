// GEGLU: rows of 2n values (hidden | gate) -> rows of n, y = hidden · gelu(gate) with the exact GELU.
// gelu(g) = g·Φ(g) with Φ from erfc (the Numerical Recipes Chebyshev fit, fractional error < 1.2e-7),
// written through erfc on both sides of zero so no branch cancels (src/cpu/geglu.ts is the reference).
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { total: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

fn erfc_abs(z: f32) -> f32 {
  // erfc(z) for z >= 0
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  // exp of a very negative argument underflows to 0, which is the right limit
  return t * exp(max(-z * z + poly, -100.0));
}

fn gelu(g: f32) -> f32 {
  let z = abs(g) * 0.7071067811865476;
  let e = erfc_abs(z);
  return select(0.5 * g * e, g - 0.5 * g * e, g >= 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.total) { return; }
  let row = i / p.n;
  let j = i - row * p.n;
  let base = row * 2u * p.n;
  y[i] = T(f32(x[base + j]) * gelu(f32(x[base + p.n + j])));
}
