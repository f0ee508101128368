// Locating an SDXL model's components (src/pipeline/sdxl-layout.ts) and telling SDXL from FLUX.1
// (pipeline-family.ts): the diffusers folder, the single-file release with its tokenizers beside it, a
// single file holding only the UNet with the rest in subfolders, --vae from elsewhere, and every missing
// piece named at once. The weights here are stubs (one tensor of each component under its real name):
// locating reads names only.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { sdxlSingleFileParts } from '../../src/models/detect.js';
import { locateSdxl, pipelineFamily, SdxlFolderError } from '../../src/pipeline/model-folder.js';
import { SDXL_SCHEDULER_CONFIG } from '../../src/schedulers/discrete.js';
import { syntheticClipTokenizer } from '../../src/text/synthetic-tokenizers.js';
import { tinyFolder } from './tiny-folder.js';

const tmp = mkdtempSync(join(tmpdir(), 'toma-sdxl-layout-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The real release's configs (models/configs/stable-diffusion-xl-base-1.0). */
const RELEASE = new URL('../../../models/configs/stable-diffusion-xl-base-1.0/', import.meta.url);
const releaseJson = (rel: string) => readFileSync(new URL(rel, RELEASE), 'utf8');

const stub = (path: string, keys: string[]) =>
  writeSafetensors(
    path,
    Object.fromEntries(
      keys.map((k) => [k, { dtype: 'F16' as const, shape: [2], data: new Float32Array(2) }]),
    ),
  );

const DIFFUSERS_KEYS = {
  unet: ['conv_in.weight', 'down_blocks.0.resnets.0.conv1.weight', 'add_embedding.linear_1.weight'],
  text_encoder: [
    'text_model.embeddings.token_embedding.weight',
    'text_model.encoder.layers.0.self_attn.q_proj.weight',
  ],
  text_encoder_2: ['text_model.embeddings.token_embedding.weight', 'text_projection.weight'],
  vae: ['decoder.conv_in.weight', 'decoder.up_blocks.0.resnets.0.conv1.weight', 'post_quant_conv.weight'],
} as const;

const SINGLE_KEYS = [
  'model.diffusion_model.input_blocks.0.0.weight',
  'model.diffusion_model.label_emb.0.0.weight',
  'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight',
  'conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight',
  'conditioner.embedders.1.model.text_projection',
  'first_stage_model.decoder.conv_in.weight',
  'first_stage_model.post_quant_conv.weight',
];

function writeTokenizer(dir: string, release: 'tokenizer' | 'tokenizer_2') {
  mkdirSync(dir, { recursive: true });
  const t = syntheticClipTokenizer(300, { seed: 7 });
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(t.vocab));
  writeFileSync(join(dir, 'merges.txt'), t.merges);
  writeFileSync(join(dir, 'tokenizer_config.json'), releaseJson(`${release}/tokenizer_config.json`));
}

/** A diffusers-layout SDXL folder with the release's JSON files and stub weights. */
function diffusersFolder(name: string): string {
  const dir = join(tmp, name);
  for (const [sub, keys] of Object.entries(DIFFUSERS_KEYS)) {
    mkdirSync(join(dir, sub), { recursive: true });
    const file = sub.startsWith('text_encoder') ? 'model.safetensors' : 'diffusion_pytorch_model.safetensors';
    stub(join(dir, sub, file), [...keys]);
    writeFileSync(join(dir, sub, 'config.json'), releaseJson(`${sub}/config.json`));
  }
  writeTokenizer(join(dir, 'tokenizer'), 'tokenizer');
  writeTokenizer(join(dir, 'tokenizer_2'), 'tokenizer_2');
  mkdirSync(join(dir, 'scheduler'));
  writeFileSync(join(dir, 'scheduler/scheduler_config.json'), releaseJson('scheduler/scheduler_config.json'));
  writeFileSync(join(dir, 'model_index.json'), releaseJson('model_index.json'));
  return dir;
}

/** sd_xl_base_1.0.safetensors (stub) with tokenizer/ and tokenizer_2/ beside it. */
function singleFileFolder(
  name: string,
  tokenizers: ('tokenizer' | 'tokenizer_2')[] = ['tokenizer', 'tokenizer_2'],
) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  stub(join(dir, 'sd_xl_base_1.0.safetensors'), SINGLE_KEYS);
  for (const t of tokenizers) writeTokenizer(join(dir, t), t);
  return dir;
}

const missingError =
  (re: RegExp[], not: RegExp[] = []) =>
  (e: Error) => {
    assert.ok(e instanceof SdxlFolderError, `${e.name}: ${e.message}`);
    assert.match(e.message, /incomplete SDXL model, missing:/);
    for (const r of re) assert.match(e.message, r);
    for (const r of not) assert.doesNotMatch(e.message, r);
    return true;
  };

