// Conformance with the official Flux code: flux-tiny-a (shared fixtures), f32 on the CPU backend and on
// WebGPU, and the f16 error where the adapter has shader-f16.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Backend } from '../../../src/backend.js';
import { Checkpoint } from '../../../src/io/safetensors.js';
import { type ComputeDType, FluxModel, FluxPositions } from '../../../src/models/flux/index.js';
import { cpu, fixturesDir, gpu, noF16, relErr } from '../../helpers.js';

const dir = fixturesDir();
const noFixtures = dir ? false : 'no fixtures (set TOMA_FIXTURES)';

async function runFixture(be: Backend, dtype: ComputeDType): Promise<{ err: number; out: Float32Array }> {
  const ck = Checkpoint.open(join(dir!, 'flux-tiny-a.safetensors'));
  const model = FluxModel.load(be, ck, { dtype, ignoreKeys: (k) => k.startsWith('in.') || k === 'out' });
  const [B, N] = ck.info('in.img').shape as [number, number];
  const Lt = ck.info('in.txt').shape[1]!;
  const positions = FluxPositions.fromIds(be, model.config, {
    imgIds: ck.readF32('in.img_ids'),
    txtIds: ck.readF32('in.txt_ids'),
    batch: B,
    imageTokens: N,
    textTokens: Lt,
  });
  assert.deepEqual(positions.grid, [16, 16]);
  const up = (k: string) => be.tensor(ck.readF32(k), ck.info(k).shape, dtype);
  const img = up('in.img');
  const txt = up('in.txt');
  const y = up('in.y');
  const out = model.forward({
    img,
    txt,
    y,
    timesteps: ck.readF32('in.timesteps'),
    guidance: ck.readF32('in.guidance'),
    positions,
  });
  assert.deepEqual(out.shape, ck.info('out').shape);
  const got = await out.read();
  const want = ck.readF32('out');
  for (const t of [out, img, txt, y]) t.dispose();
  positions.dispose();
  model.dispose();
  ck.close();
  return { err: relErr(got, want), out: got };
}

describe('Flux forward vs the official code (flux-tiny-a)', { skip: noFixtures }, () => {
  it('f32 on the CPU backend: max relative error <= 1e-4', async () => {
    const { err } = await runFixture(cpu, 'f32');
    console.log(`    cpu f32 relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });

  it('f16 emulated on the CPU backend (storage rounding): error reported, <= 1e-2', async () => {
    const { err } = await runFixture(cpu, 'f16');
    console.log(`    cpu f16-emulated relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-2, `relative error ${err}`);
  });

  it('f32 on WebGPU: max relative error <= 1e-4', { skip: gpu ? false : 'no WebGPU adapter' }, async () => {
    const { err } = await runFixture(gpu!, 'f32');
    console.log(`    webgpu f32 relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });

  it('f16 on WebGPU: error reported, <= 1e-2', { skip: noF16 }, async () => {
    const { err } = await runFixture(gpu!, 'f16');
    console.log(`    webgpu f16 relative error ${err.toExponential(2)}`);
    assert.ok(err <= 1e-2, `relative error ${err}`);
  });
});
