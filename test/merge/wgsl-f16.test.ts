// The f16 variants of the merging kernels cannot run here (SwiftShader has no shader-f16), so they are
// at least compiled and turned into pipelines on Dawn's null backend, which validates WGSL and
// pipelines without executing anything. The H100 runs them for real (bench/toma-ops.ts, doctor).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheKey, type ShaderParams, specialize } from '../../src/gpu/shader.js';

type WebGpuModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
// Kept at module level: Dawn's instance must outlive the devices made from it.
let instance: GPU | null = null;

async function nullDevice(): Promise<GPUDevice | null> {
  try {
    const mod = (await import('webgpu')) as unknown as WebGpuModule;
    Object.assign(globalThis, mod.globals);
    instance ??= mod.create(['backend=null']);
    const adapter = await instance.requestAdapter();
    if (!adapter?.features.has('shader-f16')) return null;
    return await adapter.requestDevice({ requiredFeatures: ['shader-f16'] });
  } catch {
    return null;
  }
}

const device = await nullDevice();

const vec = (v: 1 | 4) => ({
  F16: true,
  VT: v === 4 ? 'vec4<f16>' : 'f16',
  VF: v === 4 ? 'vec4<f32>' : 'f32',
});
const variants: [string, ShaderParams][] = [];
const select4 = { T: 'f16', VEC: 4, VEC4: true, ...vec(4) };
const select1 = { T: 'f16', VEC: 1, VEC4: false, ...vec(1) };
for (const [select, weights] of [
  [true, false],
  [false, true],
  [true, true],
] as const) {
  variants.push([
    'toma_select',
    { ...select4, NMAX: 16, KMAX: 8, NP: 16, SHM: 1024, SELECT: select, WEIGHTS: weights },
  ]);
}
variants.push([
  'toma_select',
  { ...select1, NMAX: 9, KMAX: 5, NP: 12, SHM: 1024, SELECT: true, WEIGHTS: true },
]);
for (const v of [1, 4] as const) {
  for (const preload of [true, false]) {
    variants.push(['toma_merge', { ...vec(v), TILE: 4, KMAX: 8, KB: 8, KPAD: 8, PRELOAD: preload }]);
    for (const residual of [false, true])
      variants.push([
        'toma_unmerge',
        { ...vec(v), TILE: 4, KMAX: 8, IB: 16, NPAD: 16, PRELOAD: preload, RESIDUAL: residual },
      ]);
  }
  variants.push(['tomesd_merge', vec(v)]);
  variants.push(['todo_pool', vec(v)]);
}
variants.push(['tomesd_normalize', { T: 'f16', F16: true }]);
variants.push(['tomesd_match', { T: 'f16', F16: true }]);

describe('f16 merging kernels compile (Dawn null backend)', {
  skip: device ? false : 'no null backend with shader-f16',
}, () => {
  for (const [shader, params] of variants) {
    it(cacheKey(shader, params), async () => {
      const d = device!;
      d.pushErrorScope('validation');
      const module = d.createShaderModule({ code: specialize(shader, params) });
      const info = await module.getCompilationInfo();
      d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const err = await d.popErrorScope();
      const msgs = info.messages
        .filter((m) => m.type === 'error')
        .map((m) => `line ${m.lineNum}: ${m.message}`);
      assert.deepEqual(msgs, []);
      assert.equal(err, null, err?.message);
    });
  }
});
