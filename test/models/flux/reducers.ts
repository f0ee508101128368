// Token reducers and attention patterns for tests, built from backend ops only.
import type { Backend } from '../../../src/backend.js';
import type {
  AttentionPattern,
  BlockPlan,
  ForwardInfo,
  KVReducePlan,
  TokenMergePlan,
  TokenReducer,
} from '../../../src/merge/hooks.js';
import type { Tensor } from '../../../src/tensor.js';

type Kind = 'double' | 'single';

/** merge, unmerge and rope are identities (the merge path with nothing merged) in the listed block kinds. */
export function identityMerge(kinds: Kind[]): TokenReducer {
  let n = 0;
  const plan = (): TokenMergePlan => ({
    kind: 'merge',
    tokens: n,
    merge: (x) => x,
    unmerge: (y) => y,
    rope: (t) => t,
  });
  return {
    name: 'identity-merge',
    beginForward(info) {
      n = info.grid[0] * info.grid[1];
    },
    block: (kind) => (kinds.includes(kind) ? plan() : null),
    endForward() {},
    dispose() {},
  };
}

/** downsampleKV is the identity, in every block. */
export const identityKV: TokenReducer = {
  name: 'identity-kv',
  beginForward() {},
  block: (): KVReducePlan => ({ kind: 'kv', downsampleKV: (k, v) => ({ k, v }) }),
  endForward() {},
  dispose() {},
};

function u32(be: Backend, B: number, one: number[]): Tensor {
  const all = new Uint32Array(B * one.length);
  for (let b = 0; b < B; b++) all.set(one, b * one.length);
  return be.keep(be.tensor(all, [B, one.length], 'u32'));
}

/**
 * A crude but real reducer: merging keeps the even image tokens, unmerging copies each kept token to its
 * odd neighbour; as a kv plan it keeps the even image keys/values. Double blocks merge and single blocks
 * reduce keys/values, or the other way round with `swap`.
 */
export function halfReducer(be: Backend, swap = false): TokenReducer {
  let info: ForwardInfo;
  const made: Tensor[] = [];
  let keep: Tensor | null = null;
  let spread: Tensor | null = null;
  let kvIdx: Tensor | null = null;
  const kept = () => Math.ceil((info.grid[0] * info.grid[1]) / 2);
  const merge = (): TokenMergePlan => ({
    kind: 'merge',
    tokens: kept(),
    merge: (x) => be.gather(x, keep!),
    unmerge: (y) => be.gather(y, spread!),
    rope: (t) => {
      const [B, N, P] = t.shape as [number, number, number];
      return be.reshape(be.gather(be.reshape(t, [B, N, P * 2]), keep!), [B, kept(), P, 2]);
    },
  });
  const kv = (): KVReducePlan => ({
    kind: 'kv',
    downsampleKV: (k, v) => {
      const [B, H, N, D] = k.shape as [number, number, number, number];
      if (!kvIdx) {
        const one: number[] = [];
        for (let h = 0; h < H; h++) for (let j = 0; j < kept(); j++) one.push(h * N + 2 * j);
        kvIdx = u32(be, B, one);
        made.push(kvIdx);
      }
      const down = (t: Tensor) =>
        be.reshape(be.gather(be.reshape(t, [B, H * N, D]), kvIdx!), [B, H, kept(), D]);
      return { k: down(k), v: down(v) };
    },
  });
  return {
    name: swap ? 'half-swapped' : 'half',
    beginForward(i) {
      info = i;
      const N = i.grid[0] * i.grid[1];
      keep = u32(
        be,
        i.batch,
        Array.from({ length: kept() }, (_, j) => 2 * j),
      );
      spread = u32(
        be,
        i.batch,
        Array.from({ length: N }, (_, t) => Math.floor(t / 2)),
      );
      made.push(keep, spread);
    },
    block(kind): BlockPlan {
      return (kind === 'double') !== swap ? merge() : kv();
    },
    endForward() {
      for (const t of made.splice(0)) t.dispose();
      keep = spread = kvIdx = null;
    },
    dispose() {},
  };
}

/**
 * Image tokens in reversed raster order; key ranges per query block of `blockSize`: all keys when
 * `local` is false, else the text keys plus the keys of the neighbouring query blocks.
 */
export function reversedPattern(be: Backend, blockSize: number, local: boolean): AttentionPattern {
  return {
    name: local ? 'reversed-local' : 'reversed-full',
    imageOrder(info) {
      const N = info.grid[0] * info.grid[1];
      return Uint32Array.from({ length: N }, (_, d) => N - 1 - d);
    },
    keyRanges(_kind, _index, info, imageTokens) {
      const L = info.textTokens + imageTokens;
      const nb = Math.ceil(L / blockSize);
      const r = new Uint32Array(nb * 2 * 2);
      for (let b = 0; b < nb; b++) {
        if (local) {
          // ranges must not overlap (a key in two ranges would count twice)
          const Lt = info.textTokens;
          r.set([0, Lt, Math.max(Lt, (b - 1) * blockSize), Math.min(L, (b + 2) * blockSize)], b * 4);
        } else {
          r.set([0, L, 0, 0], b * 4);
        }
      }
      return { blockSize, ranges: be.tensor(r, [nb, 2, 2], 'u32') };
    },
    dispose() {},
  };
}
