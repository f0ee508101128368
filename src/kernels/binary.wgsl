// y = a + b or a * b, elementwise, same shapes.
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
#if MUL
  y[i] = T(f32(a[i]) * f32(b[i]));
#else
  y[i] = T(f32(a[i]) + f32(b[i]));
#endif
}
