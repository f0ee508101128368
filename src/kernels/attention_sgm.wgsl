// Flash-attention forward on tensor cores through subgroup matrices (f16 in, f32 softmax and
// accumulation, f16 out). q [B, H, Lq, D], k/v [B, H, Lk, D] -> out [B, Lq, H*D]; D = 64 or 128.
// With RANGES, each query block attends only to its listed half-open key ranges. With OUTER as well,
// the workgroup streams the keys of a coarser table (one entry per BQ query rows, the union of its
// query blocks' ranges) and each subgroup masks the keys outside its own block's ranges: query blocks
// shorter than BQ then still get full-size workgroups (see docs/kernels/attention.md, version 3).
//
// A workgroup owns BQ = 16*SG query rows (16 per subgroup) of one (batch, head) and streams keys
// in blocks of 32 through workgroup memory:
//   S = Q·Kᵀ on tensor cores (Q lives in registers, Kᵀ is a column-major load of the K tile),
//   S (f32) -> the subgroup's own slot of workgroup memory -> online softmax by the threads
//   (2 lanes per query row, f32, base-2 exponent), P written as f16 over the same slot,
//   O += P·V on tensor cores.
// Result matrices cannot be scaled per row, so the running row maximum is lazy: it only moves when a
// block exceeds it by more than THRESH (log2 units; P <= 2^THRESH stays in f16 range), and then the
// O accumulators go through workgroup memory to be rescaled. The decision is made for the whole
// workgroup (workgroupUniformLoad) because it needs barriers. This is exact, not an approximation.
// The next K/V block is fetched into registers during the softmax and stored during the same
// interval; V is double-buffered so the store cannot race the previous block's P·V.
// Matrix offsets and strides on an array<vec4<u32>> count vec4 elements (8 f16 or 4 f32).
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);

alias L = subgroup_matrix_left<f16, 16, 16>;
alias R = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

const D: u32 = {{D}}u;
const SG: u32 = {{SG}}u;
const THRESH: f32 = {{THRESH}};
const BQ: u32 = SG * 16u;
const BKV: u32 = 32u;
const THREADS: u32 = SG * 32u;
const DV: u32 = D / 8u; // vec4 per row of q/k/v
const LDK: u32 = DV + 1u; // padded K/V/Q tile row (D + 8 f16), in vec4
const KV_VEC: u32 = BKV * LDK;
const K_OFF: u32 = 0u;
const V_OFF: u32 = KV_VEC; // two V buffers
const S_OFF: u32 = 3u * KV_VEC;
const S_LD: u32 = 9u; // S row: 32 f32 + 4 pad, in vec4
const P_LD: u32 = 5u; // P row: 32 f16 + 8 pad, in vec4
const S_VEC: u32 = 16u * S_LD; // one subgroup's slot
const SMEM_VEC: u32 = max(S_OFF + SG * S_VEC, BQ * LDK);
const KV_PER: u32 = 2u * BKV * DV / THREADS; // K and V chunks each thread fetches per block
// Stands in for -infinity (masked keys, no maximum yet): WGSL implementations may assume floats are
// finite, so no infinity is ever produced; 2^(NEG_BIG - anything real) underflows to 0.
const NEG_BIG: f32 = -1.0e30;

