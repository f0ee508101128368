// FLUX.1 from a list of picked files (the browser's path, run here over files read into memory): the
// folder rules agree with locateFlux on disk for every layout, the components opened through the file
// list load the same weights (a GGUF transformer kept quantized) and make the same image on the CPU as
// those opened from disk, and picked extra files (a GGUF, ae.safetensors) are placed as the CLI's
// --checkpoint and --ae would place them.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { bytesFile } from '../../src/io/sync-file.js';
import { fluxParamBytes } from '../../src/models/flux/memory.js';
import { openFluxFolder } from '../../src/pipeline/flux-components.js';
import {
  fluxFileList,
  openFluxFileList,
  PICKED_FILES,
  type PickedFile,
  summarizeFluxFiles,
} from '../../src/pipeline/flux-file-list.js';
import { locateFluxIn } from '../../src/pipeline/flux-layout.js';
import { runFluxPipeline } from '../../src/pipeline/flux-pipeline.js';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { type FluxLocations, locateFlux } from '../../src/pipeline/model-folder.js';
import { cpu } from '../helpers.js';
import { ggufFolderFrom, writeRandomGgufTransformer } from './gguf-folder.js';
import { tinyFolder, tmp } from './tiny-folder.js';

const config = pipelinePreset('tiny').transformer;

/** Every file under `dir`, as a folder picker gives them: paths under dir's parent. */
function picked(dir: string): PickedFile[] {
  const out: PickedFile[] = [];
  const base = join(dir, '..');
  (function walk(d: string) {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: relative(base, p), file: bytesFile(readFileSync(p)) });
    }
  })(dir);
  return out;
}

const file = (path: string): PickedFile => ({
  path: path.split('/').at(-1)!,
  file: bytesFile(readFileSync(path)),
});

let n = 0;
const fresh = (name: string) => {
  const d = join(tmp, `list-${n++}`, name);
  mkdirSync(join(d, '..'), { recursive: true });
  return d;
};

/** locateFlux on disk with paths made relative to `base`, for comparing with the tree's. */
function onDisk(o: FluxLocations, base: string) {
  const r = locateFlux(o);
  return JSON.parse(JSON.stringify(r).replaceAll(`${base}/`, ''));
}

