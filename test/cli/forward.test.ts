// `toma forward`: runs in-process on the CPU backend, from random checkpoints and from the fixture.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { forward } from '../../src/cli/commands/forward.js';
import { Checkpoint, writeSafetensors } from '../../src/io/safetensors.js';
import { FLUX_PRESETS, FluxModel, imageIds, textIds } from '../../src/models/flux/index.js';
import { fluxActivationBytes } from '../../src/models/flux/memory.js';
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

  it('--max-memory streams blocks, prints the plan and per-stage peaks, and gives the same output', async () => {
    const k: Case = { batch: 1, rows: 2, cols: 3, text: 4 };
    // flux-tiny with more blocks: streaming saves memory once more blocks stream than there are slots
    const tiny = { ...FLUX_PRESETS['flux-tiny']!, depth: 3, depth_single_blocks: 4 };
    const ck = randomCheckpoint(tiny, { seed: 43 }).path;
    const inputs = join(tmp, 'cli-inputs-maxmem.safetensors');
    writeInputs(inputs, tiny, k, true);
    const args = ['--backend', 'cpu', '--checkpoint', ck, '--inputs', inputs];
    const run = async (extra: string[], out: string) => {
      const lines: string[] = [];
      const log = console.log;
      console.log = (line: string) => lines.push(line);
      try {
        assert.equal(await forward.run([...args, '--out', out, ...extra]), 0);
      } finally {
        console.log = log;
      }
      return { lines, out: Checkpoint.open(out).readF32('out') };
    };
    const full = await run([], join(tmp, 'cli-maxmem-full.safetensors'));
    assert.ok(full.lines.some((l) => /^peak tensor memory: load \d+ MiB, forward \d+ MiB$/.test(l)));
    const model = FluxModel.load(cpu, ck, { dtype: 'f32' });
    const paramBytes = model.params.bytes;
    model.dispose();
    const activations = fluxActivationBytes(tiny, {
      valueBytes: 4,
      batch: 1,
      imageTokens: 6,
      textTokens: 4,
    }).bytes;
    let streamed = 0;
    for (let f = 0.95; f > 0; f -= 0.1) {
      const b = `${Math.floor(activations + f * paramBytes)}B`;
      let r: Awaited<ReturnType<typeof run>>;
      try {
        r = await run(['--max-memory', b], join(tmp, `cli-maxmem-${b}.safetensors`));
      } catch (e) {
        assert.match((e as Error).message, /even with every block streamed/);
        break;
      }
      assert.deepEqual(r.out, full.out, `--max-memory ${b}`);
      if (r.lines.some((l) => /^memory plan for .*: streaming \d+\/3 double \+ \d+\/4 single/.test(l)))
        streamed++;
    }
    assert.ok(streamed > 0, 'no budget streamed a block');
    for (const bad of ['6', '6 parsecs', '-1GiB', '0MB', 'GiB', '1e3MB'])
      await assert.rejects(
        forward.run([...args, '--out', join(tmp, 'never.safetensors'), '--max-memory', bad]),
        UsageError,
        bad,
      );
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
