// ToMA unmerge fused with the scatter back to raster order: x'[tile's n tokens] = P_tileᵀ · z[tile's k
// merged tokens], written straight to the tokens' raster rows (every token belongs to exactly one tile,
// so the output is fully written without a separate zero-fill or scatter pass).
// One workgroup per (channel chunk, tile, batch element); each thread owns VEC channels, reads each merged
// token once and accumulates up to IB outputs in f32 registers. P (f32 [B, tiles, KMAX, NMAX]) is staged
// in workgroup memory. CPU reference: tomaUnmergeRef in src/cpu/toma.ts.
#if F16
enable f16;
#endif
alias VT = {{VT}};
alias VF = {{VF}};
const WG: u32 = 256u;
const TILE: u32 = {{TILE}}u;
const NMAX: u32 = TILE * TILE;
const KMAX: u32 = {{KMAX}}u;
const IB: u32 = {{IB}}u;      // tokens accumulated per pass over the merged tokens
const NPAD: u32 = {{NPAD}}u;  // NMAX rounded up to a multiple of IB

struct Params {
  H: u32, W: u32, S: u32, tilesW: u32, rowK: u32, k00: u32, k01: u32, k10: u32, k11: u32, tokens: u32,
  CV: u32, tiles: u32, chunks: u32,
  // Joint sequences [text | image]: rows per batch element of the input and the output, and the text
  // rows in front of the image ones (0 for image-only tensors). Grid rows past the tile rows
  // (wid.y >= tilesH) handle the text rows, TEXT_ROWS per workgroup and channel chunk.
  inRows: u32, outRows: u32, textRows: u32, tilesH: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<VT>;
@group(0) @binding(2) var<storage, read> pw: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<VT>;
#if RESIDUAL
// out = residual + unmerge (the single-stream block's update added to its input, in one pass)
@group(0) @binding(4) var<storage, read> residual: array<VT>;
#endif
const TEXT_ROWS: u32 = 8u;

// The value written to out[i]: v, plus the residual at the same place.
fn finish(i: u32, v: VF) -> VT {
#if RESIDUAL
  return VT(VF(residual[i]) + v);
#else
  return VT(v);
#endif
}

struct Tile { row0: u32, col0: u32, h: u32, w: u32, n: u32, k: u32, offset: u32 }

// Size, destination count and merged offset of tile t (see TileLayout).
fn tileGeom(t: u32) -> Tile {
  let tr = t / p.tilesW;
  let tc = t % p.tilesW;
  let h = min(p.S, p.H - tr * p.S);
  let w = min(p.S, p.W - tc * p.S);
  let kRow = select(p.k00, p.k10, h < p.S);
  let kCorner = select(p.k01, p.k11, h < p.S);
  let k = select(kRow, kCorner, w < p.S);
  return Tile(tr * p.S, tc * p.S, h, w, h * w, k, tr * p.rowK + tc * kRow);
}

fn rasterOf(g: Tile, i: u32) -> u32 {
  return (g.row0 + i / g.w) * p.W + g.col0 + i % g.w;
}

#if PRELOAD
// P with columns in slot order q = r * TILE + c (zero for slots outside an edge tile): output rows are
// addressed without divisions.
var<workgroup> pt: array<f32, KMAX * NMAX>;
#else
var<workgroup> pt: array<f32, KMAX * NPAD>;   // P, row stride NPAD
#endif

// Text rows: not merged, so copied (plus the residual).
fn copyText(wid: vec3<u32>, nx: u32, li: u32) {
  let id = (wid.y - p.tilesH) * nx + wid.x;
  let cv = (id % p.chunks) * WG + li;
  let r0 = (id / p.chunks) * TEXT_ROWS;
  if (cv >= p.CV) { return; }
  for (var r = r0; r < min(r0 + TEXT_ROWS, p.textRows); r++) {
    let o = (wid.z * p.outRows + r) * p.CV + cv;
    out[o] = finish(o, VF(z[(wid.z * p.inRows + r) * p.CV + cv]));
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  if (wid.y >= p.tilesH) {
    copyText(wid, nwg.x, li);
    return;
  }
  let chunk = wid.x % p.chunks;
  let t = wid.y * p.tilesW + wid.x / p.chunks;
  let b = wid.z;
  let g = tileGeom(t);
  let base = (b * p.tiles + t) * KMAX * NMAX;
  let zb = b * p.inRows + p.textRows;    // row of merged token 0 of batch element b
  let ob = b * p.outRows + p.textRows;   // row of image token 0
#if PRELOAD
  for (var q = li; q < KMAX * NMAX; q += WG) {
    let j = q / NMAX;
    let r = (q % NMAX) / TILE;
    let c = q % TILE;
    var v = 0.0;
    if (r < g.h && c < g.w) { v = pw[base + j * NMAX + r * g.w + c]; }
    pt[q] = v;
  }
  workgroupBarrier();
  let cv = chunk * WG + li;
  if (cv >= p.CV) { return; }
  // Up to 16 merged tokens per tile: all loads issued back to back, then one dot per output token.
  var zs = array<VF, KMAX>();
  for (var j = 0u; j < KMAX; j++) {
    if (j < g.k) { zs[j] = VF(z[(zb + g.offset + j) * p.CV + cv]); }
  }
  for (var r = 0u; r < TILE; r++) {
    if (r < g.h) {
      let row = (ob + (g.row0 + r) * p.W + g.col0) * p.CV + cv;
      for (var c = 0u; c < TILE; c++) {
        if (c < g.w) {
          var acc = VF();
          for (var j = 0u; j < KMAX; j++) { acc += pt[j * NMAX + r * TILE + c] * zs[j]; }
          out[row + c * p.CV] = finish(row + c * p.CV, acc);
        }
      }
    }
  }
#else
  for (var q = li; q < KMAX * NPAD; q += WG) {
    let j = q / NPAD;
    let i = q % NPAD;
    var v = 0.0;
    if (i < NMAX) { v = pw[base + j * NMAX + i]; }
    pt[q] = v;
  }
  workgroupBarrier();
  let cv = chunk * WG + li;
  if (cv >= p.CV) { return; }
  for (var i0 = 0u; i0 < g.n; i0 += IB) {
    var acc = array<VF, IB>();
    for (var j = 0u; j < g.k; j++) {
      let zv = VF(z[(zb + g.offset + j) * p.CV + cv]);
      for (var ii = 0u; ii < IB; ii++) { acc[ii] += pt[j * NPAD + i0 + ii] * zv; }
    }
    for (var ii = 0u; ii < IB; ii++) {
      if (i0 + ii < g.n) {
        let o = (ob + rasterOf(g, i0 + ii)) * p.CV + cv;
        out[o] = finish(o, acc[ii]);
      }
    }
  }
#endif
}
