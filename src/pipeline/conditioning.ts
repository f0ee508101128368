// Class conditioning (class names, learned text tokens and pooled vectors) from any TensorReader: a
// conditioning.safetensors file in Node, or its bytes fetched by a browser.
import type { TensorReader } from '../io/safetensors-format.js';
import type { ClassConditioning } from './generate.js';

export function conditioningFrom(ck: TensorReader): ClassConditioning {
  const where = ck.path;
  for (const k of ['txt', 'y'])
    if (!ck.has(k)) throw new Error(`${where}: no "${k}" tensor (is this a class-conditioning file?)`);
  const txtShape = ck.info('txt').shape;
  const yShape = ck.info('y').shape;
  if (txtShape.length !== 3 || yShape.length !== 2)
    throw new Error(
      `${where}: expected txt [classes, tokens, width] and y [classes, width], got ${JSON.stringify(txtShape)} and ${JSON.stringify(yShape)}`,
    );
  const [classes, T] = txtShape as [number, number, number];
  let names: unknown;
  try {
    names = JSON.parse(ck.metadata.classes ?? '[]');
  } catch (e) {
    throw new Error(`${where}: __metadata__.classes is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
    throw new Error(`${where}: __metadata__.classes must be a JSON list of class names`);
  if (names.length !== classes || yShape[0] !== classes) {
    throw new Error(
      `${where}: ${names.length} class names, ${classes} txt rows and ${yShape[0]} y rows disagree`,
    );
  }
  const nullClass = Number(ck.metadata.null_class ?? 0);
  if (!Number.isInteger(nullClass) || nullClass < 0 || nullClass >= classes)
    throw new Error(`${where}: null_class ${ck.metadata.null_class} is not one of the ${classes} classes`);
  return { names, nullClass, txt: ck.readF32('txt'), y: ck.readF32('y'), textTokens: T };
}

/**
 * Finds a class by index or by (unique prefix of) its name. `allowNull: false` leaves out the
 * unconditional class (not one to draw).
 */
export function resolveClass(cond: ClassConditioning, spec: string, o: { allowNull?: boolean } = {}): number {
  const allowed = (i: number) => (o.allowNull ?? true) || i !== cond.nullClass;
  if (/^\d+$/.test(spec)) {
    const k = Number(spec);
    if (k < cond.names.length && allowed(k)) return k;
  }
  const exact = cond.names.indexOf(spec);
  if (exact >= 0 && allowed(exact)) return exact;
  const candidates = cond.names.map((n, i) => [n, i] as const).filter(([, i]) => allowed(i));
  const hits = candidates.filter(([n]) => spec !== '' && n.startsWith(spec));
  if (hits.length === 1) return hits[0]![1];
  const list = candidates.map(([n, i]) => `${i}:${n}`).join(' ');
  throw new RangeError(
    hits.length
      ? `class "${spec}" is ambiguous (${hits.map(([n]) => n).join(', ')})`
      : `no class "${spec}"; classes: ${list}`,
  );
}
