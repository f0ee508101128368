// Locating and checking a FLUX.1 model's components: every missing piece named, the wrong model family,
// a tokenizer that does not fit its encoder and components that do not fit each other all rejected
// before any weights load; the single-file release layout found like the diffusers one.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { aeDecoderShapes } from '../../src/models/ae/shapes.js';
import { fluxStoredShapes } from '../../src/models/flux/shapes.js';
import { openFluxFolder } from '../../src/pipeline/flux-components.js';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { locateFlux } from '../../src/pipeline/model-folder.js';
import { writeRandomFluxFolder } from '../../src/pipeline/random-folder.js';
import { writeShard } from '../../src/pipeline/random-shard.js';
import { clipTokenizerJson } from '../../src/text/load-tokenizer.js';
import { tinyFolder, tinyFolderCopy, tmp } from './tiny-folder.js';

const open = (modelDir: string, more = {}) => openFluxFolder(locateFlux({ modelDir, ...more }));

describe('FLUX.1 model folders', () => {
  it('a complete random folder opens, as FLUX.1-schnell (no guidance embedder)', async () => {
    const c = open(await tinyFolder());
    assert.equal(c.transformerConfig.guidance_embed, false);
    assert.match(c.description, /FluxPipeline folder/);
    const dev = open(await tinyFolder('tiny-dev'));
    assert.equal(dev.transformerConfig.guidance_embed, true);
  });

  it('names every missing subfolder at once', async () => {
    const dir = await tinyFolderCopy();
    rmSync(join(dir, 'text_encoder_2'), { recursive: true });
    rmSync(join(dir, 'tokenizer'), { recursive: true });
    assert.throws(
      () => locateFlux({ modelDir: dir }),
      (e: Error) => {
        assert.match(e.message, /incomplete FLUX\.1 model, missing:/);
        assert.match(e.message, /text_encoder_2\/ \(the T5-XXL text encoder\)/);
        assert.match(e.message, /tokenizer\/ \(the tokenizer of the CLIP-L text encoder\)/);
        assert.doesNotMatch(e.message, /vae|transformer\//);
        return true;
      },
    );
  });

  it('names a component folder without weights, and a missing shard', async () => {
    const dir = await tinyFolderCopy();
    rmSync(join(dir, 'vae/diffusion_pytorch_model.safetensors'));
    assert.throws(() => locateFlux({ modelDir: dir }), /vae\/ \(the autoencoder\) holds no weights/);
    const dir2 = await tinyFolderCopy();
    rmSync(join(dir2, 'transformer'), { recursive: true });
    assert.throws(
      () => locateFlux({ modelDir: dir2 }),
      /transformer\/ \(the Flux transformer, diffusers layout\) or a flux1-\*\.safetensors file/,
    );
    const sharded = await writeRandomFluxFolder(join(tmp, 'missing-shard'), {
      preset: pipelinePreset('tiny'),
      shardBytes: 40_000,
    });
    const index = JSON.parse(
      readFileSync(join(sharded.dir, 'text_encoder_2/model.safetensors.index.json'), 'utf8'),
    );
    const shards = [...new Set(Object.values(index.weight_map) as string[])].sort();
    assert.ok(shards.length >= 2);
    rmSync(join(sharded.dir, 'text_encoder_2', shards[1]!));
    assert.throws(
      () => open(sharded.dir),
      new RegExp(`shard "${shards[1]!.replace(/\./g, '\\.')}" \\(holding .*\\) is missing`),
    );
  });

  it('rejects a folder of another pipeline and checkpoints of other model families', async () => {
    const dir = await tinyFolderCopy();
    const idx = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8'));
    writeFileSync(
      join(dir, 'model_index.json'),
      JSON.stringify({ ...idx, _class_name: 'StableDiffusionXLPipeline' }),
    );
    assert.throws(
      () => locateFlux({ modelDir: dir }),
      /describes a StableDiffusionXLPipeline, not a FLUX\.1 pipeline/,
    );

    // the T5 encoder's files in place of the transformer
    const swapped = await tinyFolderCopy();
    rmSync(join(swapped, 'transformer'), { recursive: true });
    cpSync(join(swapped, 'text_encoder_2'), join(swapped, 'transformer'), { recursive: true });
    assert.throws(() => open(swapped), /is not a Flux transformer checkpoint: it looks like a T5 encoder/);

    // the autoencoder given as the transformer checkpoint
    const base = await tinyFolder();
    assert.throws(
      () => open(base, { checkpoint: join(base, 'vae/diffusion_pytorch_model.safetensors') }),
      /is not a Flux transformer checkpoint: it looks like a Flux autoencoder/,
    );

    // a Stable Diffusion UNet
    const unet = join(tmp, 'unet.safetensors');
    writeSafetensors(unet, {
      'model.diffusion_model.input_blocks.0.0.weight': {
        dtype: 'F32',
        shape: [4, 4],
        data: new Float32Array(16),
      },
      'model.diffusion_model.input_blocks.1.0.in_layers.0.weight': {
        dtype: 'F32',
        shape: [4],
        data: new Float32Array(4),
      },
    });
    assert.throws(
      () => open(base, { checkpoint: unet }),
      /is not a Flux transformer checkpoint: it looks like a Stable Diffusion UNet/,
    );

    // CLIP and T5 folders exchanged
    assert.throws(
      () => open(base, { clip: join(base, 'text_encoder_2') }),
      /is not a CLIP text encoder checkpoint: it looks like a T5 encoder/,
    );
  });

  it('rejects a tokenizer that does not fit its encoder', async () => {
    // T5's slot gets a CLIP tokenizer (250 ids) for a 384-row embedding table
    const dir = await tinyFolderCopy();
    const vocab = JSON.parse(readFileSync(join(dir, 'tokenizer/vocab.json'), 'utf8'));
    const merges = readFileSync(join(dir, 'tokenizer/merges.txt'), 'utf8');
    writeFileSync(join(dir, 'tokenizer_2/tokenizer.json'), JSON.stringify(clipTokenizerJson(vocab, merges)));
    writeFileSync(
      join(dir, 'tokenizer_2/tokenizer_config.json'),
      JSON.stringify({ pad_token: '<|endoftext|>' }),
    );
    assert.throws(
      () => open(dir),
      /the tokenizer in .*tokenizer_2 does not match the T5 encoder .*: it has 250 tokens but the encoder's embedding table has 384 rows/,
    );
    // CLIP's slot gets the T5 tokenizer (356 ids) for 250 rows
    const dir2 = await tinyFolderCopy();
    const base = await tinyFolder();
    assert.throws(
      () => open(dir2, { clipTokenizer: join(base, 'tokenizer_2') }),
      /does not match the CLIP encoder .*: it has 356 tokens but the encoder's embedding table has 250 rows/,
    );
  });

  it('rejects components that do not belong together', async () => {
    const other = pipelinePreset('tiny');
    other.t5 = { ...other.t5, d_model: 40 };
    other.transformer = { ...other.transformer, context_in_dim: 40 };
    const wide = await writeRandomFluxFolder(join(tmp, 'other-t5'), { preset: other });
    const base = await tinyFolder();
    assert.throws(
      () => open(base, { t5: join(wide.dir, 'text_encoder_2') }),
      /do not belong together: the transformer .* takes 48-wide text tokens but the T5 encoder .* makes 40-wide ones/,
    );
  });

  it('finds the single-file release: flux1-*.safetensors and ae.safetensors with the encoders beside', async () => {
    const p = pipelinePreset('tiny');
    const base = await tinyFolder();
    const dir = join(tmp, 'single-file');
    mkdirSync(dir, { recursive: true });
    for (const sub of ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2'])
      cpSync(join(base, sub), join(dir, sub), { recursive: true });
    // the tiny head dim (32) cannot be inferred from shapes, so the config travels as metadata
    await writeShard({
      path: join(dir, 'flux1-schnell.safetensors'),
      seed: 0,
      tensors: [...fluxStoredShapes(p.transformer, 'original')].map(([key, shape]) => ({ key, shape })),
      metadata: { config: JSON.stringify(p.transformer) },
    });
    await writeShard({
      path: join(dir, 'ae.safetensors'),
      seed: 0,
      tensors: [...aeDecoderShapes(p.ae, 'original')].map(([key, shape]) => ({ key, shape })),
    });
    const byDir = locateFlux({ modelDir: dir });
    assert.equal(byDir.transformer.weights, join(dir, 'flux1-schnell.safetensors'));
    assert.equal(byDir.ae.weights, join(dir, 'ae.safetensors'));
    assert.equal(byDir.t5.tokenizer, join(dir, 'tokenizer_2'));
    const byFile = locateFlux({ checkpoint: join(dir, 'flux1-schnell.safetensors') });
    assert.deepEqual(byFile, { ...byDir, pipelineClass: undefined });
    const c = openFluxFolder(byFile);
    assert.equal(c.transformerConfig.hidden_size, 64);
    assert.deepEqual(c.aeConfig.level_channels, [32, 32, 64, 64]);
    // encoders given as folders elsewhere
    const apart = join(tmp, 'single-file-apart');
    mkdirSync(apart);
    cpSync(join(dir, 'flux1-schnell.safetensors'), join(apart, 'flux1-schnell.safetensors'));
    assert.throws(
      () => locateFlux({ checkpoint: join(apart, 'flux1-schnell.safetensors') }),
      /vae\/ \(the autoencoder\) or .*ae\.safetensors/,
    );
    const given = locateFlux({
      checkpoint: join(apart, 'flux1-schnell.safetensors'),
      ae: join(dir, 'ae.safetensors'),
      clip: base,
      t5: join(base, 'text_encoder_2'),
    });
    assert.equal(given.clip.weights, join(base, 'text_encoder'));
    assert.equal(given.clip.tokenizer, join(base, 'tokenizer'));
    assert.equal(given.t5.tokenizer, join(base, 'tokenizer_2'));
  });
});