struct Params {
  H: u32,
  Lq: u32,
  Lk: u32,
  scaleLog2: f32, // softmax scale * log2(e)
  blockSize: u32,
  maxRanges: u32,
  outerBlock: u32,
  outerMaxRanges: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> v: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<u32>>;
#if RANGES
@group(0) @binding(5) var<storage, read> ranges: array<u32>;
#endif
#if OUTER
@group(0) @binding(6) var<storage, read> outerRanges: array<u32>;
const FINE_R: u32 = {{FINE_R}}u; // = p.maxRanges, fixed so the ranges live in registers
#endif

var<workgroup> sm: array<vec4<u32>, SMEM_VEC>;
var<workgroup> rescaleFlag: u32;

// Key range r that this workgroup streams (its query block's, or with OUTER its outer block's),
// clamped to [0, Lk]. Past the table's R ranges (also when R = 0: the first call asks for range 0
// before anything is known) an empty range, not a read.
fn keyRange(r: u32, q0: u32) -> vec2<u32> {
#if OUTER
  if (r >= p.outerMaxRanges) { return vec2<u32>(p.Lk, p.Lk); }
  let base = (q0 / p.outerBlock) * p.outerMaxRanges * 2u + 2u * r;
  return vec2<u32>(min(outerRanges[base], p.Lk), min(outerRanges[base + 1u], p.Lk));
#else
#if RANGES
  if (r >= p.maxRanges) { return vec2<u32>(p.Lk, p.Lk); }
  let base = (q0 / p.blockSize) * p.maxRanges * 2u + 2u * r;
  return vec2<u32>(min(ranges[base], p.Lk), min(ranges[base + 1u], p.Lk));
#else
  return vec2<u32>(0u, p.Lk);
#endif
#endif
}

fn rangeCount() -> u32 {
#if OUTER
  return p.outerMaxRanges;
#else
#if RANGES
  return p.maxRanges;
#else
  return 1u;
#endif
#endif
}

#if OUTER
// Whether key j lies in one of the (disjoint) ranges fr of this subgroup's own query block.
fn inFine(j: u32, fr: array<vec2<u32>, FINE_R>) -> bool {
  var ok = false;
  for (var r = 0u; r < FINE_R; r++) { ok = ok || (j >= fr[r].x && j < fr[r].y); }
  return ok;
}
#endif

// The first non-empty block at or after start k0 of range r0 (k0 may be past that range's end):
// (range, start, end); range == rangeCount() when none is left.
fn firstBlock(r0: u32, k0: u32, q0: u32) -> vec3<u32> {
  var r = r0;
  var cur = vec2<u32>(k0, keyRange(r0, q0).y);
  let n = rangeCount();
  loop {
    if (cur.x < cur.y || r >= n) { break; }
    r++;
    if (r < n) { cur = keyRange(r, q0); }
  }
  return vec3<u32>(r, cur);
}

// Chunk c of the K (c < BKV*DV) or V block starting at key k0 with nk valid keys; zeros past nk.
fn fetchKV(c: u32, kvBase: u32, k0: u32, nk: u32) -> vec4<u32> {
  let isV = c >= BKV * DV;
  let cc = select(c, c - BKV * DV, isV);
  let j = cc / DV;
  if (j >= nk) { return vec4<u32>(); }
  let idx = (kvBase + k0 + j) * DV + cc % DV;
  if (isV) { return v[idx]; }
  return k[idx];
}

fn storeKV(c: u32, vbuf: u32, val: vec4<u32>) {
  let isV = c >= BKV * DV;
  let cc = select(c, c - BKV * DV, isV);
  let dst = select(K_OFF, V_OFF + vbuf * KV_VEC, isV) + (cc / DV) * LDK + cc % DV;
  sm[dst] = val;
}

// Multiplies the 16 staged values of this lane (row lane/2, columns half*16 .. +16 of two result
// matrices side by side in the slot) by the row's factor.
fn scaleStaged(slot: u32, lane: u32, factor: f32) {
  let at = slot + (lane / 2u) * S_LD + (lane % 2u) * 4u;
  for (var g = 0u; g < 4u; g++) {
    sm[at + g] = bitcast<vec4<u32>>(bitcast<vec4<f32>>(sm[at + g]) * factor);
  }
}

// Scales this lane's 8 values of one result matrix staged at `st` (16 rows x 4 vec4) by its row's factor.
fn scaleStagedOne(st: u32, lane: u32, factor: f32) {
  let at = st + (lane / 2u) * 4u + (lane % 2u) * 2u;
  sm[at] = bitcast<vec4<u32>>(bitcast<vec4<f32>>(sm[at]) * factor);
  sm[at + 1u] = bitcast<vec4<u32>>(bitcast<vec4<f32>>(sm[at + 1u]) * factor);
}

// Writes this lane's 16 staged values (O columns dt*16 .. +16 of its row, dt = 2*pair + half) / l
// as f16.
fn writeStaged(slot: u32, lane: u32, pair: u32, inv: f32, row: u32, outRow: u32) {
  let half = lane % 2u;
  let at = slot + (lane / 2u) * S_LD + half * 4u;
  if (row < p.Lq) {
    for (var g = 0u; g < 2u; g++) {
      let a = bitcast<vec4<f32>>(sm[at + 2u * g]) * inv;
      let b = bitcast<vec4<f32>>(sm[at + 2u * g + 1u]) * inv;
      out[outRow + (2u * pair + half) * 2u + g] = vec4<u32>(
        bitcast<u32>(vec2<f16>(a.xy)),
        bitcast<u32>(vec2<f16>(a.zw)),
        bitcast<u32>(vec2<f16>(b.xy)),
        bitcast<u32>(vec2<f16>(b.zw)),
      );
    }
  }
}

@compute @workgroup_size(THREADS)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
  @builtin(subgroup_id) sg: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let bh = wid.y;
  let q0 = wid.x * BQ;
  let kvBase = bh * p.Lk;

