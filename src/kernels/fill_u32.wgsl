// Fills a buffer with one 32-bit pattern (used to poison fresh tensors in tests: 0xffffffff is NaN
// in f32 and a pair of NaNs in f16, so an output element a kernel forgets to write shows up).
struct Params { n: u32, value: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i < p.n) { y[i] = p.value; }
}