describe('FLUX.1 from picked files', () => {
  it('resolves every folder layout as locateFlux does on disk', async () => {
    const diffusers = fresh('FLUX.1-tiny');
    cpSync(await tinyFolder(), diffusers, { recursive: true });
    const gguf = ggufFolderFrom(await tinyFolder(), fresh('gguf-tiny'), config);
    // the single-file layout: flux1-*.gguf and ae.safetensors at the top, the encoders in their folders
    const single = fresh('single');
    cpSync(await tinyFolder(), single, { recursive: true });
    rmSync(join(single, 'transformer'), { recursive: true });
    writeRandomGgufTransformer(join(single, 'flux1-tiny-Q8_0.gguf'), config, { embedConfig: true });
    renameSync(join(single, 'vae', 'diffusion_pytorch_model.safetensors'), join(single, 'ae.safetensors'));
    rmSync(join(single, 'vae'), { recursive: true });
    for (const dir of [diffusers, gguf, single]) {
      const base = join(dir, '..');
      const { tree, locations } = fluxFileList(picked(dir));
      assert.deepEqual(locations, { modelDir: relative(base, dir) });
      assert.deepEqual(locateFluxIn(tree, locations), onDisk({ modelDir: dir }, base), dir);
    }
    // a missing piece is named the same way
    const broken = fresh('broken');
    cpSync(await tinyFolder(), broken, { recursive: true });
    rmSync(join(broken, 'tokenizer_2'), { recursive: true });
    const { tree, locations } = fluxFileList(picked(broken));
    const base = join(broken, '..');
    assert.throws(
      () => locateFlux({ modelDir: broken }),
      (e: Error) => {
        assert.throws(
          () => locateFluxIn(tree, locations),
          (e2: Error) => e2.message === e.message.replaceAll(`${base}/`, ''),
        );
        return /missing: .*tokenizer_2/.test(e.message);
      },
    );
  });

  it('places a picked transformer and ae.safetensors as --checkpoint and --ae', async () => {
    const dir = fresh('FLUX.1-tiny');
    cpSync(await tinyFolder(), dir, { recursive: true });
    const extra = fresh('downloads');
    mkdirSync(extra);
    writeRandomGgufTransformer(join(extra, 'flux1-tiny-Q8_0.gguf'), config, { embedConfig: true });
    const { locations } = fluxFileList(picked(dir), [file(join(extra, 'flux1-tiny-Q8_0.gguf'))]);
    assert.deepEqual(locations, {
      modelDir: 'FLUX.1-tiny',
      checkpoint: `${PICKED_FILES}/flux1-tiny-Q8_0.gguf`,
    });
    const { files, components, tree } = openFluxFileList(picked(dir), [
      file(join(extra, 'flux1-tiny-Q8_0.gguf')),
    ]);
    assert.equal(files.transformer.weights, `${PICKED_FILES}/flux1-tiny-Q8_0.gguf`);
    assert.equal(files.ae.weights, 'FLUX.1-tiny/vae');
    assert.deepEqual(components.transformerConfig, config);
    const summary = summarizeFluxFiles(tree, files, 2);
    assert.deepEqual(
      summary.map((s) => [s.component, s.format]),
      [
        ['transformer', 'GGUF'],
        ['T5 encoder', 'safetensors'],
        ['CLIP encoder', 'safetensors'],
        ['autoencoder', 'safetensors'],
      ],
    );
    assert.ok(summary[0]!.types.Q8_0! > 0 && summary[0]!.types.F32! > 0, JSON.stringify(summary[0]!.types));
    // Q8_0 takes 34 bytes per 32 values on the device, less than f16
    assert.ok(summary[0]!.deviceBytes < fluxParamBytes(config, 2).bytes);
    assert.equal(summary[1]!.path, 'FLUX.1-tiny/text_encoder_2');

    assert.throws(
      () =>
        fluxFileList(picked(dir), [
          file(join(extra, 'flux1-tiny-Q8_0.gguf')),
          { path: 'flux1-other.safetensors', file: bytesFile(new Uint8Array(8)) },
        ]),
      /several transformer files were picked \(flux1-tiny-Q8_0\.gguf, flux1-other\.safetensors\)/,
    );
    assert.throws(() => fluxFileList([]), /choose a FLUX\.1 model folder/);
    assert.throws(
      () =>
        fluxFileList([
          { path: 'a/x.json', file: bytesFile(new Uint8Array(0)) },
          { path: 'b/y.json', file: bytesFile(new Uint8Array(0)) },
        ]),
      /under several folders \(a, b\)/,
    );
  });

  it('loads the same models and makes the same image as the folder opened from disk (GGUF kept quantized)', async () => {
    const dir = ggufFolderFrom(await tinyFolder(), fresh('gguf-tiny'), config, 3);
    const fromList = openFluxFileList(picked(dir)).components;
    const fromDisk = openFluxFolder(locateFlux({ modelDir: dir }));
    const model = await fromList.loadTransformer(cpu, 'f32');
    try {
      assert.deepEqual([...model.params.quantized.keys()], ['Q8_0']);
      assert.ok((model.params.quantized.get('Q8_0') ?? 0) > 10, 'the matrices stay Q8_0');
    } finally {
      model.dispose();
    }
    const run = (components: typeof fromList) =>
      runFluxPipeline({
        be: cpu,
        components,
        dtype: 'f32',
        prompts: ['a tiny cat'],
        width: 32,
        height: 32,
        steps: 2,
        maxSequenceLength: 16,
        seed: 5,
      });
    const [a, b] = [await run(fromList), await run(fromDisk)];
    const img = a.outputs[0]!.images[0]!;
    assert.ok(img.every(Number.isFinite) && new Set(img).size > 100, 'a finite, non-flat image');
    assert.deepEqual(img, b.outputs[0]!.images[0]!);
  });
});
