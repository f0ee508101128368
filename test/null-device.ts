// Dawn's null backend: validates WGSL and pipelines without running anything. SwiftShader has neither
// shader-f16 nor subgroup matrices, so the f16 and tensor-core shader variants are at least compiled
// here; the H100 runs them for real.
import assert from 'node:assert/strict';

type WebGpuModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
let nullInstance: GPU | null = null; // Dawn's instance must outlive its devices

/** A null-backend device with shader-f16, subgroups and subgroup matrices, or null where there is none. */
export async function nullDevice(): Promise<GPUDevice | null> {
  try {
    const mod = (await import('webgpu')) as unknown as WebGpuModule;
    Object.assign(globalThis, mod.globals);
    nullInstance ??= mod.create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
    const adapter = await nullInstance.requestAdapter();
    const want = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'];
    if (!adapter || !want.every((f) => adapter.features.has(f))) return null;
    return await adapter.requestDevice({
      requiredFeatures: want as GPUFeatureName[],
      requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize },
    });
  } catch {
    return null;
  }
}

/**
 * Compiles WGSL on a null device and asserts it has no errors; with `pipeline` also creates the
 * compute pipeline (not for subgroup-matrix shaders: the null adapter's subgroups are 128 wide, so a
 * 32-lane subgroup-matrix pipeline is refused there and those stop at WGSL validation).
 */
export async function assertCompiles(d: GPUDevice, code: string, pipeline: boolean): Promise<void> {
  d.pushErrorScope('validation');
  const module = d.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  if (pipeline) d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const err = await d.popErrorScope();
  const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}: ${m.message}`);
  assert.deepEqual(msgs, []);
  assert.equal(err, null, err?.message);
}
