// The method configurations an evaluation compares: dense (always, first: the reference), then ToMA and
// ToMeSD at each merge ratio, ToDo and HilbertA once each (they have no ratio).
import { METHODS, type MethodName } from '../pipeline/methods.js';

export interface EvalConfig {
  /** "dense", "toma 0.5", "tomesd 0.25", "todo", "hilbert" */
  label: string;
  method: MethodName;
  ratio: number | null;
}

/** Methods evaluated at every merge ratio (names as strings: combined modes may be added to METHODS). */
export const RATIO_METHODS: readonly string[] = ['toma', 'tomesd', 'toma+hilbert'];

/** What `toma eval` compares unless --methods says otherwise. */
export const DEFAULT_EVAL_METHODS: readonly MethodName[] = ['toma', 'tomesd', 'todo', 'hilbert'];

export function configLabel(method: MethodName, ratio: number | null): string {
  return ratio === null ? method : `${method} ${ratio}`;
}

export function buildConfigs(methods: readonly MethodName[], ratios: readonly number[]): EvalConfig[] {
  for (const m of methods)
    if (!METHODS.includes(m)) throw new RangeError(`unknown method "${m}" (${METHODS.join(', ')})`);
  for (const r of ratios)
    if (!(r > 0 && r < 1)) throw new RangeError(`merge ratios must be in (0, 1), got ${r}`);
  const out: EvalConfig[] = [{ label: 'dense', method: 'dense', ratio: null }];
  for (const m of new Set(methods)) {
    if (m === 'dense') continue;
    if (RATIO_METHODS.includes(m))
      for (const r of [...new Set(ratios)].sort((a, b) => a - b))
        out.push({ label: configLabel(m, r), method: m, ratio: r });
    else out.push({ label: configLabel(m, null), method: m, ratio: null });
  }
  return out;
}
