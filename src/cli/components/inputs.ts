// Reading a component's inputs with errors that name the file and the key.
import type { Checkpoint } from '../../io/safetensors.js';

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
