// ToMA, one workgroup per (tile, batch element): the tile's n x n cosine similarity S in workgroup
// memory, then (SELECT) greedy facility-location destination selection and/or (WEIGHTS) the merge
// weights P = softmax over destinations of tau * S[dst, :] and M = P with rows scaled to sum to 1.
// x is read once. CPU reference: src/cpu/toma.ts; tile conventions: src/merge/tile-layout.ts.
//
// Gram matrix: tokens are staged through workgroup memory in channel chunks; thread (part, bi, bj)
// accumulates the 4x4 block (bi, bj) of x·xᵀ over the channels of its partition; partitions are summed
// at the end. Cosines are G_ij / (|x_i| |x_j|) with norms clamped to 1e-12 (zero tokens get S = 0).
#if F16
enable f16;
#endif
alias T = {{T}};
alias VT = {{VT}};   // VEC channels of T per load
alias VF = {{VF}};
const VEC: u32 = {{VEC}}u;
const WG: u32 = 256u;
const NMAX: u32 = {{NMAX}}u;   // tokens in a full tile
const KMAX: u32 = {{KMAX}}u;   // destinations in a full tile
const NP: u32 = {{NP}}u;       // NMAX rounded up to a multiple of 4 (row stride of S)
const NB: u32 = NP / 4u;
const NBP: u32 = NB * NB;      // 4x4 blocks of S
const PARTS: u32 = WG / NBP;   // channel partitions of the Gram accumulation
const SHM: u32 = {{SHM}}u;     // max(NP², 1024) floats (small: SwiftShader compiles big arrays slowly)
const NPS: u32 = NP + 1u;      // staging row stride (odd: no bank conflicts when transposing)
const CH: u32 = SHM / NPS / VEC * VEC; // channels per staged chunk (a multiple of VEC)
const PPT: u32 = (NP * NP + WG - 1u) / WG; // entries of S per thread in the final reduction
const NORM_EPS: f32 = 1e-12;

struct Params {
  H: u32, W: u32, S: u32, tilesW: u32, rowK: u32, k00: u32, k01: u32, k10: u32, k11: u32, tokens: u32,
  C: u32, tiles: u32, tau: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<VT>;
#if SELECT
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
#else
@group(0) @binding(2) var<storage, read> dst: array<u32>;
#endif
#if WEIGHTS
@group(0) @binding(3) var<storage, read_write> pOut: array<f32>;
@group(0) @binding(4) var<storage, read_write> mOut: array<f32>;
#endif

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

var<workgroup> shm: array<f32, SHM>;   // staging, then the Gram in 4x4 blocks, then S (row stride NP)
var<workgroup> rowOff: array<u32, NP>;   // x index of each token's row
var<workgroup> cover: array<f32, NP>;
var<workgroup> gain: array<f32, NP>;
var<workgroup> picks: array<u32, KMAX>;
#if WEIGHTS
var<workgroup> colMax: array<f32, NP>;
var<workgroup> colSum: array<f32, NP>;
var<workgroup> rowSum: array<f32, KMAX>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wid.y * p.tilesW + wid.x;
  let b = wid.z;
  let g = tileGeom(t);
  let N = p.H * p.W;

