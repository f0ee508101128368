// `toma forward --component sdxl-clip-g|sdxl-vae` on the SDXL fixtures: through the command on the CPU,
// through the component on WebGPU, from the fixture itself and from a single-file layout of it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { forward } from '../../src/cli/commands/forward.js';
import { components } from '../../src/cli/components/registry.js';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../../src/io/safetensors.js';
import { aeDecoderConfig } from '../../src/models/ae/index.js';
import { gpu, noGpu } from '../helpers.js';
import { relativeError } from '../models/fixtures.js';
import {
  noSdxlFixture,
  openClipTensors,
  openSdxlFixture,
  originalVaeTensors,
  sdxlFixturePath,
} from '../models/sdxl-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'toma-sdxl-components-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const skip = noSdxlFixture('sdxl_clip_g_a') || noSdxlFixture('sdxl_vae_a');
const component = (name: string) => components.find((c) => c.name === name)!;

/** Runs `toma forward` on the CPU and returns the output file's tensors by key. */
async function forwardCpu(name: string, checkpoint: string, inputs: string, extra: string[] = []) {
  const out = join(tmp, `${name}-${Math.random().toString(36).slice(2)}.safetensors`);
  const code = await forward.run([
    '--backend',
    'cpu',
    '--component',
    name,
    '--checkpoint',
    checkpoint,
    '--inputs',
    inputs,
    '--out',
    out,
    ...extra,
  ]);
  assert.equal(code, 0);
  return Checkpoint.open(out);
}

function assertMatches(got: Checkpoint, want: Checkpoint, keys: string[], tol = 1e-4) {
  assert.deepEqual(got.keys().sort(), [...keys].sort());
  for (const k of keys) {
    assert.deepEqual(got.info(k).shape, want.info(k).shape, k);
    const err = relativeError(got.readF32(k), want.readF32(k));
    assert.ok(err <= tol, `${k}: relative error ${err}`);
  }
}

const CLIP_KEYS = ['out.text_embeds', 'out.last_hidden_state', 'out.penultimate_hidden_state'];

