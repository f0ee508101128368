// ToMA merge: y[tile's k merged tokens] = M_tile · x[tile's n tokens], merged tokens tile-major.
// One workgroup per (channel chunk, tile, batch element); each thread owns VEC channels and reads each
// of the tile's tokens once (coalesced along channels): for tiles up to 4x4 (PRELOAD) all into registers
// first, else accumulating KB destinations at a time in f32 registers. M (f32 [B, tiles, KMAX, NMAX], zero-padded) is staged in workgroup memory.
// CPU reference: tomaMergeRef in src/cpu/toma.ts.
#if F16
enable f16;
#endif
alias VT = {{VT}};   // storage vector (VEC channels of T)
alias VF = {{VF}};   // the same in f32
const WG: u32 = 256u;
const TILE: u32 = {{TILE}}u;
const NMAX: u32 = TILE * TILE;
const KMAX: u32 = {{KMAX}}u;
const KB: u32 = {{KB}}u;      // destinations accumulated per pass over the tile
const KPAD: u32 = {{KPAD}}u;  // KMAX rounded up to a multiple of KB

struct Params {
  H: u32, W: u32, S: u32, tilesW: u32, rowK: u32, k00: u32, k01: u32, k10: u32, k11: u32, tokens: u32,
  CV: u32, tiles: u32, chunks: u32,
  // Joint sequences [text | image]: rows per batch element of the input and the output, and the text
  // rows in front of the image ones (0 for image-only tensors). Grid rows past the tile rows
  // (wid.y >= tilesH) handle the text rows, TEXT_ROWS per workgroup and channel chunk.
  inRows: u32, outRows: u32, textRows: u32, tilesH: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VT>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<VT>;
const TEXT_ROWS: u32 = 8u;

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
// Tiles of at most 16 tokens: M's columns in slot order q = r * TILE + c (zero for slots outside an edge
// tile), so the tile's rows are addressed without divisions and held in registers at constant indices.
var<workgroup> mw: array<f32, KMAX * NMAX>;
#else
var<workgroup> mw: array<f32, KPAD * NMAX>;   // M, zero rows up to KPAD
#endif

// Text rows pass through unchanged (workgroups past the tile rows).
fn copyText(wid: vec3<u32>, nx: u32, li: u32) {
  let id = (wid.y - p.tilesH) * nx + wid.x;
  let cv = (id % p.chunks) * WG + li;
  let r0 = (id / p.chunks) * TEXT_ROWS;
  if (cv >= p.CV) { return; }
  for (var r = r0; r < min(r0 + TEXT_ROWS, p.textRows); r++) {
    y[(wid.z * p.outRows + r) * p.CV + cv] = x[(wid.z * p.inRows + r) * p.CV + cv];
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
  let xb = b * p.inRows + p.textRows;   // row of image token 0 of batch element b
  let yb = b * p.outRows + p.textRows;  // row of merged token 0
#if PRELOAD
  for (var q = li; q < KMAX * NMAX; q += WG) {
    let j = q / NMAX;
    let r = (q % NMAX) / TILE;
    let c = q % TILE;
    var v = 0.0;
    if (r < g.h && c < g.w) { v = m[base + j * NMAX + r * g.w + c]; }
    mw[q] = v;
  }
  workgroupBarrier();
  let cv = chunk * WG + li;
  if (cv >= p.CV) { return; }
  // All the tile's loads issued back to back, then one dot product per merged token.
  var xs = array<VF, NMAX>();
  for (var r = 0u; r < TILE; r++) {
    if (r < g.h) {
      let row = (xb + (g.row0 + r) * p.W + g.col0) * p.CV + cv;
      for (var c = 0u; c < TILE; c++) {
        if (c < g.w) { xs[r * TILE + c] = VF(x[row + c * p.CV]); }
      }
    }
  }
  for (var j = 0u; j < KMAX; j++) {
    var acc = VF();
    for (var q = 0u; q < NMAX; q++) { acc += mw[j * NMAX + q] * xs[q]; }
    if (j < g.k) { y[(yb + g.offset + j) * p.CV + cv] = VT(acc); }
  }
#else
  for (var q = li; q < KPAD * NMAX; q += WG) {
    var v = 0.0;
    if (q < KMAX * NMAX) { v = m[base + q]; }
    mw[q] = v;
  }
  workgroupBarrier();
  let cv = chunk * WG + li;
  if (cv >= p.CV) { return; }
  for (var j0 = 0u; j0 < g.k; j0 += KB) {
    var acc = array<VF, KB>();
    for (var i = 0u; i < g.n; i++) {
      let xv = VF(x[(xb + rasterOf(g, i)) * p.CV + cv]);
      for (var jj = 0u; jj < KB; jj++) { acc[jj] += mw[(j0 + jj) * NMAX + i] * xv; }
    }
    for (var jj = 0u; jj < KB; jj++) {
      if (j0 + jj < g.k) { y[(yb + g.offset + j0 + jj) * p.CV + cv] = VT(acc[jj]); }
    }
  }
#endif
}
