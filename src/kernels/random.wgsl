// Counter-based normal random numbers; the same formula as src/cpu/random.ts.
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32, seed: u32, mean: f32, stddev: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<T>;

fn pcg(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  let base = pcg(p.seed);
  let u1 = (f32(pcg(base ^ (2u * i)) >> 9u) + 0.5) / 8388608.0;
  let u2 = (f32(pcg(base ^ (2u * i + 1u)) >> 9u) + 0.5) / 8388608.0;
  // cos(2πu) as −cos(2π(u − ½)): the argument stays in [−π, π], where GPU cos is accurate.
  let z = -sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * (u2 - 0.5));
  y[i] = T(p.mean + p.stddev * z);
}
