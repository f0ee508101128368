// Methods by name for the SDXL pipeline (`--method`, the library's `method`): what each makes of the
// UNet's token-reduction hooks (src/merge/hooks.ts, the self-attention input of every transformer
// block). Dense runs the UNet as it is; ToMA, ToMeSD and ToDo get a UNet reducer per run
// (createUnetReducer: the UNet defaults of src/merge/options.ts — levels, scope, every step — with the
// ratio, tile and schedule given). HilbertA reorders FLUX's joint attention and has no UNet form.
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

/** The pipeline method for a name and its options (ratio, tile, levels, ...; unused by dense). */
export function sdxlMethod(name: MethodName, options: MethodOptions = {}): SdxlPipelineMethod {
  if (name === 'dense') return { label: 'dense' };
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
  return {
    label: name,
    setup: (be) => {
      const reducer = createUnetReducer(be, reducerOptions);
      return { reducer, dispose: () => reducer.dispose() };
    },
  };
}
