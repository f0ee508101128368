// Test-only kernels for test/gpu/guard.test.ts (registered by the test; not part of the engine).
//
// main: y[i] = x[i] + 1 for i < n, and the marker 4242 for n <= i < n + extra: with extra > 0 a
// deliberate out-of-bounds write past y, which guard mode must report (robustness off). With
// robustness on, Tint clamps those indices to y's last element instead.
//
// many: y[i] = sum of a0..a8 [i] (ten storage bindings: more than one guard check dispatch holds).
struct Params { n: u32, extra: u32 }
@group(0) @binding(0) var<uniform> p: Params;
#if MANY
@group(0) @binding(1) var<storage, read> a0: array<f32>;
@group(0) @binding(2) var<storage, read> a1: array<f32>;
@group(0) @binding(3) var<storage, read> a2: array<f32>;
@group(0) @binding(4) var<storage, read> a3: array<f32>;
@group(0) @binding(5) var<storage, read> a4: array<f32>;
@group(0) @binding(6) var<storage, read> a5: array<f32>;
@group(0) @binding(7) var<storage, read> a6: array<f32>;
@group(0) @binding(8) var<storage, read> a7: array<f32>;
@group(0) @binding(9) var<storage, read> a8: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < p.n) {
    y[i] = a0[i] + a1[i] + a2[i] + a3[i] + a4[i] + a5[i] + a6[i] + a7[i] + a8[i];
  }
}
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < p.n) {
    y[i] = x[i] + 1.0;
  } else if (i < p.n + p.extra) {
    y[i] = 4242.0; // the bug under test: nothing stops i at n
  }
}
#endif
