// ToDo: average pooling of image keys/values over f x f cells of the token grid (partial cells at odd
// edges average the tokens they hold). x [BH, H*W, D] -> y [BH, cellsH*cellsW, D]; one thread per
// output vector of VEC channels. CPU reference: todoPoolRef in src/cpu/todo.ts.
#if F16
enable f16;
#endif
alias VT = {{VT}};
alias VF = {{VF}};

struct Params { total: u32, H: u32, W: u32, cellsW: u32, cells: u32, DV: u32, f: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read_write> y: array<VT>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = (wid.y * nwg.x + wid.x) * 256u + li;
  if (e >= p.total) { return; }
  let dv = e % p.DV;
  let row = e / p.DV;          // bh * cells + cell
  let cell = row % p.cells;
  let bh = row / p.cells;
  let y0 = (cell / p.cellsW) * p.f;
  let x0 = (cell % p.cellsW) * p.f;
  let y1 = min(p.H, y0 + p.f);
  let x1 = min(p.W, x0 + p.f);
  var acc = VF();
  for (var yy = y0; yy < y1; yy++) {
    for (var xx = x0; xx < x1; xx++) {
      acc += VF(x[((bh * p.H + yy) * p.W + xx) * p.DV + dv]);
    }
  }
  y[e] = VT(acc / f32((y1 - y0) * (x1 - x0)));
}
