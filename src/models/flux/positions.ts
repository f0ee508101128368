// Rotary-embedding tables for one set of position ids, on the device. Build once per image size and
// reuse across sampling steps: the tables cost B * L * head_dim / 2 cos/sin evaluations on the host.
import type { Backend } from '../../backend.js';
import { buildRopeTable } from '../../cpu/rope.js';
import type { Tensor } from '../../tensor.js';
import { type FluxConfig, headDim } from './config.js';
import { gridFromImageIds, imageIds, textIds } from './ids.js';

export interface PositionIds {
  /** f32 [batch, imageTokens, 3] image ids (any values; raster (0, row, col) ids also give the grid). */
  imgIds: ArrayLike<number>;
  /** f32 [batch, textTokens, 3] text ids (zeros in Flux). */
  txtIds: ArrayLike<number>;
  batch: number;
  imageTokens: number;
  textTokens: number;
}

/**
 * RoPE (cos, sin) tables f32 [B, L, head_dim / 2, 2] for the text tokens, the image tokens and the
 * joint sequence [text | image] (the official order), built in f64 from the ids like EmbedND.
 */
export class FluxPositions {
  readonly batch: number;
  readonly textTokens: number;
  readonly imageTokens: number;
  /** The image token grid (rows, cols) when the image ids are raster (0, row, col) ids, else null. */
  readonly grid: readonly [number, number] | null;
  readonly txt: Tensor;
  readonly img: Tensor;
  readonly joint: Tensor;

  private constructor(
    readonly be: Backend,
    p: PositionIds,
    grid: [number, number] | null,
    tables: { txt: Tensor; img: Tensor; joint: Tensor },
  ) {
    this.batch = p.batch;
    this.textTokens = p.textTokens;
    this.imageTokens = p.imageTokens;
    this.grid = grid;
    this.txt = tables.txt;
    this.img = tables.img;
    this.joint = tables.joint;
  }

  static fromIds(be: Backend, config: FluxConfig, p: PositionIds): FluxPositions {
    const { batch: B, imageTokens: N, textTokens: T } = p;
    for (const [what, v] of [
      ['batch', B],
      ['imageTokens', N],
      ['textTokens', T],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`positions: ${what} must be a positive integer, got ${v}`);
    }
    if (p.imgIds.length !== B * N * 3)
      throw new RangeError(`positions: image ids have ${p.imgIds.length} values, expected [${B}, ${N}, 3]`);
    if (p.txtIds.length !== B * T * 3)
      throw new RangeError(`positions: text ids have ${p.txtIds.length} values, expected [${B}, ${T}, 3]`);
    if (config.axes_dim.length !== 3)
      throw new RangeError(`positions: ids have 3 axes but config.axes_dim has ${config.axes_dim.length}`);
    const P = headDim(config) / 2;
    const table = (ids: ArrayLike<number>, L: number) =>
      buildRopeTable(ids, B, L, config.axes_dim, config.theta);
    const txt = table(p.txtIds, T);
    const img = table(p.imgIds, N);
    // joint rows per batch element: the text rows, then the image rows
    const joint = new Float32Array(B * (T + N) * P * 2);
    for (let b = 0; b < B; b++) {
      joint.set(txt.subarray(b * T * P * 2, (b + 1) * T * P * 2), b * (T + N) * P * 2);
      joint.set(img.subarray(b * N * P * 2, (b + 1) * N * P * 2), (b * (T + N) + T) * P * 2);
    }
    const tables = {
      txt: be.keep(be.tensor(txt, [B, T, P, 2])),
      img: be.keep(be.tensor(img, [B, N, P, 2])),
      joint: be.keep(be.tensor(joint, [B, T + N, P, 2])),
    };
    return new FluxPositions(be, p, gridFromImageIds(p.imgIds, B, N), tables);
  }

  /** The positions prepare() gives a rows x cols token grid (a 16·rows x 16·cols pixel image) and `textTokens` text tokens. */
  static grid(
    be: Backend,
    config: FluxConfig,
    o: { batch: number; rows: number; cols: number; textTokens: number },
  ): FluxPositions {
    return FluxPositions.fromIds(be, config, {
      imgIds: imageIds(o.batch, o.rows, o.cols),
      txtIds: textIds(o.batch, o.textTokens),
      batch: o.batch,
      imageTokens: o.rows * o.cols,
      textTokens: o.textTokens,
    });
  }

  dispose(): void {
    this.txt.dispose();
    this.img.dispose();
    this.joint.dispose();
  }
}
