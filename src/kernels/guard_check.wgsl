// Guard mode (src/gpu/guard.ts): right after a launch or copy, verifies the canary words around up to
// 8 of the buffers it bound. Each buffer is bound here whole: FRONT canary words, the tensor's data,
// TAIL canary words (kernels see only the data). The first check of a submit that finds a changed word
// records itself; later checks of the same submit keep that record (a broken canary stays broken, and
// every later check of that buffer would fail too).
//
// state[0]: checks run so far in this submit (this check's sequence number, read before it advances)
// state[1]: ~code of the first failure, 0 for none; code = seq << 5 | slot << 1 | (1 after the data, 0 before)
// state[2]: changed canary words that failing check found
// state[3]: the furthest changed word after the data end, counted from 1 (0: none there)
// state[4]: the furthest changed word before the data start, counted from 1 (0: none there)
// One workgroup, so every thread reads the sequence number before thread 0 advances it.
const FRONT: u32 = {{FRONT}}u;
const TAIL: u32 = {{TAIL}}u;
const CANARY: u32 = {{CANARY}}u;
const SLOTS: u32 = {{SLOTS}}u;
const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> state: array<atomic<u32>, 5>;
@group(0) @binding(1) var<storage, read> b0: array<u32>;
#if S1
@group(0) @binding(2) var<storage, read> b1: array<u32>;
#endif
#if S2
@group(0) @binding(3) var<storage, read> b2: array<u32>;
#endif
#if S3
@group(0) @binding(4) var<storage, read> b3: array<u32>;
#endif
#if S4
@group(0) @binding(5) var<storage, read> b4: array<u32>;
#endif
#if S5
@group(0) @binding(6) var<storage, read> b5: array<u32>;
#endif
#if S6
@group(0) @binding(7) var<storage, read> b6: array<u32>;
#endif
#if S7
@group(0) @binding(8) var<storage, read> b7: array<u32>;
#endif

// Index of canary word i (i < FRONT: before the data; else after it) in a buffer of n words. Every
// guarded buffer has at least FRONT + TAIL words, so this stays in bounds.
fn at(n: u32, i: u32) -> u32 {
  return select(n - FRONT - TAIL + i, i, i < FRONT);
}

fn canary(slot: u32, i: u32) -> u32 {
  if (slot == 0u) { return b0[at(arrayLength(&b0), i)]; }
#if S1
  if (slot == 1u) { return b1[at(arrayLength(&b1), i)]; }
#endif
#if S2
  if (slot == 2u) { return b2[at(arrayLength(&b2), i)]; }
#endif
#if S3
  if (slot == 3u) { return b3[at(arrayLength(&b3), i)]; }
#endif
#if S4
  if (slot == 4u) { return b4[at(arrayLength(&b4), i)]; }
#endif
#if S5
  if (slot == 5u) { return b5[at(arrayLength(&b5), i)]; }
#endif
#if S6
  if (slot == 6u) { return b6[at(arrayLength(&b6), i)]; }
#endif
#if S7
  if (slot == 7u) { return b7[at(arrayLength(&b7), i)]; }
#endif
  return CANARY;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  let seq = atomicLoad(&state[0]);
  let prior = atomicLoad(&state[1]);
  storageBarrier(); // every thread has its sequence number before it advances
  if (li == 0u) { atomicAdd(&state[0], 1u); }
  if (prior != 0u) { return; } // an earlier check of this submit failed: keep its record
  for (var s = 0u; s < SLOTS; s++) {
    for (var i = li; i < FRONT + TAIL; i += WG) {
      if (canary(s, i) != CANARY) {
        let after = i >= FRONT;
        atomicMax(&state[1], ~((seq << 5u) | (s << 1u) | select(0u, 1u, after)));
        atomicAdd(&state[2], 1u);
        if (after) {
          atomicMax(&state[3], i - FRONT + 1u);
        } else {
          atomicMax(&state[4], FRONT - i);
        }
      }
    }
  }
}