describe('SDXL model folders', () => {
  it('the diffusers folder: every component, its config, the scheduler and model_index defaults', () => {
    const dir = diffusersFolder('diffusers');
    const f = locateSdxl({ modelDir: dir });
    assert.equal(f.layout, 'diffusers');
    assert.equal(f.pipelineClass, 'StableDiffusionXLPipeline');
    assert.equal(f.forceZerosForEmptyPrompt, true);
    assert.deepEqual(f.scheduler, SDXL_SCHEDULER_CONFIG);
    assert.equal(f.unet.weights, join(dir, 'unet'));
    assert.equal(f.unet.prefix, '');
    assert.equal(f.unet.config.cross_attention_dim, 2048);
    assert.equal(f.clipL.config.hidden_act, 'quick_gelu');
    assert.equal(f.clipG.config.hidden_act, 'gelu');
    assert.equal(f.vae.config.scaling_factor, 0.13025);
    assert.deepEqual(f.clipL.tokenizer, { dir: join(dir, 'tokenizer') });
    assert.deepEqual(f.clipG.tokenizer, { dir: join(dir, 'tokenizer_2') });
    assert.equal(pipelineFamily({ modelDir: dir }), 'sdxl');
  });

  it('names every missing piece of a diffusers folder at once', () => {
    const dir = join(tmp, 'broken');
    cpSync(diffusersFolder('broken-src'), dir, { recursive: true });
    rmSync(join(dir, 'text_encoder_2'), { recursive: true });
    rmSync(join(dir, 'tokenizer'), { recursive: true });
    rmSync(join(dir, 'vae/diffusion_pytorch_model.safetensors'));
    assert.throws(
      () => locateSdxl({ modelDir: dir }),
      missingError(
        [
          /text_encoder_2\/ \(the OpenCLIP ViT-bigG text encoder\)/,
          /tokenizer\/ \(the tokenizer of the CLIP ViT-L text encoder/,
          /vae\/ \(the VAE\) holds no weights/,
        ],
        [/unet/, /tokenizer_2/],
      ),
    );
  });

  it('a bad scheduler config is named in the list', () => {
    const dir = join(tmp, 'bad-scheduler');
    cpSync(diffusersFolder('bad-scheduler-src'), dir, { recursive: true });
    const p = join(dir, 'scheduler/scheduler_config.json');
    writeFileSync(
      p,
      JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), prediction_type: 'v_prediction' }),
    );
    assert.throws(
      () => locateSdxl({ modelDir: dir }),
      missingError([/prediction_type "v_prediction" is not supported/]),
    );
  });

  it('rejects another pipeline class (refiner, SD 1.x) with the supported ones named', () => {
    const dir = join(tmp, 'refiner');
    cpSync(diffusersFolder('refiner-src'), dir, { recursive: true });
    const idx = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8'));
    writeFileSync(
      join(dir, 'model_index.json'),
      JSON.stringify({ ...idx, _class_name: 'StableDiffusionXLImg2ImgPipeline' }),
    );
    assert.throws(
      () => locateSdxl({ modelDir: dir }),
      /describes a StableDiffusionXLImg2ImgPipeline, not an SDXL text-to-image pipeline/,
    );
    writeFileSync(
      join(dir, 'model_index.json'),
      JSON.stringify({ ...idx, _class_name: 'StableDiffusionPipeline' }),
    );
    assert.throws(
      () => pipelineFamily({ modelDir: dir }),
      /describes a StableDiffusionPipeline; supported: FluxPipeline \(FLUX\.1\) and StableDiffusionXLPipeline/,
    );
  });

  it('force_zeros_for_empty_prompt false in model_index.json is honoured', () => {
    const dir = join(tmp, 'no-zeros');
    cpSync(diffusersFolder('no-zeros-src'), dir, { recursive: true });
    const idx = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8'));
    writeFileSync(
      join(dir, 'model_index.json'),
      JSON.stringify({ ...idx, force_zeros_for_empty_prompt: false }),
    );
    assert.equal(locateSdxl({ modelDir: dir }).forceZerosForEmptyPrompt, false);
  });

  it('the single-file release: each part under its prefix, SDXL scheduler defaults', () => {
    const dir = singleFileFolder('single');
    const file = join(dir, 'sd_xl_base_1.0.safetensors');
    for (const o of [{ modelDir: dir }, { checkpoint: file }]) {
      const f = locateSdxl(o);
      assert.equal(f.layout, 'single-file');
      assert.deepEqual(
        [f.unet, f.clipL, f.clipG, f.vae].map((c) => [c.weights, c.prefix]),
        [
          [file, 'model.diffusion_model.'],
          [file, 'conditioner.embedders.0.transformer.'],
          [file, 'conditioner.embedders.1.model.'],
          [file, 'first_stage_model.'],
        ],
      );
      assert.deepEqual(f.scheduler, SDXL_SCHEDULER_CONFIG);
      assert.equal(f.pipelineClass, undefined);
      assert.equal(pipelineFamily(o), 'sdxl');
    }
  });

  it('a lone CLIP tokenizer serves both encoders, the second padding with "!"', () => {
    const dir = singleFileFolder('single-one-tokenizer', ['tokenizer']);
    const f = locateSdxl({ modelDir: dir });
    assert.deepEqual(f.clipG.tokenizer, { dir: join(dir, 'tokenizer'), padToken: '!' });
    const none = singleFileFolder('single-no-tokenizer', []);
    assert.throws(
      () => locateSdxl({ checkpoint: join(none, 'sd_xl_base_1.0.safetensors') }),
      missingError([
        /tokenizer\/ \(the tokenizer of the CLIP ViT-L text encoder: vocab\.json \+ merges\.txt\)/,
        /tokenizer_2\//,
      ]),
    );
    // given elsewhere
    const g = locateSdxl({
      checkpoint: join(none, 'sd_xl_base_1.0.safetensors'),
      clipTokenizer: join(dir, 'tokenizer'),
      clipGTokenizer: join(dir, 'tokenizer'),
    });
    assert.deepEqual(g.clipG.tokenizer, { dir: join(dir, 'tokenizer') });
    assert.throws(
      () => locateSdxl({ checkpoint: join(none, 'sd_xl_base_1.0.safetensors'), clipTokenizer: none }),
      /\(--clip-tokenizer\) has no tokenizer files/,
    );
  });

  it('a UNet-only single file takes the rest from the folder; --vae replaces the VAE', () => {
    const dir = diffusersFolder('mixed');
    const unet = join(tmp, 'my-sdxl-finetune.safetensors');
    stub(
      unet,
      SINGLE_KEYS.filter((k) => k.startsWith('model.diffusion_model.')),
    );
    const f = locateSdxl({ modelDir: dir, checkpoint: unet });
    assert.equal(f.layout, 'mixed');
    assert.deepEqual([f.unet.weights, f.unet.prefix], [unet, 'model.diffusion_model.']);
    assert.equal(f.clipG.weights, join(dir, 'text_encoder_2'));
    assert.equal(pipelineFamily({ checkpoint: unet }), 'sdxl');

    const vaeDir = join(tmp, 'sdxl-vae-fp16-fix');
    mkdirSync(vaeDir);
    stub(join(vaeDir, 'diffusion_pytorch_model.safetensors'), [...DIFFUSERS_KEYS.vae]);
    writeFileSync(
      join(vaeDir, 'config.json'),
      JSON.stringify({ latent_channels: 4, scaling_factor: 0.13025 }),
    );
    const v = locateSdxl({ modelDir: dir, vae: vaeDir });
    assert.deepEqual([v.vae.weights, v.vae.prefix, v.vae.config.latent_channels], [vaeDir, '', 4]);
    const single = join(singleFileFolder('vae-from-single'), 'sd_xl_base_1.0.safetensors');
    const w = locateSdxl({ modelDir: dir, vae: single });
    assert.deepEqual([w.vae.weights, w.vae.prefix], [single, 'first_stage_model.']);
  });

  it('a UNet-only single file alone lists the text encoders and VAE it lacks', () => {
    const dir = join(tmp, 'unet-only');
    mkdirSync(dir);
    const unet = join(dir, 'unet.safetensors');
    stub(
      unet,
      SINGLE_KEYS.filter((k) => k.startsWith('model.diffusion_model.')),
    );
    assert.throws(
      () => locateSdxl({ checkpoint: unet }),
      missingError([
        /the CLIP ViT-L text encoder: neither in unet\.safetensors \(no "conditioner\.embedders\.0\.transformer\.…" tensors\) nor in .*text_encoder\//,
        /the VAE: neither in unet\.safetensors/,
      ]),
    );
    const other = join(dir, 'other.safetensors');
    stub(other, ['foo.weight']);
    assert.throws(
      () => locateSdxl({ checkpoint: other }),
      /holds no SDXL UNet under "model\.diffusion_model\."/,
    );
  });

  it('FLUX.1 folders and files are still told apart as FLUX.1', async () => {
    const flux = await tinyFolder();
    assert.equal(pipelineFamily({ modelDir: flux }), 'flux');
    assert.equal(
      pipelineFamily({ checkpoint: join(flux, 'transformer/diffusion_pytorch_model.safetensors') }),
      'flux',
    );
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    assert.equal(
      pipelineFamily({ modelDir: empty }),
      'flux',
      'nothing says SDXL: FLUX.1 lists what is missing',
    );
    assert.throws(
      () => pipelineFamily({ modelDir: join(tmp, 'nope') }),
      /--model-dir .*nope: no such file or folder/,
    );
  });

  it('detect: the single-file parts by prefix', () => {
    assert.deepEqual(sdxlSingleFileParts(SINGLE_KEYS), ['unet', 'clipL', 'clipG', 'vae']);
    assert.deepEqual(sdxlSingleFileParts(SINGLE_KEYS.slice(0, 2)), ['unet']);
    assert.deepEqual(sdxlSingleFileParts(['decoder.conv_in.weight']), []);
  });
});
