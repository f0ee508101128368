// Converts between f32 and f16 storage.
#if F16
enable f16;
#endif

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{SRC}}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{DST}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  y[i] = {{DST}}(x[i]);
}