  // ---- Gram matrix over all channels ----
  let part = li / NBP;
  let bp = li % NBP;
  let bi = 4u * (bp / NB);
  let bj = 4u * (bp % NB);
  var acc: array<vec4<f32>, 4>;
  let CV = p.C / VEC;
  if (li < NP) { rowOff[li] = select(0u, (b * N + rasterOf(g, min(li, g.n - 1u))) * CV, li < g.n); }
  workgroupBarrier();
  for (var c0 = 0u; c0 < p.C; c0 += CH) {
    // Stage tokens x channels [c0, c0 + CH) transposed: shm[cc * NPS + i] (VEC channels per load).
    for (var e = li; e < (CH / VEC) * NP; e += WG) {
      let i = e / (CH / VEC);
      let cc = (e % (CH / VEC)) * VEC;
      var v = VF();
      if (i < g.n && c0 + cc < p.C) { v = VF(x[rowOff[i] + (c0 + cc) / VEC]); }
#if VEC4
      shm[cc * NPS + i] = v.x;
      shm[(cc + 1u) * NPS + i] = v.y;
      shm[(cc + 2u) * NPS + i] = v.z;
      shm[(cc + 3u) * NPS + i] = v.w;
#else
      shm[cc * NPS + i] = v;
#endif
    }
    workgroupBarrier();
    if (part < PARTS) {
      for (var cc = part; cc < CH; cc += PARTS) {
        let o = cc * NPS;
        let a = vec4<f32>(shm[o + bi], shm[o + bi + 1u], shm[o + bi + 2u], shm[o + bi + 3u]);
        let c = vec4<f32>(shm[o + bj], shm[o + bj + 1u], shm[o + bj + 2u], shm[o + bj + 3u]);
        acc[0] += a.x * c;
        acc[1] += a.y * c;
        acc[2] += a.z * c;
        acc[3] += a.w * c;
      }
    }
    workgroupBarrier();
  }
  // Sum the partitions' 4x4 blocks in place, one partition at a time (keeps workgroup memory at NP²).
  for (var pt = 0u; pt < PARTS; pt++) {
    if (part == pt) {
      for (var r = 0u; r < 4u; r++) {
        let o = bp * 16u + r * 4u;
        if (pt == 0u) {
          shm[o] = acc[r].x;
          shm[o + 1u] = acc[r].y;
          shm[o + 2u] = acc[r].z;
          shm[o + 3u] = acc[r].w;
        } else {
          shm[o] += acc[r].x;
          shm[o + 1u] += acc[r].y;
          shm[o + 2u] += acc[r].z;
          shm[o + 3u] += acc[r].w;
        }
      }
    }
    workgroupBarrier();
  }
  // Block layout -> row-major S.
  var gram: array<f32, PPT>;
  for (var w = 0u; w < PPT; w++) {
    let q = li + w * WG;
    if (q < NP * NP) {
      let i = q / NP;
      let j = q % NP;
      gram[w] = shm[((i / 4u) * NB + j / 4u) * 16u + (i % 4u) * 4u + j % 4u];
    }
  }
  workgroupBarrier();
  for (var w = 0u; w < PPT; w++) {
    let q = li + w * WG;
    if (q < NP * NP) { shm[q] = gram[w]; }
  }
  workgroupBarrier();
  for (var w = 0u; w < PPT; w++) {
    let q = li + w * WG;
    if (q < NP * NP) {
      let i = q / NP;
      let j = q % NP;
      let ni = max(sqrt(shm[i * NP + i]), NORM_EPS);
      let nj = max(sqrt(shm[j * NP + j]), NORM_EPS);
      gram[w] = gram[w] / (ni * nj);
    }
  }
  workgroupBarrier();
  for (var w = 0u; w < PPT; w++) {
    let q = li + w * WG;
    if (q < NP * NP) { shm[q] = gram[w]; }
  }
  workgroupBarrier();

#if SELECT
  // ---- greedy facility location (chosen tokens masked, first index wins ties) ----
  var chosen = vec2<u32>(0u, 0u);
  for (var step = 0u; step < g.k; step++) {
    if (li < g.n) {
      var s = 0.0;
      for (var j = 0u; j < g.n; j++) {
        let v = shm[li * NP + j];
        if (step == 0u) { s += v; } else { s += max(0.0, v - cover[j]); }
      }
      if ((chosen[li / 32u] & (1u << (li % 32u))) != 0u) { s = -1.0; }
      gain[li] = s;
    }
    workgroupBarrier();
    var best = 0u;
    var bestGain = gain[0];
    for (var i = 1u; i < g.n; i++) {
      let v = gain[i];
      if (v > bestGain) {
        bestGain = v;
        best = i;
      }
    }
    chosen[best / 32u] |= 1u << (best % 32u);
    if (li == 0u) { picks[step] = best; }
    if (li < g.n) {
      let v = shm[best * NP + li];
      cover[li] = select(max(cover[li], v), v, step == 0u);
    }
    workgroupBarrier();
  }
  if (li < g.k) { dst[b * p.tokens + g.offset + li] = rasterOf(g, picks[li]); }
#else
  if (li < g.k) {
    let r = dst[b * p.tokens + g.offset + li];
    let row = r / p.W - g.row0;
    let col = r % p.W - g.col0;
    picks[li] = min(row * g.w + col, g.n - 1u); // a destination outside the tile is a caller bug; stay in bounds
  }
  workgroupBarrier();
#endif

#if WEIGHTS
  // ---- P = softmax over destinations (per token column), M = P with unit row sums ----
  if (li < g.n) {
    var mx = -3.0e38;
    for (var j = 0u; j < g.k; j++) { mx = max(mx, p.tau * shm[picks[j] * NP + li]); }
    var sum = 0.0;
    for (var j = 0u; j < g.k; j++) { sum += exp(p.tau * shm[picks[j] * NP + li] - mx); }
    colMax[li] = mx;
    colSum[li] = sum;
  }
  workgroupBarrier();
  if (li < g.k) {
    var rs = 0.0;
    for (var i = 0u; i < g.n; i++) { rs += exp(p.tau * shm[picks[li] * NP + i] - colMax[i]) / colSum[i]; }
    rowSum[li] = rs;
  }
  workgroupBarrier();
  let base = (b * p.tiles + t) * KMAX * NMAX;
  for (var q = li; q < KMAX * NMAX; q += WG) {
    let j = q / NMAX;
    let i = q % NMAX;
    var pv = 0.0;
    var mv = 0.0;
    if (j < g.k && i < g.n) {
      pv = exp(p.tau * shm[picks[j] * NP + i] - colMax[i]) / colSum[i];
      mv = pv / rowSum[j];
    }
    pOut[base + q] = pv;
    mOut[base + q] = mv;
  }
#endif
}
