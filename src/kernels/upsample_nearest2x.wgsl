// Nearest-neighbour 2x upsampling, channels-last: out [B, 2H, 2W, C][b, y, x, c] = in[b, y/2, x/2, c].
#if F16
enable f16;
#endif
alias T = {{T}};

struct Params { n: u32, H: u32, W: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + li;
  if (i >= p.n) { return; }
  let c = i % p.C;
  var t = i / p.C;
  let ox = t % (2u * p.W);
  t /= 2u * p.W;
  let oy = t % (2u * p.H);
  let b = t / (2u * p.H);
  y[i] = x[((b * p.H + oy / 2u) * p.W + ox / 2u) * p.C + c];
}