  // Q tile through workgroup memory (rows past Lq are zeros), then into registers.
  for (var i = 0u; i < BQ * DV / THREADS; i++) {
    let c = i * THREADS + tid;
    let r = c / DV;
    var val = vec4<u32>();
    if (q0 + r < p.Lq) { val = q[(bh * p.Lq + q0 + r) * DV + c % DV]; }
    sm[r * LDK + c % DV] = val;
  }
  workgroupBarrier();
  let qOff = sg * 16u * LDK;
  let qa0 = subgroupMatrixLoad<L, row_major>(&sm, qOff, LDK);
  let qa1 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 2u, LDK);
  let qa2 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 4u, LDK);
  let qa3 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 6u, LDK);
#if D128
  let qa4 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 8u, LDK);
  let qa5 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 10u, LDK);
  let qa6 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 12u, LDK);
  let qa7 = subgroupMatrixLoad<L, row_major>(&sm, qOff + 14u, LDK);
#endif
  workgroupBarrier();

  var o0: Acc; var o1: Acc; var o2: Acc; var o3: Acc;
#if D128
  var o4: Acc; var o5: Acc; var o6: Acc; var o7: Acc;
#endif
  var m = NEG_BIG; // lazy row maximum (log2 units), shared by the row's two lanes
  var l = 0.0; // this lane's half of the row sum
  let half = lane % 2u;
  let slot = S_OFF + sg * S_VEC;
  let nRanges = rangeCount();
#if OUTER
  // This subgroup's 16 rows lie in one query block of the fine table (blockSize is a multiple of 16).
  var fr: array<vec2<u32>, FINE_R>;
  // (clamped: the last workgroup's rows past Lq read the last block's ranges and are never written)
  let fineBlock = min((q0 + sg * 16u) / p.blockSize, (p.Lq - 1u) / p.blockSize);
  let fineBase = fineBlock * p.maxRanges * 2u;
  for (var r = 0u; r < FINE_R; r++) {
    fr[r] = vec2<u32>(ranges[fineBase + 2u * r], ranges[fineBase + 2u * r + 1u]);
  }
#endif

  var blk = firstBlock(0u, keyRange(0u, q0).x, q0);
  if (blk.x < nRanges) {
    let nk = min(BKV, blk.z - blk.y);
    for (var i = 0u; i < KV_PER; i++) {
      let c = i * THREADS + tid;
      storeKV(c, 0u, fetchKV(c, kvBase, blk.y, nk));
    }
  }
  workgroupBarrier();

  var vbuf = 0u;
  var started = false;
  while (blk.x < nRanges) {
    let k0 = blk.y;
    let nk = min(BKV, blk.z - k0);
    let nxt = firstBlock(blk.x, k0 + BKV, q0);
    let hasNext = nxt.x < nRanges;

    // S = Q·Kᵀ for 16 rows x 32 keys.
    // The first product defines s0/s1 afresh instead of accumulating into a zero-initialised `var`:
    // with `var s0: Acc;` inside the loop the scores accumulated across key blocks on the H100
    // (the variable was not re-zeroed per iteration; docs/kernels/attention.md, version 1).
    var s0 = subgroupMatrixMultiply<f32>(qa0, subgroupMatrixLoad<R, col_major>(&sm, K_OFF, LDK));
    var s1 = subgroupMatrixMultiply<f32>(qa0, subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK, LDK));
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 2u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 2u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa1, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa1, kb1, s1);
    }
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 4u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 4u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa2, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa2, kb1, s1);
    }
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 6u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 6u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa3, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa3, kb1, s1);
    }
#if D128
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 8u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 8u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa4, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa4, kb1, s1);
    }
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 10u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 10u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa5, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa5, kb1, s1);
    }
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 12u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 12u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa6, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa6, kb1, s1);
    }
    {
      let kb0 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 14u, LDK);
      let kb1 = subgroupMatrixLoad<R, col_major>(&sm, K_OFF + 16u * LDK + 14u, LDK);
      s0 = subgroupMatrixMultiplyAccumulate(qa7, kb0, s0);
      s1 = subgroupMatrixMultiplyAccumulate(qa7, kb1, s1);
    }
