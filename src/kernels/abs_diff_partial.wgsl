// absDiffSums, phase 1: partial sums (Σ|x − ref|, Σ|ref|) per (row, chunk) of a [rows, per] pair, into
// partial [rows, chunks, 2]. Workgroup (chunk, row): each thread sums a strided share of the chunk in
// f32, then a tree over the workgroup. Phase 2 (abs_diff_combine) adds a row's chunks.
#if F16
enable f16;
#endif
alias T = {{T}};
const WG: u32 = 256u;

struct Params { per: u32, chunkSize: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> reference: array<T>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

var<workgroup> wd: array<f32, WG>;
var<workgroup> ws: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let chunk = wid.x;
  let row = wid.y;
  let start = chunk * p.chunkSize;
  let end = min(p.per, start + p.chunkSize);
  let base = row * p.per;
  var d = 0.0;
  var s = 0.0;
  for (var i = start + li; i < end; i += WG) {
    let r = f32(reference[base + i]);
    d += abs(f32(x[base + i]) - r);
    s += abs(r);
  }
  wd[li] = d;
  ws[li] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (li < stride) {
      wd[li] += wd[li + stride];
      ws[li] += ws[li + stride];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let o = (row * p.chunks + chunk) * 2u;
    partial[o] = wd[0];
    partial[o + 1u] = ws[0];
  }
}
