// Methods by name for the SDXL pipeline (`--method`, the library's `method`): what each makes of the
// UNet's token-reduction hooks (src/merge/hooks.ts, the self-attention input of every transformer
// block). Dense runs the UNet as it is; ToMA, ToMeSD and ToDo get a UNet reducer per run
// (createUnetReducer: the UNet defaults of src/merge/options.ts — levels, scope, every step — with the
// ratio, tile and schedule given). HilbertA reorders FLUX's joint attention and has no UNet form.
import type { CacheSpec } from '../cache/spec.js';
import { UnetForaCache } from '../cache/unet-fora.js';
import { resolveUnetReducerOptions } from '../merge/options.js';
import { createUnetReducer } from '../merge/reducers.js';
import type { MethodName, MethodOptions } from './methods.js';
import type { SdxlPipelineMethod } from './sdxl-pipeline.js';

/** Methods the SDXL pipeline runs. */
export const SDXL_METHODS: readonly MethodName[] = ['dense', 'toma', 'tomesd', 'todo'];

export class SdxlMethodError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdxlMethodError';
  }
}

/**
 * The pipeline method for a name and its options (ratio, tile, levels, ...; unused by dense), with a step
 * cache: `fora:N` only (src/cache/unet-fora.ts says why the others have no UNet form).
 */
export function sdxlMethod(
  name: MethodName,
  options: MethodOptions = {},
  cache: CacheSpec | null = null,
): SdxlPipelineMethod {
  if (cache && cache.method !== 'fora')
    throw new SdxlMethodError(
      `step cache "${cache.method}" probes a diffusion transformer's first block or extrapolates its block stack; for a UNet only fora:N is available`,
    );
  const interval = cache?.method === 'fora' ? cache.interval : 0;
  const withCache = (m: SdxlPipelineMethod): SdxlPipelineMethod => {
    if (!interval) return m;
    return {
      label: `${m.label}+fora${interval}`,
      setup: (be) => {
        const inner = m.setup?.(be);
        const fora = new UnetForaCache(be, interval);
        return {
          reducer: inner?.reducer,
          cache: fora,
          dispose: () => {
            fora.dispose();
            inner?.dispose();
          },
        };
      },
    };
  };
  if (name === 'dense') return withCache({ label: 'dense' });
  if (!SDXL_METHODS.includes(name))
    throw new SdxlMethodError(
      `method "${name}" reorders FLUX's joint attention and has no UNet form; SDXL runs ${SDXL_METHODS.join(', ')}`,
    );
  const reducerOptions = { ...options, method: name as 'toma' | 'tomesd' | 'todo' };
  try {
    resolveUnetReducerOptions(reducerOptions); // bad options fail before any model loads
  } catch (e) {
    throw new SdxlMethodError((e as Error).message);
  }
  return withCache({
    label: name,
    setup: (be) => {
      const reducer = createUnetReducer(be, reducerOptions);
      return { reducer, dispose: () => reducer.dispose() };
    },
  });
}