#endif
    subgroupMatrixStore<row_major>(&sm, slot, s0, S_LD);
    subgroupMatrixStore<row_major>(&sm, slot + 4u, s1, S_LD);
    workgroupBarrier(); // S visible to the lanes; every subgroup is done with the K tile

    // Next K/V block into registers; its latency hides behind the softmax.
    var kv: array<vec4<u32>, KV_PER>;
    if (hasNext) {
      let nk1 = min(BKV, nxt.z - nxt.y);
      for (var i = 0u; i < KV_PER; i++) {
        kv[i] = fetchKV(i * THREADS + tid, kvBase, nxt.y, nk1);
      }
    }

    // This lane's 16 scores: row lane/2, keys half*16 .. half*16+16.
    let at = slot + (lane / 2u) * S_LD + half * 4u;
    var t: array<f32, 16>;
    var bmax = NEG_BIG;
#if OUTER
    var okBits = 0u; // bit u: this lane's key u is in the block and in its rows' own ranges
#endif
    for (var g = 0u; g < 4u; g++) {
      let s4 = bitcast<vec4<f32>>(sm[at + g]) * p.scaleLog2;
      for (var u = 0u; u < 4u; u++) {
        let j = half * 16u + g * 4u + u;
#if OUTER
        let ok = j < nk && inFine(k0 + j, fr);
        okBits |= select(0u, 1u << (g * 4u + u), ok);
#else
        let ok = j < nk;
#endif
        let val = select(NEG_BIG, s4[u], ok);
        t[g * 4u + u] = val;
        bmax = max(bmax, val);
      }
    }
    bmax = max(bmax, subgroupShuffleXor(bmax, 1u));
    let moves = bmax > m + THRESH;
    if (moves) { rescaleFlag = 1u; }
    var factor = 1.0;
#if !LATE
    let anyMoves = workgroupUniformLoad(&rescaleFlag); // also: all lanes have read their S
    if (moves) {
      factor = exp2(m - bmax);
      m = bmax;
      l *= factor;
    }
    if (anyMoves != 0u && started) {
      // Two O matrices at a time through the slot (the scores are already in registers).
      subgroupMatrixStore<row_major>(&sm, slot, o0, S_LD);
      subgroupMatrixStore<row_major>(&sm, slot + 4u, o1, S_LD);
      workgroupBarrier();
      scaleStaged(slot, lane, factor);
      workgroupBarrier();
      o0 = subgroupMatrixLoad<Acc, row_major>(&sm, slot, S_LD);
      o1 = subgroupMatrixLoad<Acc, row_major>(&sm, slot + 4u, S_LD);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, slot, o2, S_LD);
      subgroupMatrixStore<row_major>(&sm, slot + 4u, o3, S_LD);
      workgroupBarrier();
      scaleStaged(slot, lane, factor);
      workgroupBarrier();
      o2 = subgroupMatrixLoad<Acc, row_major>(&sm, slot, S_LD);
      o3 = subgroupMatrixLoad<Acc, row_major>(&sm, slot + 4u, S_LD);
      workgroupBarrier();
#if D128
      subgroupMatrixStore<row_major>(&sm, slot, o4, S_LD);
      subgroupMatrixStore<row_major>(&sm, slot + 4u, o5, S_LD);
      workgroupBarrier();
      scaleStaged(slot, lane, factor);
      workgroupBarrier();
      o4 = subgroupMatrixLoad<Acc, row_major>(&sm, slot, S_LD);
      o5 = subgroupMatrixLoad<Acc, row_major>(&sm, slot + 4u, S_LD);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, slot, o6, S_LD);
      subgroupMatrixStore<row_major>(&sm, slot + 4u, o7, S_LD);
      workgroupBarrier();
      scaleStaged(slot, lane, factor);
      workgroupBarrier();
      o6 = subgroupMatrixLoad<Acc, row_major>(&sm, slot, S_LD);
      o7 = subgroupMatrixLoad<Acc, row_major>(&sm, slot + 4u, S_LD);
      workgroupBarrier();
#endif
    }
#else
    // LATE: the decision rides on the barrier that publishes P; O is rescaled after it, one matrix
    // at a time in the part of the slot that P does not use (16 rows x 4 vec4 after P's 80).
    if (moves) {
      factor = exp2(m - bmax);
      m = bmax;
      l *= factor;
    }
