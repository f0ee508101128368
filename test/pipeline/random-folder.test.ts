// Random-weight model folders: the layout toma generate reads, loadable by every component loader, and
// the same weights as the in-memory random source with the same seed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Checkpoint } from '../../src/io/safetensors.js';
import { aeDecoderConfig } from '../../src/models/ae/config.js';
import { aeConfigJson, aeDecoderShapes } from '../../src/models/ae/shapes.js';
import { clipTextConfig } from '../../src/models/clip/config.js';
import { clipConfigJson, clipTextShapes } from '../../src/models/clip/shapes.js';
import { configFromObject } from '../../src/models/flux/config.js';
import { fluxDiffusersConfigJson, fluxStoredShapes } from '../../src/models/flux/shapes.js';
import { RandomWeightSource } from '../../src/models/random-weights.js';
import { t5Config } from '../../src/models/t5/config.js';
import { t5Shapes } from '../../src/models/t5/shapes.js';
import { checkTokenizerFits, openFluxFolder } from '../../src/pipeline/flux-components.js';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { locateFlux } from '../../src/pipeline/model-folder.js';
import { randomFluxComponents } from '../../src/pipeline/random-components.js';
import { randomFolderBytes, writeRandomFluxFolder } from '../../src/pipeline/random-folder.js';
import { cpu } from '../helpers.js';
import { tinyFolder, tmp } from './tiny-folder.js';

function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p.slice(dir.length), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

describe('random-weight FLUX.1 folders', () => {
  it('have the diffusers layout, sharded where asked, and the expected weight bytes', async () => {
    const dir = await writeRandomFluxFolder(join(tmp, 'sharded'), {
      preset: pipelinePreset('tiny'),
      shardBytes: 400_000,
    });
    for (const sub of ['transformer', 'text_encoder', 'text_encoder_2', 'vae', 'tokenizer', 'tokenizer_2'])
      assert.ok(existsSync(join(dir.dir, sub)), sub);
    assert.ok(existsSync(join(dir.dir, 'model_index.json')));
    assert.ok(existsSync(join(dir.dir, 'transformer/diffusion_pytorch_model.safetensors.index.json')));
    assert.ok(
      existsSync(join(dir.dir, 'tokenizer/vocab.json')) && existsSync(join(dir.dir, 'tokenizer/merges.txt')),
    );
    assert.ok(existsSync(join(dir.dir, 'tokenizer_2/tokenizer.json')));
    assert.equal(dir.bytes, randomFolderBytes(pipelinePreset('tiny')));
    const ck = Checkpoint.open(join(dir.dir, 'transformer'));
    assert.ok(ck.keys().includes('single_transformer_blocks.1.proj_out.weight'));
    assert.equal(ck.info('x_embedder.weight').dtype, 'F16');
    ck.close();
    await assert.rejects(
      writeRandomFluxFolder(dir.dir, { preset: pipelinePreset('tiny') }),
      /already exists/,
    );
  });

  it('worker threads write the same bytes as one thread', async () => {
    const a = await writeRandomFluxFolder(join(tmp, 'one'), { preset: pipelinePreset('tiny'), seed: 3 });
    const b = await writeRandomFluxFolder(join(tmp, 'two'), {
      preset: pipelinePreset('tiny'),
      seed: 3,
      threads: 2,
    });
    assert.deepEqual(hashTree(b.dir), hashTree(a.dir));
    const c = await writeRandomFluxFolder(join(tmp, 'other'), { preset: pipelinePreset('tiny'), seed: 4 });
    assert.notDeepEqual(hashTree(c.dir), hashTree(a.dir));
  });

  it('loads into the same models as the host random source with the same seed', async () => {
    const folder = openFluxFolder(locateFlux({ modelDir: await tinyFolder() }));
    const random = randomFluxComponents(pipelinePreset('tiny'), { onDevice: false });
    assert.equal(folder.transformerConfig.guidance_embed, false);
    assert.deepEqual(folder.t5Config, random.t5Config);
    assert.deepEqual(folder.aeConfig, random.aeConfig);
    assert.deepEqual(
      folder.t5Tokenizer(32).encode(['a cat']).ids,
      random.t5Tokenizer(32).encode(['a cat']).ids,
    );
    assert.deepEqual(
      folder.clipTokenizer().encode(['a cat']).ids,
      random.clipTokenizer().encode(['a cat']).ids,
    );

    const ids = folder.t5Tokenizer(16).encode(['a red fox']).ids;
    const t5a = folder.loadT5(cpu, 'f32');
    const t5b = random.loadT5(cpu, 'f32');
    const outA = await t5a.encode(ids, 1, 16).read();
    const outB = await t5b.encode(ids, 1, 16).read();
    t5a.dispose();
    t5b.dispose();
    assert.ok(outA.every(Number.isFinite));
    assert.deepEqual(outA, outB);

    const ta = folder.loadTransformer(cpu, 'f32');
    const tb = random.loadTransformer(cpu, 'f32');
    for (const k of ta.params.tensors.keys())
      assert.deepEqual(await ta.params.dense(k).read(), await tb.params.dense(k).read(), k);
    ta.dispose();
    tb.dispose();

    const z = new Float32Array(16 * 2 * 2).map((_, i) => Math.sin(i));
    const aeA = folder.loadAe(cpu, 'f32');
    const aeB = random.loadAe(cpu, 'f32');
    assert.deepEqual((await aeA.decode(z, 1, 2, 2)).data, (await aeB.decode(z, 1, 2, 2)).data);
    aeA.dispose();
    aeB.dispose();
  });

  it('report loading progress up to the total', async () => {
    const folder = openFluxFolder(locateFlux({ modelDir: await tinyFolder() }));
    const seen: [number, number][] = [];
    folder.loadClip(cpu, 'f32', (d, t) => seen.push([d, t])).dispose();
    assert.ok(seen.length > 5);
    const [last, total] = seen.at(-1)!;
    assert.equal(last, total);
    assert.ok(
      seen.every(([d], i) => i === 0 || d >= seen[i - 1]![0]),
      'monotone',
    );
  });
});

