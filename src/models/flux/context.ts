// What every block of one forward pass needs: the backend, the config, silu(vec), the RoPE tables (in
// the pattern's image order when one is active), the hooks and the index tables for splitting heads.
import type { Backend } from '../../backend.js';
import type { AttentionPattern, ForwardInfo, TokenReducer } from '../../merge/hooks.js';
import type { Tensor } from '../../tensor.js';
import type { FluxConfig } from './config.js';

export const LN_EPS = 1e-6;
export const QK_NORM_EPS = 1e-6;

export interface ForwardContext {
  be: Backend;
  config: FluxConfig;
  info: ForwardInfo;
  reducer: TokenReducer;
  pattern: AttentionPattern | null;
  /** silu(vec) [B, hidden]: the input of every modulation. */
  vecAct: Tensor;
  /** RoPE tables f32 [B, L, head_dim/2, 2] for the text, image and joint [text | image] tokens. */
  tables: { txt: Tensor; img: Tensor; joint: Tensor };
  heads: HeadIndex;
}

/**
 * Row-gather indices that turn a projection output [B, L, S·D] (S head-sized slots per token: q heads,
 * k heads, v heads, ...) into one of its slots' heads as [B, H, L, D] (the "B L (K H D) -> K B H L D"
 * rearrange). Built on the host once per (batch, length, slot) and kept across forward passes.
 */
export class HeadIndex {
  private cache = new Map<string, Tensor>();

  constructor(
    readonly be: Backend,
    readonly heads: number,
    /** Most tables kept; the oldest goes first. */
    readonly capacity = 48,
  ) {}

  /** u32 [B, H·L]: entry h·L + l = l·S + first + h. */
  get(batch: number, length: number, slots: number, first: number): Tensor {
    const key = `${batch}:${length}:${slots}:${first}`;
    let t = this.cache.get(key);
    if (t) {
      this.cache.delete(key); // re-insert: most recently used last
      this.cache.set(key, t);
      return t;
    }
    const H = this.heads;
    const one = new Uint32Array(H * length);
    for (let h = 0; h < H; h++) for (let l = 0; l < length; l++) one[h * length + l] = l * slots + first + h;
    const all = new Uint32Array(batch * H * length);
    for (let b = 0; b < batch; b++) all.set(one, b * H * length);
    t = this.be.keep(this.be.tensor(all, [batch, H * length], 'u32'));
    this.cache.set(key, t);
    if (this.cache.size > this.capacity) {
      const [oldKey, old] = this.cache.entries().next().value as [string, Tensor];
      this.cache.delete(oldKey);
      old.dispose();
    }
    return t;
  }

  dispose(): void {
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
  }
}