#endif

    // P = 2^(t - m) as f16 over the slot (row stride P_LD).
    var ph: array<u32, 8>;
    for (var u = 0u; u < 8u; u++) {
#if OUTER
      // By mask, not by value: a row with no key yet has m = NEG_BIG and 2^(t - m) = 1 for masked t.
      let a = select(0.0, exp2(t[2u * u] - m), ((okBits >> (2u * u)) & 1u) != 0u);
      let b = select(0.0, exp2(t[2u * u + 1u] - m), ((okBits >> (2u * u + 1u)) & 1u) != 0u);
#else
      let j = half * 16u + 2u * u;
      let a = select(0.0, exp2(t[2u * u] - m), j < nk);
      let b = select(0.0, exp2(t[2u * u + 1u] - m), j + 1u < nk);
#endif
      l += a + b;
      ph[u] = bitcast<u32>(vec2<f16>(f16(a), f16(b)));
    }
    let pat = slot + (lane / 2u) * P_LD + half * 2u;
    sm[pat] = vec4<u32>(ph[0], ph[1], ph[2], ph[3]);
    sm[pat + 1u] = vec4<u32>(ph[4], ph[5], ph[6], ph[7]);

    if (hasNext) {
      for (var i = 0u; i < KV_PER; i++) { storeKV(i * THREADS + tid, 1u - vbuf, kv[i]); }
    }
#if !LATE
    workgroupBarrier(); // P, the next K and the next V are visible
    if (tid == 0u) { rescaleFlag = 0u; }
#else
    let anyMoves = workgroupUniformLoad(&rescaleFlag); // P, the next K and the next V are visible
    if (tid == 0u) { rescaleFlag = 0u; }
    if (anyMoves != 0u && started) {
      let st = slot + 16u * P_LD;
      subgroupMatrixStore<row_major>(&sm, st, o0, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o0 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, st, o1, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o1 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, st, o2, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o2 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, st, o3, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o3 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
#if D128
      subgroupMatrixStore<row_major>(&sm, st, o4, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o4 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, st, o5, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o5 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, st, o6, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o6 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&sm, st, o7, 4u);
      workgroupBarrier();
      scaleStagedOne(st, lane, factor);
      workgroupBarrier();
      o7 = subgroupMatrixLoad<Acc, row_major>(&sm, st, 4u);
      workgroupBarrier();
#endif
    }
#endif

    // O += P·V
    let pa0 = subgroupMatrixLoad<L, row_major>(&sm, slot, P_LD);
    let pa1 = subgroupMatrixLoad<L, row_major>(&sm, slot + 2u, P_LD);
    let vo = V_OFF + vbuf * KV_VEC;
    o0 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo, LDK), o0);
    o0 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK, LDK), o0);
    o1 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 2u, LDK), o1);
    o1 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 2u, LDK), o1);
    o2 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 4u, LDK), o2);
    o2 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 4u, LDK), o2);
    o3 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 6u, LDK), o3);
    o3 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 6u, LDK), o3);
#if D128
    o4 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 8u, LDK), o4);
    o4 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 8u, LDK), o4);
    o5 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 10u, LDK), o5);
    o5 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 10u, LDK), o5);
    o6 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 12u, LDK), o6);
    o6 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 12u, LDK), o6);
    o7 = subgroupMatrixMultiplyAccumulate(pa0, subgroupMatrixLoad<R, row_major>(&sm, vo + 14u, LDK), o7);
    o7 = subgroupMatrixMultiplyAccumulate(pa1, subgroupMatrixLoad<R, row_major>(&sm, vo + 16u * LDK + 14u, LDK), o7);
#endif
    started = true;
    vbuf = 1u - vbuf;
    blk = nxt;
  }

  // out = O / l (rows without any key give zeros).
  let lsum = l + subgroupShuffleXor(l, 1u);
  let inv = select(0.0, 1.0 / lsum, lsum > 0.0);
  let row = q0 + sg * 16u + lane / 2u;
  let outRow = ((bh / p.H) * p.Lq + row) * p.H * DV + (bh % p.H) * DV;
  workgroupBarrier(); // the last P·V has read its slot
  subgroupMatrixStore<row_major>(&sm, slot, o0, S_LD);
  subgroupMatrixStore<row_major>(&sm, slot + 4u, o1, S_LD);
  workgroupBarrier();
  writeStaged(slot, lane, 0u, inv, row, outRow);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sm, slot, o2, S_LD);
  subgroupMatrixStore<row_major>(&sm, slot + 4u, o3, S_LD);
  workgroupBarrier();
  writeStaged(slot, lane, 1u, inv, row, outRow);
#if D128
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sm, slot, o4, S_LD);
  subgroupMatrixStore<row_major>(&sm, slot + 4u, o5, S_LD);
  workgroupBarrier();
  writeStaged(slot, lane, 2u, inv, row, outRow);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&sm, slot, o6, S_LD);
  subgroupMatrixStore<row_major>(&sm, slot + 4u, o7, S_LD);
  workgroupBarrier();
  writeStaged(slot, lane, 3u, inv, row, outRow);
#endif
}
