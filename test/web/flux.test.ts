// FLUX.1 from the user's disk in headless Chromium (WebGPU on SwiftShader): a tiny random-weight model
// folder whose transformer is a Q8_0 GGUF is opened through the page's folder picker, the page lists
// what it found and the adapter limits the model needs, and one small image is generated with dense
// and ToMA through the worker that reads the files tensor by tensor.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pipelinePreset } from '../../src/pipeline/flux-presets.js';
import { ggufFolderFrom } from '../pipeline/gguf-folder.js';
import { tinyFolder, tmp } from '../pipeline/tiny-folder.js';
import { browserSkip, type DemoBrowser, openDemo, pageWithErrors } from './chromium.js';

const skip = browserSkip('browser FLUX.1 test');

describe('browser demo: FLUX.1 from disk', { skip }, () => {
  let demo: DemoBrowser;
  let outDir: string;

  before(async () => {
    // its own output folder, so the demo test's build is never replaced under it
    outDir = mkdtempSync(join(tmpdir(), 'toma-web-flux-'));
    demo = await openDemo({ outDir, viewport: { width: 1000, height: 1600 } });
  });

  after(async () => {
    await demo?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('opens a folder with a Q8_0 GGUF transformer, states the limits it needs, and generates', async () => {
    const dir = ggufFolderFrom(
      await tinyFolder(),
      join(tmp, 'FLUX.1-tiny-gguf'),
      pipelinePreset('tiny').transformer,
      1,
    );
    const { page, errors } = await pageWithErrors(demo.context);
    await page.goto(demo.url);
    await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('body', 'data-state'), 'ready', errors.join('; '));
    assert.equal(await page.isDisabled('#source option[value="flux"]'), true, 'nothing opened yet');

    await page.setInputFiles('#flux-folder', dir);
    await page.waitForSelector('body[data-flux="opened"], body[data-flux="error"]', { timeout: 60_000 });
    const status = (await page.textContent('#flux-status')) ?? '';
    assert.equal(await page.getAttribute('body', 'data-flux'), 'opened', status);
    assert.match(
      status,
      /^FLUX\.1-schnell from FluxPipeline folder FLUX\.1-tiny-gguf: transformer 2 \+ 2 blocks of 64/,
    );
    const found = (await page.textContent('#flux-found')) ?? '';
    assert.match(
      found,
      /transformerFLUX\.1-tiny-gguf\/transformer\/flux1-tiny-Q8_0\.gguf \(GGUF\): \d+ tensors \(\d+ F32, \d+ Q8_0\)/,
    );
    assert.match(found, /T5 encoderFLUX\.1-tiny-gguf\/text_encoder_2 \(safetensors\)/);
    assert.match(found, /autoencoderFLUX\.1-tiny-gguf\/vae \(safetensors\)/);
    // the page states the adapter limits the model needs at the chosen size, and what this adapter has
    assert.equal(await page.inputValue('#source'), 'flux');
    assert.equal(await page.isVisible('#prompt'), true);
    assert.equal(await page.isVisible('#class'), false);
    const limits = (await page.textContent('#flux-limits')) ?? '';
    assert.match(
      limits,
      /Adapter limits this model needs at 32×32 px \((f16|f32)\): this adapter has them\./,
    );
    assert.match(limits, /maxStorageBufferBindingSize ≥ \d+ MiB \(.*\); this adapter: [\d.]+ [MG]iB ✓/);
    assert.match(limits, /maxBufferSize ≥ \d+ MiB .*✓/);
    assert.match(limits, /about \d+ MiB of GPU memory at a time at 32×32 \(weights .* \+ activations .*\)/);

    await page.fill('#prompt', 'a tiny red fox');
    await page.fill('#seed', '3');
    assert.equal(await page.inputValue('#size'), '32', 'a software adapter starts small');
    assert.equal(await page.inputValue('#steps'), '2');
    await page.selectOption('#method', 'toma');
    await page.fill('#ratio', '0.5');
    await page.selectOption('#cache', 'none');
    await page.setChecked('#compare', true);
    await page.setChecked('#warmup', false);
    await page.click('#generate');
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
    assert.equal(
      await page.getAttribute('body', 'data-state'),
      'done',
      `generation failed: ${await page.textContent('#progress-text')} ${errors.join('; ')}`,
    );
    assert.match(
      (await page.textContent('#progress-text')) ?? '',
      /^Done\. dense: 2\/2 steps in [\d.]+ m?s; toma 0\.5: 2\/2 steps in [\d.]+ m?s\.$/,
    );
    const stats = await page.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLCanvasElement>('figure[data-method] canvas.image')).map(
        (c) => {
          const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          let s = 0;
          let s2 = 0;
          let n = 0;
          for (let i = 0; i < d.length; i += 4)
            for (let k = 0; k < 3; k++) {
              s += d[i + k]!;
              s2 += d[i + k]! * d[i + k]!;
              n++;
            }
          return {
            method: c.closest('figure')!.dataset.method,
            w: c.width,
            h: c.height,
            variance: s2 / n - (s / n) ** 2,
          };
        },
      ),
    );
    assert.deepEqual(
      stats.map((s) => [s.method, s.w, s.h]),
      [
        ['dense', 32, 32],
        ['toma', 32, 32],
      ],
    );
    for (const s of stats)
      assert.ok(s.variance > 1, `${s.method} image is not blank (variance ${s.variance})`);
    const rows = await page.$$eval('#timings tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    assert.equal(rows.length, 2);
    assert.deepEqual(errors, [], 'no errors in the page');
    await page.close();
  });
});
