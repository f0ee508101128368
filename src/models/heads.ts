// Splitting a fused projection [B, L, 3·H·D] (q | k | v, heads interleaved per token) into q, k, v in
// the [B, H, L, D] layout attention takes: one row gather each, with index tables cached per (B, L).
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';

export class HeadSplitter {
  private tables = new Map<string, Tensor>();

  constructor(
    readonly be: Backend,
    readonly heads: number,
    readonly headDim: number,
  ) {}

  /** u32 [B, H·L]: row h·L + l of part s (0 q, 1 k, 2 v) is row l·3H + s·H + h of [B, L·3H, D]. */
  private table(B: number, L: number, s: number): Tensor {
    const key = `${B}x${L}:${s}`;
    let t = this.tables.get(key);
    if (!t) {
      const H = this.heads;
      const idx = new Uint32Array(B * H * L);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let l = 0; l < L; l++) idx[(b * H + h) * L + l] = l * 3 * H + s * H + h;
      t = this.be.keep(this.be.tensor(idx, [B, H * L], 'u32'));
      this.tables.set(key, t);
    }
    return t;
  }

  split(qkv: Tensor): { q: Tensor; k: Tensor; v: Tensor } {
    const [B, L] = qkv.shape as [number, number, number];
    const H = this.heads;
    const D = this.headDim;
    const rows = this.be.reshape(qkv, [B, L * 3 * H, D]);
    const part = (s: number) => this.be.reshape(this.be.gather(rows, this.table(B, L, s)), [B, H, L, D]);
    return { q: part(0), k: part(1), v: part(2) };
  }

  dispose(): void {
    for (const t of this.tables.values()) t.dispose();
    this.tables.clear();
  }
}
