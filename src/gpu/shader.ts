// WGSL specialization: shaders are real .wgsl files with explicit parameters.
//   {{NAME}}          replaced by the parameter's value
//   #if NAME / #if !NAME / #else / #endif   (whole lines; nestable) keep or drop lines on a boolean
//   #include NAME     (a whole line) the shader NAME's source, specialized with the same parameters
// The parameters and the shader name together form the pipeline cache key.
import { SHADERS } from '../kernels/shaders.gen.js';

export type ShaderParams = Record<string, string | number | boolean>;

export function shaderSource(name: string): string {
  const src = SHADERS[name];
  if (src === undefined) throw new Error(`unknown shader "${name}" (is it under src/ as ${name}.wgsl?)`);
  return src;
}

export function specialize(name: string, params: ShaderParams, including: readonly string[] = []): string {
  if (including.includes(name)) throw new Error(`${[...including, name].join(' -> ')}: #include cycle`);
  const lines = shaderSource(name).split('\n');
  const out: string[] = [];
  const stack: { active: boolean; parentActive: boolean; taken: boolean }[] = [];
  let active = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^\s*#(if|else|endif)\b\s*(!?)\s*(\w*)\s*$/.exec(line);
    if (m) {
      const [, kw, neg, key] = m;
      if (kw === 'if') {
        if (!(key! in params)) throw new Error(`${name}.wgsl:${i + 1}: #if ${key} but no such parameter`);
        const cond = !!params[key!] !== (neg === '!');
        stack.push({ active, parentActive: active, taken: cond });
        active = active && cond;
      } else if (kw === 'else') {
        const top = stack.at(-1);
        if (!top) throw new Error(`${name}.wgsl:${i + 1}: #else without #if`);
        active = top.parentActive && !top.taken;
      } else {
        const top = stack.pop();
        if (!top) throw new Error(`${name}.wgsl:${i + 1}: #endif without #if`);
        active = top.parentActive;
      }
      continue;
    }
    if (!active) continue;
    const inc = /^\s*#include\s+(\w+)\s*$/.exec(line);
    if (inc) {
      out.push(specialize(inc[1]!, params, [...including, name]));
      continue;
    }
    out.push(
      line.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        if (!(key in params)) throw new Error(`${name}.wgsl:${i + 1}: {{${key}}} but no such parameter`);
        return String(params[key]);
      }),
    );
  }
  if (stack.length) throw new Error(`${name}.wgsl: unterminated #if`);
  return out.join('\n');
}

export function cacheKey(name: string, params: ShaderParams): string {
  const keys = Object.keys(params).sort();
  return `${name}(${keys.map((k) => `${k}=${params[k]}`).join(',')})`;
}
