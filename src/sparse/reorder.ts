// Moving image tokens into a pattern's order and back: what the model does once per forward pass.
// new[p] = old[order[p]] (a gather with `order`, not with its inverse), and back with the inverse.
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';
import { inversePermutation } from './hilbert.js';

export class ImageReorder {
  /** u32 [B, N]: order repeated per batch element. */
  private readonly forward: Tensor;
  /** u32 [B, N]: the inverse permutation. */
  private readonly inverse: Tensor;
  readonly tokens: number;

  constructor(
    private readonly be: Backend,
    order: Uint32Array,
    readonly batch: number,
  ) {
    const inv = inversePermutation(order);
    const N = order.length;
    const fwd = new Uint32Array(batch * N);
    const back = new Uint32Array(batch * N);
    for (let b = 0; b < batch; b++) {
      fwd.set(order, b * N);
      back.set(inv, b * N);
    }
    this.tokens = N;
    this.forward = be.keep(be.tensor(fwd, [batch, N], 'u32'));
    this.inverse = be.keep(be.tensor(back, [batch, N], 'u32'));
  }

  private check(x: Tensor, what: string): void {
    if (x.rank !== 3 || x.dim(0) !== this.batch || x.dim(1) !== this.tokens) {
      throw new RangeError(`ImageReorder.${what}(): expected [${this.batch}, ${this.tokens}, C], got ${x}`);
    }
  }

  /** Image tokens [B, N, C] from raster order to the pattern's order (after the image embedding). */
  toPatternOrder(x: Tensor): Tensor {
    this.check(x, 'toPatternOrder');
    return this.be.gather(x, this.forward);
  }

  /** Image tokens [B, N, C] from the pattern's order back to raster order (before the output head). */
  toRasterOrder(x: Tensor): Tensor {
    this.check(x, 'toRasterOrder');
    return this.be.gather(x, this.inverse);
  }

  /**
   * A RoPE table [B, textTokens + N, P, 2] (text rows first) with its image rows in the pattern's order,
   * so every token keeps its true position.
   */
  ropeTable(table: Tensor, textTokens: number): Tensor {
    const [B, L, P, two] = table.shape as [number, number, number, number];
    if (table.rank !== 4 || two !== 2 || B !== this.batch || L !== textTokens + this.tokens) {
      throw new RangeError(
        `ImageReorder.ropeTable(): expected [${this.batch}, ${textTokens} + ${this.tokens}, P, 2], got ${table}`,
      );
    }
    return this.be.tidy(() => {
      const flat = this.be.reshape(table, [B, L, P * 2]);
      const [txt, img] = this.be.split(flat, 1, [textTokens, this.tokens]);
      const out = this.be.concat([txt!, this.be.gather(img!, this.forward)], 1);
      return this.be.reshape(out, [B, L, P, 2]);
    });
  }

  dispose(): void {
    this.forward.dispose();
    this.inverse.dispose();
  }
}
