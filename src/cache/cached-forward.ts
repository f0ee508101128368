// The Flux forward with a step cache (FluxModel.forwardAsync): the embeddings, the cache's probe (the
// first double-stream block, or its modulated image input), a readback of the cache's metric (a few
// floats), the decision per image, then the remaining blocks for the images that compute and
// base + cached residual for those that skip, and final_layer (always: it needs this step's vec).
//
// Composition (pinned by test/cache/*.test.ts):
//   - token reducers get beginForward / endForward at every step; on a step where every image skips, no
//     block after the probe runs, so no reducer plan is made or refreshed from cached values;
//   - attention patterns: the image order is applied before the blocks, residuals are stored and added
//     in that order, the output is restored to raster order as at a full step; a new order invalidates
//     the cache (that step computes);
//   - with every image computing, the launches are those of forward() plus the probe's metric, so a
//     threshold of 0 (or an interval of 1) gives forward()'s output exactly.
// Every phase runs in its own tidy(); what crosses the readback is kept and freed here.
import type { Backend } from '../backend.js';
import {
  type EmbeddedInputs,
  embeddedState,
  type FluxInputs,
  type FluxModel,
  type ForwardOptions,
} from '../models/flux/model.js';
import { modulated, modulation } from '../models/flux/modulation.js';
import type { Tensor } from '../tensor.js';
import { selectRows, subtract } from './rows.js';

/** TeaCache's probe: modulate(LN(img), shift1, scale1) of double block 0 (before its qkv). */
function modulatedImageInput(model: FluxModel, e: EmbeddedInputs, img: Tensor): Tensor {
  model.params.enterBlock('double', 0);
  const first = model.params.tree.double_blocks[0]!;
  const [m] = modulation(e.ctx, first.img_mod.lin, 2);
  return modulated(e.ctx, img, m!);
}

/** A second handle on a tensor's storage: keeps it alive after the blocks free the first one. */
function view(be: Backend, t: Tensor): Tensor {
  return be.keep(be.reshape(t, t.shape));
}

export async function cachedForward(
  model: FluxModel,
  inputs: FluxInputs,
  options: ForwardOptions,
): Promise<Tensor> {
  const cache = options.cache!;
  const be = model.be;
  const c = model.config;
  if (cache.probe !== 'none' && model.params.tree.double_blocks.length === 0)
    throw new Error(`${cache.label}: its probe is the first double-stream block; this model has none`);
  const run = model.beginForward(inputs, options);
  const { info } = run;
  const B = info.batch;
  const N = info.grid[0] * info.grid[1];
  const Lt = info.textTokens;
  const rowGroups = options.cacheGroups ?? new Array<number>(B).fill(0);
  if (rowGroups.length !== B)
    throw new RangeError(`forwardAsync(): cacheGroups has ${rowGroups.length} entries for a batch of ${B}`);

  const held: Tensor[] = [];
  const hold = <T extends Tensor>(t: T): T => {
    held.push(be.keep(t));
    return t;
  };
  let started = false;
  let ok = false;
  try {
    const e = be.tidy(() => model.embed(inputs, run));
    for (const t of embeddedState(e)) hold(t);
    let img = hold(e.img);
    let txt = hold(e.txt);
    cache.beginStep({
      be,
      step: info.step,
      steps: info.steps,
      rowGroups,
      layoutKey: `${B}:${info.grid.join('x')}:${Lt}:${c.hidden_size}:${model.dtype}`,
      imageOrder: e.order?.raster ?? null,
      config: c,
    });
    started = true;

    let from = 0;
    let metric: Tensor | null = null;
    if (cache.probe === 'first-block') {
      const input = hold(view(be, img));
      ({ img, txt } = model.doubleBlocks(e, img, txt, 0, 1));
      hold(img);
      hold(txt);
      metric = be.tidy(() => cache.measure(subtract(be, img, input)));
      from = 1;
    } else if (cache.probe === 'modulated-input') {
      metric = be.tidy(() => cache.measure(modulatedImageInput(model, e, img)));
    }
    // the residual is measured from the first block's output (First-Block-Cache) or the stack's input
    const base = hold(view(be, img));
    const rowSums = metric ? await hold(metric).read() : null;
    const full = cache.decide(rowSums);
    const rowsFull = rowGroups.map((g) => full[g]!);

    let out: Tensor;
    if (rowsFull.every(Boolean)) {
      out = be.tidy(() => {
        const d = model.doubleBlocks(e, img, txt, from);
        const x = model.singleBlocks(e, d.img, d.txt);
        cache.update(base, be.slice(x, 1, Lt, N));
        return model.finalLayer(e, x); // on the joint sequence, as forward() does
      });
    } else if (rowsFull.some(Boolean)) {
      out = be.tidy(() => {
        const reused = be.add(base, cache.skippedResidual()); // before update() replaces state
        const d = model.doubleBlocks(e, img, txt, from);
        const fresh = be.slice(model.singleBlocks(e, d.img, d.txt), 1, Lt, N);
        cache.update(base, fresh);
        return model.finalLayer(e, selectRows(be, fresh, reused, rowsFull));
      });
    } else {
      out = be.tidy(() => model.finalLayer(e, be.add(base, cache.skippedResidual())));
    }
    ok = true;
    return be.keep(out);
  } finally {
    for (const t of held) t.dispose();
    if (started) cache.endStep(ok);
    run.reducer.endForward();
  }
}
