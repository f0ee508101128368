// `toma forward`: runs in-process on the CPU backend, from random checkpoints and from the fixture.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { forward } from '../../src/cli/commands/forward.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { imageIds, textIds } from '../../src/models/flux/index.js';
import { cpu, fixturesDir, relErr } from '../helpers.js';
import {
  type Case,
  micro,
  microNoGuidance,
  randomCheckpoint,
  randomInputs,
  runCheckpoint,
  tmp,
} from '../models/flux/util.js';

function writeInputs(path: string, c: typeof micro, k: Case, withGuidance: boolean) {
  const x = randomInputs(c, k);
  const N = k.rows * k.cols;
  writeSafetensors(path, {
    'in.img': { dtype: 'F32', shape: [k.batch, N, c.in_channels], data: x.img },
    'in.txt': { dtype: 'F32', shape: [k.batch, k.text, c.context_in_dim], data: x.txt },
    'in.img_ids': { dtype: 'F32', shape: [k.batch, N, 3], data: imageIds(k.batch, k.rows, k.cols) },
    'in.txt_ids': { dtype: 'F32', shape: [k.batch, k.text, 3], data: textIds(k.batch, k.text) },
    'in.timesteps': { dtype: 'F32', shape: [k.batch], data: x.timesteps },
    'in.y': { dtype: 'F32', shape: [k.batch, c.vec_in_dim], data: x.y },
    ...(withGuidance ? { 'in.guidance': { dtype: 'F32' as const, shape: [k.batch], data: x.guidance } } : {}),
  });
  return x;
}

describe('toma forward', () => {
  it('runs a sharded diffusers checkpoint and writes the same output as the library', async () => {
    const k: Case = { batch: 2, rows: 2, cols: 3, text: 5 };
    const ck = randomCheckpoint(microNoGuidance, { layout: 'diffusers', shards: 2, seed: 41 }).path;
    const inputs = join(tmp, 'cli-inputs.safetensors');
    const x = writeInputs(inputs, microNoGuidance, k, false);
    const out = join(tmp, 'cli-out.safetensors');
    assert.equal(
      await forward.run(['--backend', 'cpu', '--checkpoint', ck, '--inputs', inputs, '--out', out]),
      0,
    );
    const got = Checkpoint.open(out);
    assert.deepEqual(got.info('out').shape, [2, 6, microNoGuidance.out_channels]);
    assert.deepEqual(got.readF32('out'), await runCheckpoint(cpu, ck, 'f32', k, x));
  });

  it('names a missing input, an unknown component and a bad config; writes nothing on failure', async () => {
    const k: Case = { batch: 1, rows: 2, cols: 2, text: 3 };
    const ck = randomCheckpoint(micro, { seed: 42 }).path;
    const inputs = join(tmp, 'cli-inputs-noguidance.safetensors');
    writeInputs(inputs, micro, k, false);
    const out = join(tmp, 'cli-never.safetensors');
    const args = ['--backend', 'cpu', '--checkpoint', ck, '--inputs', inputs, '--out', out];
    await assert.rejects(forward.run(args), /input "in\.guidance" is missing/);
    await assert.rejects(forward.run([...args, '--component', 'vae']), UsageError);
    await assert.rejects(forward.run([...args, '--config', 'flux-huge']), /unknown config "flux-huge"/);
    await assert.rejects(
      forward.run([...args, '--config', 'flux-tiny']),
      /has shape \[48, 12\], expected \[64, 16\]/,
    );
    assert.equal(existsSync(out), false);
  });

  const dir = fixturesDir();
  it('reproduces the fixture when given it as checkpoint and inputs', {
    skip: dir ? false : 'no fixtures',
  }, async () => {
    const fixture = join(dir!, 'flux-tiny-a.safetensors');
    const out = join(tmp, 'cli-fixture-out.safetensors');
    assert.equal(
      await forward.run(['--backend', 'cpu', '--checkpoint', fixture, '--inputs', fixture, '--out', out]),
      0,
    );
    const err = relErr(Checkpoint.open(out).readF32('out'), Checkpoint.open(fixture).readF32('out'));
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });
});