describe('toma forward --component sdxl-clip-g / sdxl-vae on the SDXL fixtures', { skip }, () => {
  const clipPath = skip ? '' : sdxlFixturePath('sdxl_clip_g_a');
  const vaePath = skip ? '' : sdxlFixturePath('sdxl_vae_a');

  it('both are listed for toma forward', () => {
    assert.ok(component('sdxl-clip-g'));
    assert.ok(component('sdxl-vae'));
    assert.ok(component('sdxl-vae-encode'));
  });

  it('sdxl-clip-g (CPU, config from the fixture header) writes the fixture outputs within 1e-4', async () => {
    const got = await forwardCpu('sdxl-clip-g', clipPath, clipPath);
    const want = Checkpoint.open(clipPath);
    assertMatches(got, want, CLIP_KEYS);
    assert.equal(got.metadata.component, 'sdxl-clip-g');
  });

  it('sdxl-vae (CPU) writes out.sample = decode(in.z) within 1e-4', async () => {
    const got = await forwardCpu('sdxl-vae', vaePath, vaePath);
    assertMatches(got, Checkpoint.open(vaePath), ['out.sample']);
  });

  for (const [name, path, keys] of [
    ['sdxl-clip-g', () => clipPath, CLIP_KEYS],
    ['sdxl-vae', () => vaePath, ['out.sample']],
  ] as const) {
    it(`${name} on WebGPU f32 within 1e-4`, { skip: noGpu }, async () => {
      const inputs = Checkpoint.open(path());
      try {
        const outputs = await component(name).run({
          be: gpu!,
          dtype: 'f32',
          checkpoint: path(),
          inputs,
          log: () => {},
        });
        for (const k of keys) {
          const err = relativeError(outputs[k]!.data as Float32Array, inputs.readF32(k));
          console.log(`  ${name} WebGPU ${k}: ${err.toExponential(2)}`);
          assert.ok(err <= 1e-4, `${k}: relative error ${err}`);
        }
      } finally {
        inputs.close();
      }
    });
  }

  it('both pick their model out of an SDXL single file (OpenCLIP and original VAE names)', async () => {
    const clip = openSdxlFixture('sdxl_clip_g_a');
    const vae = openSdxlFixture('sdxl_vae_a');
    const tensors: Record<string, TensorToWrite> = {
      ...openClipTensors(clip.ck, 'conditioner.embedders.1.model.'),
      ...originalVaeTensors(vae.ck, aeDecoderConfig(vae.ck, vae.config), 'first_stage_model.'),
      // a stand-in for CLIP-L so that the file is recognised as SDXL's (only its presence is checked)
      'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight': {
        dtype: 'F32',
        shape: [3, 2],
        data: new Float32Array(6),
      },
    };
    const single = join(tmp, 'sd_xl_tiny.safetensors');
    writeSafetensors(single, tensors);
    // no config beside a single file: only what the shapes cannot tell is given
    const clipOut = await forwardCpu('sdxl-clip-g', single, clipPath, [
      '--config',
      JSON.stringify({ num_attention_heads: 4, eos_token_id: 999 }),
    ]);
    assertMatches(clipOut, clip.ck, CLIP_KEYS);
    const vaeOut = await forwardCpu('sdxl-vae', single, vaePath, ['--config', '{"norm_num_groups": 8}']);
    assertMatches(vaeOut, vae.ck, ['out.sample']);
  });

  it('sdxl-vae-encode (CPU) writes the latent mean and log-variance of the PyTorch reference', async () => {
    const ref = join(
      dirname(fileURLToPath(import.meta.url)),
      '../../../test/data/sdxl-vae-encoder-ref.safetensors',
    );
    const inputs = join(tmp, 'encode-inputs.safetensors');
    const r = Checkpoint.open(ref);
    writeSafetensors(inputs, {
      'in.sample': { dtype: 'F32', shape: r.info('in.sample_b').shape, data: r.readF32('in.sample_b') },
    });
    const got = await forwardCpu('sdxl-vae-encode', vaePath, inputs);
    for (const k of ['mean', 'logvar']) {
      const err = relativeError(got.readF32(`out.${k}`), r.readF32(`out.${k}_b`));
      assert.ok(err <= 1e-4, `${k}: relative error ${err}`);
    }
    assert.deepEqual(got.info('out.mean').shape, [2, 4, 7, 11]);
  });

  it('names a missing input, a wrong latent width and a checkpoint of another model', async () => {
    const noZ = join(tmp, 'no-z.safetensors');
    writeSafetensors(noZ, { 'in.other': { dtype: 'F32', shape: [1], data: Float32Array.of(0) } });
    await assert.rejects(forwardCpu('sdxl-vae', vaePath, noZ), /input "in\.z" is missing/);
    const wideZ = join(tmp, 'wide-z.safetensors');
    writeSafetensors(wideZ, { 'in.z': { dtype: 'F32', shape: [1, 16, 2, 2], data: new Float32Array(64) } });
    await assert.rejects(forwardCpu('sdxl-vae', vaePath, wideZ), /in\.z has 16 channels, the VAE takes 4/);
    const ids = join(tmp, 'ids.safetensors');
    writeSafetensors(ids, { 'in.input_ids': { dtype: 'F32', shape: [2, 77], data: new Float32Array(154) } });
    await assert.rejects(
      forwardCpu('sdxl-clip-g', vaePath, ids),
      /is not a CLIP text encoder checkpoint: it looks like a Flux autoencoder/,
    );
    const flat = join(tmp, 'flat-ids.safetensors');
    writeSafetensors(flat, { 'in.input_ids': { dtype: 'F32', shape: [154], data: new Float32Array(154) } });
    await assert.rejects(forwardCpu('sdxl-clip-g', clipPath, flat), /expected 2 non-empty dimensions/);
  });
});
