// `toma forward --component sdxl-unet` on the SDXL UNet fixtures: NCHW in, NCHW out, both key layouts.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { forward } from '../../src/cli/commands/forward.js';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../../src/io/safetensors.js';
import { noGpu } from '../helpers.js';
import { FIXTURES, noFixtures, relativeError } from '../models/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'toma-sdxl-unet-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const fixture = (name: string) => join(FIXTURES!, 'sdxl', `${name}.safetensors`);

async function run(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    assert.equal(await forward.run(args), 0);
  } finally {
    console.log = log;
  }
  return lines;
}

describe('toma forward --component sdxl-unet', { skip: noFixtures }, () => {
  for (const [name, backend, skip] of [
    ['sdxl_unet_a', 'cpu', false],
    ['sdxl_unet_a-sgm', 'cpu', false],
    // the model tests run the SGM layout on WebGPU; this runs the diffusers layout through the CLI
    ['sdxl_unet_a', 'webgpu', noGpu],
  ] as const) {
    it(`${name} on ${backend}: out.sample matches the fixture within 1e-4`, { skip }, async () => {
      const ck = fixture(name);
      const out = join(tmp, `${name}-${backend}.safetensors`);
      const lines = await run([
        '--component',
        'sdxl-unet',
        '--backend',
        backend,
        '--checkpoint',
        ck,
        '--inputs',
        ck,
        '--out',
        out,
      ]);
      assert.ok(
        lines.some((l) =>
          l.startsWith(`loaded the UNet (${name.endsWith('sgm') ? 'sgm' : 'diffusers'} layout`),
        ),
      );
      const got = Checkpoint.open(out);
      const want = Checkpoint.open(ck);
      try {
        assert.deepEqual(got.keys(), ['out.sample']);
        assert.deepEqual(got.info('out.sample').shape, [2, 4, 16, 24]);
        const err = relativeError(got.readF32('out.sample'), want.readF32('out.sample'));
        assert.ok(err <= 1e-4, `relative error ${err}`);
        assert.equal(got.metadata.component, 'sdxl-unet');
      } finally {
        got.close();
        want.close();
      }
    });
  }

  it('a diffusers unet/ folder (weights + config.json, no __metadata__) gives the same output', async () => {
    const src = Checkpoint.open(fixture('sdxl_unet_a'));
    const dir = join(tmp, 'unet');
    mkdirSync(dir);
    const weights: Record<string, TensorToWrite> = {};
    for (const k of src.keys())
      if (!k.startsWith('in.') && !k.startsWith('out.'))
        weights[k] = { dtype: 'F32', shape: src.info(k).shape, data: src.readF32(k) };
    writeSafetensors(join(dir, 'diffusion_pytorch_model.safetensors'), weights);
    writeFileSync(join(dir, 'config.json'), src.metadata.config!);
    src.close();
    const out = join(tmp, 'folder-out.safetensors');
    const ck = fixture('sdxl_unet_a');
    await run([
      '--component',
      'sdxl-unet',
      '--backend',
      'cpu',
      '--checkpoint',
      dir,
      '--inputs',
      ck,
      '--out',
      out,
    ]);
    const got = Checkpoint.open(out);
    const want = Checkpoint.open(ck);
    assert.ok(relativeError(got.readF32('out.sample'), want.readF32('out.sample')) <= 1e-4);
    got.close();
    want.close();
  });

  it('a missing input, a wrong channel count and a config that contradicts the weights are refused by name', async () => {
    const ck = fixture('sdxl_unet_a');
    const src = Checkpoint.open(ck);
    const inputs = (replace: Record<string, TensorToWrite | null>) => {
      const t: Record<string, TensorToWrite> = {};
      for (const k of src.keys())
        if (k.startsWith('in.')) t[k] = { dtype: 'F32', shape: src.info(k).shape, data: src.readF32(k) };
      for (const [k, v] of Object.entries(replace)) {
        if (v) t[k] = v;
        else delete t[k];
      }
      const path = join(tmp, `inputs-${Object.keys(replace).join('+')}.safetensors`);
      writeSafetensors(path, t);
      return path;
    };
    const out = join(tmp, 'never.safetensors');
    const args = (i: string, ...extra: string[]) => [
      '--component',
      'sdxl-unet',
      '--backend',
      'cpu',
      '--checkpoint',
      ck,
      '--inputs',
      i,
      '--out',
      out,
      ...extra,
    ];
    try {
      await assert.rejects(
        forward.run(args(inputs({ 'in.time_ids': null }))),
        /input "in\.time_ids" is missing/,
      );
      await assert.rejects(
        forward.run(
          args(inputs({ 'in.sample': { dtype: 'F32', shape: [2, 3, 8, 8], data: new Float32Array(384) } })),
        ),
        /in\.sample has 3 channels, the UNet takes 4/,
      );
      await assert.rejects(
        forward.run(
          args(
            inputs({}),
            '--config',
            JSON.stringify({ attention_head_dim: [1, 2, 3], cross_attention_dim: 64 }),
          ),
        ),
        /cross_attention_dim is 64 but the weights have 32/,
      );
      assert.equal(existsSync(out), false);
    } finally {
      src.close();
    }
  });
});
