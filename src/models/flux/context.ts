// What every block of one forward pass needs: the backend, the config, silu(vec), the RoPE tables (in
// the pattern's image order when one is active), and the hooks.
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
}
