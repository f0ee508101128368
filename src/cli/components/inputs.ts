// Reading a component's inputs with errors that name the file and the key.
import type { Checkpoint } from '../../io/safetensors.js';
import { assertFinite } from '../../util/finite.js';

/** Reads one input tensor as f32, checking it exists and (where given) its shape. */
export function readInput(inputs: Checkpoint, key: string, shape?: (number | null)[]): Float32Array {
  if (!inputs.has(key)) throw new Error(`${inputs.path}: input "${key}" is missing`);
  const s = inputs.info(key).shape;
  if (shape && (s.length !== shape.length || shape.some((d, i) => d !== null && d !== s[i])))
    throw new Error(
      `${inputs.path}: input "${key}" has shape [${s.join(', ')}], expected [${shape.map((d) => d ?? '*').join(', ')}]`,
    );
  return inputs.readF32(key);
}

/**
 * The inputs file as components see it, with every tensor read through readF32 checked for NaN and
 * ±Infinity: a non-finite input gives a non-finite output at best, so it is refused by name and place.
 */
export function finiteInputs(inputs: Checkpoint): Checkpoint {
  const readF32 = (key: string): Float32Array => {
    const data = inputs.readF32(key);
    assertFinite(inputs.path, `input "${key}"`, data, inputs.info(key).shape, 'inputs must be finite');
    return data;
  };
  return new Proxy(inputs, {
    get(target, prop) {
      if (prop === 'readF32') return readF32;
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
