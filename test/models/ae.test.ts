import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend.js';
import { nhwcToNchw } from '../../src/cpu/conv.js';
import { AeDecoder, layoutKey } from '../../src/models/ae/index.js';
import { assertClose, cpu, gpu, noF16, noGpu, relErr, rng } from '../helpers.js';
import { noFixtures, openFixture, relativeError } from './fixtures.js';
import { MemorySource } from './memory-source.js';

/** Random decoder weights in the original key layout: levels of `chans`, z channels zc. */
function randomAe(chans: number[], blocks: number, zc: number, seed: number): MemorySource {
  const r = rng(seed);
  const src = new MemorySource('random-ae');
  const n = (k: string, shape: number[], mean = 0, std = 0.2) =>
    src.set(
      k,
      shape,
      r.normals(
        shape.reduce((a, b) => a * b, 1),
        mean,
        std,
      ),
    );
  const conv = (k: string, cin: number, cout: number, ks: number) => {
    n(`${k}.weight`, [cout, cin, ks, ks], 0, 0.4 / Math.sqrt(cin * ks * ks));
    n(`${k}.bias`, [cout]);
  };
  const norm = (k: string, c: number) => {
    n(`${k}.weight`, [c], 1);
    n(`${k}.bias`, [c]);
  };
  const resnet = (k: string, cin: number, cout: number) => {
    norm(`${k}.norm1`, cin);
    conv(`${k}.conv1`, cin, cout, 3);
    norm(`${k}.norm2`, cout);
    conv(`${k}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${k}.nin_shortcut`, cin, cout, 1);
  };
  const L = chans.length;
  const cm = chans[L - 1]!;
  conv('decoder.conv_in', zc, cm, 3);
  resnet('decoder.mid.block_1', cm, cm);
  norm('decoder.mid.attn_1.norm', cm);
  for (const p of ['q', 'k', 'v', 'proj_out']) conv(`decoder.mid.attn_1.${p}`, cm, cm, 1);
  resnet('decoder.mid.block_2', cm, cm);
  for (let i = 0; i < L; i++) {
    let cin = i === L - 1 ? cm : chans[i + 1]!;
    for (let j = 0; j <= blocks; j++) {
      resnet(`decoder.up.${i}.block.${j}`, cin, chans[i]!);
      cin = chans[i]!;
    }
    if (i > 0) conv(`decoder.up.${i}.upsample.conv`, chans[i]!, chans[i]!, 3);
  }
  norm('decoder.norm_out', chans[0]!);
  conv('decoder.conv_out', chans[0]!, 3, 3);
  return src;
}

async function decodeNchw(
  be: Backend,
  src: MemorySource | ReturnType<typeof openFixture>['ck'],
  z: Float32Array,
  shape: number[],
  opts = {},
  dtype: 'f32' | 'f16' = 'f32',
) {
  const [B, , h, w] = shape as [number, number, number, number];
  const model = AeDecoder.load(be, src, { dtype });
  try {
    const img = await model.decode(z, B, h, w, opts);
    const [, H, W, C] = img.shape;
    return nhwcToNchw(img.data, B, H, W, C);
  } finally {
    model.dispose();
  }
}

describe('Flux autoencoder decoder on the ae-golden-a fixture', { skip: noFixtures }, () => {
  const { ck } = noFixtures ? ({} as never) : openFixture('ae-golden-a');
  const z = noFixtures ? new Float32Array() : ck.readF32('in.z');
  const want = noFixtures ? new Float32Array() : ck.readF32('out');

  for (const [name, be, dtype, skip, tol] of [
    ['CPU f32', cpu, 'f32', false, 1e-4],
    ['WebGPU f32', gpu, 'f32', noGpu, 1e-4],
    ['WebGPU f16 (reported)', gpu, 'f16', noF16, 3e-2],
  ] as const) {
    it(`${name} matches decode(in.z)`, { skip }, async () => {
      const got = await decodeNchw(be!, ck, z, [1, 4, 8, 8], {}, dtype);
      const err = relativeError(got, want);
      console.log(`  ae ${name} max relative error ${err.toExponential(2)}`);
      assert.ok(err <= tol, `relative error ${err}`);
    });
  }

  it('forced tiling (row bands of 2 rows at full resolution) still matches the official decode', async () => {
    // WebGPU runs bands in the test below (the fixture is slow on SwiftShader)
    const got = await decodeNchw(cpu, ck, z, [1, 4, 8, 8], { maxBandBytes: 16384 });
    const err = relativeError(got, want);
    assert.ok(err <= 1e-4, `tiled relative error ${err}`);
  });

  it('the diffusers key layout gives the same image', async () => {
    const renamed = new MemorySource('diffusers-ae');
    for (const k of ck.keys()) {
      if (!k.startsWith('decoder.')) continue;
      const data = ck.readF32(k);
      let shape = ck.info(k).shape;
      if (/mid\.attn_1\.(q|k|v|proj_out)\.weight/.test(k)) shape = shape.slice(0, 2); // Linear in diffusers
      renamed.set(layoutKey(k, 'diffusers', 3), shape, data);
    }
    assert.ok(renamed.has('decoder.up_blocks.2.resnets.0.conv_shortcut.weight'));
    assert.ok(renamed.has('decoder.mid_block.attentions.0.to_out.0.weight'));
    const got = await decodeNchw(cpu, renamed, z, [1, 4, 8, 8]);
    assert.ok(relativeError(got, want) <= 1e-4);
  });
});

describe('Flux autoencoder decoder: CPU vs WebGPU on other shapes', { skip: noGpu }, () => {
  it('batch 2, latent 8x10, 2 levels of 32 channels, 16-channel latents; bands and attention chunks', async () => {
    const src = randomAe([32, 32], 1, 16, 7);
    const r = rng(3);
    const shape = [2, 16, 8, 10];
    const z = r.normals(2 * 16 * 8 * 10);
    const whole = await decodeNchw(cpu, src, z, shape);
    // 22000 bytes: 4-row bands at full resolution, the attention's 80 query rows in chunks of 68
    const gotCpu = await decodeNchw(cpu, src, z, shape, { maxBandBytes: 22000 });
    const gotGpu = await decodeNchw(gpu!, src, z, shape, { maxBandBytes: 22000 });
    assert.equal(whole.length, 2 * 3 * 16 * 20);
    assertClose(gotCpu, whole, 1e-5, 'cpu tiled vs whole');
    assert.ok(relErr(gotGpu, whole) <= 1e-4, `gpu vs cpu ${relErr(gotGpu, whole)}`);
  });
});