describe('full-size presets', () => {
  it('describe FLUX.1-schnell/dev, T5-XXL, CLIP-L and the autoencoder as the loaders read them', () => {
    const p = pipelinePreset('schnell-full');
    const bytes = (m: Map<string, number[]>) =>
      [...m.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1) * 2, 0);
    const t5 = t5Shapes(p.t5);
    assert.deepEqual(t5Config(new RandomWeightSource('t5', t5)), p.t5);
    assert.ok(Math.abs(bytes(t5) / 9.52e9 - 1) < 0.01, `T5-XXL ${bytes(t5)} bytes`);
    const clip = clipTextShapes(p.clip);
    assert.deepEqual(clipTextConfig(new RandomWeightSource('clip', clip), clipConfigJson(p.clip)), p.clip);
    const ae = aeDecoderShapes(p.ae, 'diffusers');
    assert.deepEqual(aeDecoderConfig(new RandomWeightSource('ae', ae), aeConfigJson(p.ae)), p.ae);
    assert.deepEqual(configFromObject(fluxDiffusersConfigJson(p.transformer)), p.transformer);
    const tr = fluxStoredShapes(p.transformer, 'diffusers');
    assert.ok(Math.abs(bytes(tr) / 23.8e9 - 1) < 0.01, `transformer ${bytes(tr)} bytes`);
    assert.ok(!tr.has('time_text_embed.guidance_embedder.linear_1.weight'));
    assert.ok(
      fluxStoredShapes(pipelinePreset('dev-full').transformer, 'diffusers').has(
        'time_text_embed.guidance_embedder.linear_1.weight',
      ),
    );
    assert.ok(Math.abs(randomFolderBytes(p) / 33.65e9 - 1) < 0.01);
    const r = randomFluxComponents(p);
    checkTokenizerFits(r.t5Tokenizer(256), p.t5.vocab_size, 't5', 't5');
    checkTokenizerFits(r.clipTokenizer(), p.clip.vocab_size, 'clip', 'clip');
    assert.equal(r.t5Tokenizer(256).vocabSize, 32100);
    assert.equal(r.clipTokenizer().vocabSize, 49408);
  });
});
