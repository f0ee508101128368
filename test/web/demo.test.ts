// End to end in headless Chromium: builds the demo with Vite, serves it, and generates dense vs ToMA
// on WebGPU (SwiftShader here and in CI) at a tiny size; checks the images are not blank, the timing
// table and the destination map appear (beside the ToMA image, never over it), every select shows its
// whole choice on a wide and a phone-sized screen, the progress line shows the last step on screen
// before the finished state, and that a browser without WebGPU gets a plain message.
// The screenshot goes to out/web-demo.png, and to docs/screenshot.png with TOMA_UPDATE_SCREENSHOT=1.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { browserSkip, chromiumPath, type DemoBrowser, openDemo, pageWithErrors, root } from './chromium.js';

const skip = browserSkip('browser demo test');

describe('browser demo (web/)', { skip }, () => {
  let demo: DemoBrowser;
  let url: string;

  before(async () => {
    assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (TOMA_REQUIRE_GPU=1 requires it)`);
    demo = await openDemo({ viewport: { width: 1000, height: 1400 } });
    url = demo.url;
    assert.match(url, /^http:\/\/(127\.0\.0\.1|localhost):\d+\/$/, 'the preview server reports its URL');
  });

  after(async () => {
    await demo?.close();
  });

  async function open(init?: () => void): Promise<{ page: Page; errors: string[] }> {
    const { page, errors } = await pageWithErrors(demo.context);
    if (init) await page.addInitScript(init);
    await page.goto(url);
    return { page, errors };
  }

  /** Selects whose closed box is narrower than their widest option (the choice is cut off), and page overflow. */
  async function cutOff(page: Page): Promise<{ selects: string[]; pageOverflow: number }> {
    return page.evaluate(() => {
      const selects = Array.from(document.querySelectorAll<HTMLSelectElement>('#controls select')).flatMap(
        (s) => {
          // a select's scrollWidth never exceeds its box, so compare with its natural width instead:
          // an unstretched copy beside it (same font), as wide as its widest option
          const natural = s.cloneNode(true) as HTMLSelectElement;
          natural.style.cssText = 'position: absolute; visibility: hidden; width: auto;';
          s.after(natural);
          const need = natural.offsetWidth;
          natural.remove();
          return s.offsetWidth < need ? [`#${s.id} is ${s.offsetWidth} px wide, needs ${need} px`] : [];
        },
      );
      const d = document.documentElement;
      return { selects, pageOverflow: d.scrollWidth - d.clientWidth };
    });
  }

  it('finds WebGPU, loads the model, generates dense vs ToMA and shows times, PSNR and the map', async () => {
    const { page, errors } = await open();
    await page.waitForSelector(
      'body[data-state="ready"], body[data-state="error"], body[data-state="unsupported"]',
      {
        timeout: 60_000,
      },
    );
    assert.equal(
      await page.getAttribute('body', 'data-state'),
      'ready',
      `page did not get ready: ${await page.textContent('#progress-text')} ${await page.textContent('#gpu-status')} ${errors.join('; ')}`,
    );
    const caps = await page.textContent('#caps');
    for (const label of ['adapter', 'shader-f16', 'subgroup matrices', 'matmul kernels', 'attention kernels'])
      assert.ok(caps?.includes(label), `capabilities list ${label}`);
    assert.match(caps ?? '', /matmul kernels(SIMT|subgroup matrices)/);
    assert.equal(await page.locator('#class option').count(), 38, 'the 38 classes (null excluded)');

    // every select shows its whole choice, on this screen and on a phone's (the layout is fluid)
    for (const width of [1000, 390]) {
      await page.setViewportSize({ width, height: 1400 });
      for (const [sel, value] of [
        ['#method', 'todo'],
        ['#cache', 'taylorseer:3'],
        ['#class', null],
      ] as const) {
        if (value) await page.selectOption(sel, value);
        const { selects, pageOverflow } = await cutOff(page);
        assert.deepEqual(selects, [], `at ${width} px, with ${sel} = ${value ?? 'its default'}`);
        assert.ok(pageOverflow <= 0, `at ${width} px the page scrolls sideways by ${pageOverflow} px`);
      }
      assert.match((await page.textContent('#cache-help')) ?? '', /^TaylorSeer .* every 3rd step/);
      assert.match((await page.textContent('#method-help')) ?? '', /^ToDo /);
    }
    await page.setViewportSize({ width: 1000, height: 1400 });
    await page.selectOption('#cache', 'fora:2');

    // the documented defaults (README, "Defaults"): ToMA 0.25 on every 3rd step with FORA every 2nd step
    assert.equal(await page.inputValue('#ratio'), '0.25');
    assert.equal(await page.inputValue('#merge-every'), '3');
    assert.equal(await page.inputValue('#cache'), 'fora:2');
    await page.selectOption('#size', '16');
    await page.fill('#steps', '2');
    await page.selectOption('#method', 'toma');
    await page.fill('#ratio', '0.5'); // the destination map below expects half the tokens kept
    await page.setChecked('#compare', true);
    await page.setChecked('#warmup', false); // keep the test short; compilation then lands in step 1
    // what the progress line showed in rendered frames (a text replaced before a paint is never seen)
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      const el = document.getElementById('progress-text')!;
      const sample = () => {
        const t = el.textContent ?? '';
        if (seen.at(-1) !== t) seen.push(t);
        const state = document.body.dataset.state;
        if (state !== 'done' && state !== 'error') requestAnimationFrame(sample);
      };
      requestAnimationFrame(sample);
    });
    await page.click('#generate');
    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 200_000 });
    assert.equal(
      await page.getAttribute('body', 'data-state'),
      'done',
      `generation failed: ${await page.textContent('#progress-text')} ${errors.join('; ')}`,
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
          const method = c.closest('figure')!.getAttribute('data-method');
          return { method, w: c.width, h: c.height, variance: s2 / n - (s / n) ** 2 };
        },
      ),
    );
    assert.deepEqual(
      stats.map((s) => [s.method, s.w, s.h]),
      [
        ['dense', 16, 16],
        ['toma', 16, 16],
      ],
    );
    for (const s of stats)
      assert.ok(s.variance > 25, `${s.method} image is not blank (variance ${s.variance})`);

    const rows = await page.$$eval('#timings tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')),
    );
    assert.equal(rows.length, 2, 'a timing row per method');
    assert.match(rows[0]![0]!, /^dense/);
    assert.match(rows[1]![0]!, /^toma 0\.5 \+ fora 2/);
    for (const r of rows) assert.equal(r[3]!.trim().split(/\s+/).length, 2, `two step times: ${r[3]}`);
    assert.match(rows[1]![4]!, /^\d+\.\d\d×$/, 'speed-up');
    assert.match(rows[1]![5]!, /^(\d+\.\d dB|∞ \(identical\))$/, 'PSNR');

    // the progress line: each run's steps up to N/N on screen, then the finished state naming both
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const shown = (re: RegExp) => seen.findIndex((t) => re.test(t));
    const last = shown(/toma 0\.5 \+ fora 2: step 2\/2 \(/);
    assert.ok(last >= 0, `the last step was on screen: ${seen.join(' | ')}`);
    assert.ok(
      shown(/dense: step 1\/2 \(.*about .* left\)/) >= 0,
      `a step shows the time left: ${seen.join(' | ')}`,
    );
    assert.ok(shown(/^dense: 2\/2 steps in .* · running toma 0\.5 \+ fora 2…$/) >= 0, 'dense stays done');
    assert.ok(shown(/toma 0\.5 \+ fora 2: step 1\/2 \(/) < last, 'the steps count up');
    assert.match(
      (await page.textContent('#progress-text')) ?? '',
      /^Done\. dense: 2\/2 steps in [\d.]+ m?s; toma 0\.5 \+ fora 2: 2\/2 steps in [\d.]+ m?s\.$/,
    );
    assert.equal(await page.getAttribute('#progress', 'value'), '1');

    // the destination map: on by default, in its own figure beside the ToMA image, which stays uncovered
    assert.equal(await page.isChecked('#show-map'), true);
    const layout = await page.evaluate(() => {
      const toma = document.querySelector<HTMLCanvasElement>('figure[data-method="toma"] canvas.image')!;
      const map = document.querySelector<HTMLCanvasElement>('figure[data-role="map"] canvas.map');
      toma.scrollIntoView({ block: 'center' }); // elementFromPoint sees only the viewport
      const a = toma.getBoundingClientRect();
      const b = map?.getBoundingClientRect();
      const top = document.elementFromPoint(a.x + a.width / 2, a.y + a.height / 2);
      return {
        canvasesInToma: toma.closest('figure')!.querySelectorAll('canvas').length,
        tomaOnTop: top === toma,
        overlap: b
          ? Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
            Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top))
          : null,
        sameRow: b ? Math.abs(a.top - b.top) < 1 : null,
      };
    });
    assert.deepEqual(layout, { canvasesInToma: 1, tomaOnTop: true, overlap: 0, sameRow: true });
    const map = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('figure[data-role="map"] canvas.map');
      if (!c) return null;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let shaded = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) shaded++;
      return { shaded: shaded / (d.length / 4), caption: c.closest('figure')!.textContent };
    });
    assert.ok(map, 'a destination map figure');
    assert.match(
      map.caption ?? '',
      /^toma 0\.5 \+ fora 2, destination map: 32 of 64 tokens kept as destinations/,
    );
    assert.ok(map.shaded > 0.3 && map.shaded < 0.8, `about half the map is shaded (${map.shaded})`);
    // turned off and on again without a new run
    await page.setChecked('#show-map', false);
    assert.equal(await page.locator('figure[data-role="map"]').count(), 0);
    assert.equal(await page.isVisible('#map-legend'), false);
    assert.equal(await page.locator('figure[data-method] canvas.image').count(), 2, 'both images stay');
    await page.setChecked('#show-map', true);
    assert.equal(await page.locator('figure[data-role="map"]').count(), 1);
    assert.equal(await page.isVisible('#map-legend'), true);

    mkdirSync(join(root, 'out'), { recursive: true });
    await page.screenshot({ path: join(root, 'out/web-demo.png'), fullPage: true });
    if (process.env.TOMA_UPDATE_SCREENSHOT === '1')
      await page.screenshot({ path: join(root, 'docs/screenshot.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no errors in the page');
    await page.close();
  });

  it('says plainly when the browser has no WebGPU, and offers no controls', async () => {
    const { page } = await open(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });
    });
    await page.waitForSelector('body[data-state="unsupported"]', { timeout: 30_000 });
    assert.match((await page.textContent('#unsupported')) ?? '', /This browser has no WebGPU/);
    assert.equal(await page.isVisible('#controls'), false);
    assert.equal(await page.isVisible('#generate'), false);
    await page.close();
  });
});
