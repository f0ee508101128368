// The deep-feature networks from nsfwjs (optional packages: npm run setup:eval): loaded once per
// process, the expected feature sizes, deterministic, different images give different features.
// Skipped where the packages are not installed (then `toma eval` reports the metrics as unavailable,
// tested in the CLI test).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { closeFeatureNets, FeatureNetUnavailable, loadFeatureNet } from '../../src/eval/feature-net.js';
import { cosineDistance } from '../../src/eval/metrics.js';
import { loadNetwork } from '../../src/eval/nsfwjs-model.js';
import { rng } from '../helpers.js';

let missing: string | false = false;
try {
  // optional packages (npm run setup:eval): variable specifiers, so the build needs no declarations
  for (const m of ['@tensorflow/tfjs-core', 'nsfwjs/models/mobilenet_v2']) await import(m);
} catch (e) {
  missing = `nsfwjs / TensorFlow.js not installed (${(e as Error).message.split('\n')[0]})`;
}

function noise(w: number, h: number, seed: number) {
  const r = rng(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => r.nextU32() & 0xff) };
}

describe('deep features (nsfwjs networks)', { skip: missing }, () => {
  after(() => closeFeatureNets());

  it('MobileNetV2: 1280-d, cached per process, deterministic, distinct images differ', async () => {
    const net = await loadFeatureNet('mobilenet', 1);
    assert.equal(await loadFeatureNet('mobilenet', 1), net, 'the second load returns the cached pool');
    assert.equal(net.dim, 1280);
    assert.equal(net.inputSize, 224);
    const imgs = [noise(16, 16, 1), noise(16, 16, 2), noise(16, 16, 1)];
    const f = await net.extract(imgs);
    assert.equal(f.length, 3);
    assert.ok(f.every((v) => v.length === 1280 && v.every(Number.isFinite)));
    assert.ok(f[0]!.some((v) => v !== 0));
    assert.deepEqual(Array.from(f[0]!), Array.from(f[2]!), 'same image, same features');
    assert.ok(cosineDistance(f[0]!, f[1]!) > 1e-4, 'different images, different features');
    assert.equal(cosineDistance(f[0]!, f[0]!), 0);
    await assert.rejects(net.extract([noise(16, 16, 1), noise(8, 8, 1)]), /different sizes/);
  });

  it('InceptionV3: 2048-d pre-logits at 299 px', async () => {
    const net = await loadNetwork('inception');
    assert.equal(net.dim, 2048);
    assert.equal(net.inputSize, 299);
    const f = await net.extract(noise(12, 12, 3).data, 1, 12, 12);
    assert.equal(f.length, 2048);
    assert.ok(f.some((v) => v > 0) && f.every((v) => Number.isFinite(v) && v >= 0), 'pooled ReLU features');
  });

  it('an unknown network is refused by name', async () => {
    await assert.rejects(loadNetwork('vgg' as never), /unknown feature network "vgg"/);
    assert.ok(new FeatureNetUnavailable('x') instanceof Error);
  });
});
