// Methods by name for the SDXL pipeline (`--method`, the library's `method`): what each makes of the
// UNet's token-reduction hooks (src/merge/hooks.ts, the self-attention input of every transformer
// block). Dense runs the UNet as it is. ToMA, ToMeSD and ToDo on the UNet need their UNet reducers
// (issue 17, item 3), which this build does not have yet: asking for one is an error that says so, not
// a silently dense image.
import type { MethodName, MethodOptions } from './methods.js';
import type { SdxlPipelineMethod } from './sdxl-pipeline.js';

/** Methods the SDXL pipeline runs in this build. */
export const SDXL_METHODS: readonly MethodName[] = ['dense'];

export class SdxlMethodError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SdxlMethodError';
  }
}

/** The pipeline method for a name and its options (ratio, tile, ...; unused by dense). */
export function sdxlMethod(name: MethodName, _options: MethodOptions = {}): SdxlPipelineMethod {
  if (name === 'dense') return { label: 'dense' };
  throw new SdxlMethodError(
    `method "${name}" is not available for SDXL yet: the UNet's token reducers (ToMA, ToMeSD, ToDo) are not in this build; SDXL runs ${SDXL_METHODS.join(', ')}`,
  );
}
