// The figure writers: the comparison grid (valid PNG through our decoder, images placed and scaled,
// the destination overlay dimming merged-away tokens and drawing tile borders), the Pareto SVG
// (well-formed XML, one marker per point), the sample atlases (lossless round trip) and the labels.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { composeAtlas, planAtlases, splitAtlas } from '../../src/eval/atlas.js';
import { drawText, textWidth } from '../../src/eval/bitmap-font.js';
import { buildConfigs } from '../../src/eval/configs.js';
import { gridColumns, gridRatio, paretoFamily } from '../../src/eval/figures.js';
import { composeGrid } from '../../src/eval/grid.js';
import type { RgbImage } from '../../src/eval/image-metrics.js';
import { escapeXml, niceTicks, paretoSvg } from '../../src/eval/pareto-svg.js';
import { encodePng } from '../../src/io/png.js';
import { decodePng, toRgb } from '../../src/io/png-decode.js';

function solid(w: number, h: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) data.set(rgb, 3 * p);
  return { width: w, height: h, data };
}

function px(img: RgbImage, x: number, y: number): number[] {
  return Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
}

/** A small XML well-formedness check: balanced tags, quoted attributes, no stray '<' or '&'. */
function checkXml(s: string): { tags: Map<string, number> } {
  const body = s.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const tags = new Map<string, number>();
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  // biome-ignore lint/suspicious/noAssignInExpressions: the usual regex loop
  while ((m = re.exec(body))) {
    assert.equal(
      m.index,
      consumed,
      `unparseable markup at ${consumed}: ${body.slice(consumed, consumed + 40)}`,
    );
    consumed = m.index + m[0].length;
    if (m[5] !== undefined) {
      assert.ok(!/&(?!(lt|gt|amp|apos|quot);)/.test(m[5]), `bare & in text: ${m[5]}`);
      continue;
    }
    const [, close, name, , selfClose] = m;
    if (close) assert.equal(stack.pop(), name, `closing </${name}> without its opening tag`);
    else {
      tags.set(name!, (tags.get(name!) ?? 0) + 1);
      if (!selfClose) stack.push(name!);
    }
  }
  assert.equal(consumed, body.length, 'trailing unparsed text');
  assert.deepEqual(stack, [], 'unclosed tags');
  return { tags };
}

describe('comparison grid', () => {
  const red = solid(8, 8, [200, 0, 0]);
  const blue = solid(8, 8, [0, 0, 200]);

  it('writes a PNG our decoder reads back, with each image scaled into its cell', () => {
    const spec = {
      columns: ['dense', 'toma 0.5'],
      scale: 3,
      rows: [
        { label: 'seed 0 water', cells: [{ image: red }, { image: blue }] },
        { label: 'seed 1', cells: [{ image: blue }, { image: red }] },
      ],
    };
    const grid = composeGrid(spec);
    const png = encodePng(grid.data, grid.width, grid.height, 3, (r) => deflateSync(r));
    const back = decodePng(png, (z) => inflateSync(z));
    assert.deepEqual([back.width, back.height], [grid.width, grid.height]);
    assert.deepEqual(Array.from(toRgb(back)), Array.from(grid.data));
    // 2 columns of 24 px cells with 6 px padding
    assert.equal(grid.width, 6 + 2 * (24 + 6));
    // column 0 is red in row 0, column 1 red in row 1: 24 px tall each (8 px scaled 3x), in that order
    const redIn = (x: number) =>
      [...Array(grid.height).keys()].filter((y) => px(grid, x, y).join() === '200,0,0');
    const col0 = redIn(6 + 12);
    const col1 = redIn(6 + 30 + 12);
    assert.equal(col0.length, 24);
    assert.equal(col1.length, 24);
    assert.equal(col0.at(-1)! - col0[0]!, 23, 'one contiguous cell');
    assert.ok(col1[0]! > col0.at(-1)!, 'row 1 below row 0');
    assert.deepEqual(px(grid, 6 + 30 + 12, col0[0]!), [0, 0, 200], 'blue beside red in row 0');
  });

  it('dims the tokens that were not destinations and draws tile borders', () => {
    // 8x8 px image, 4x4 tokens of 2x2 px, tiles of 2x2 tokens: destinations = tokens 0 and 5
    const img = solid(8, 8, [100, 200, 40]);
    const grid = composeGrid({
      columns: ['toma dst'],
      scale: 1,
      rows: [
        { label: '', cells: [{ image: img, overlay: { destinations: [0, 5], rows: 4, cols: 4, tile: 2 } }] },
      ],
    });
    // locate the cell: its top-left is the first pixel equal to the kept colour
    let y0 = -1;
    for (let y = 0; y < grid.height && y0 < 0; y++) if (px(grid, 6, y).join() === '100,200,40') y0 = y;
    assert.ok(y0 > 0);
    const at = (x: number, y: number) => px(grid, 6 + x, y0 + y);
    assert.deepEqual(at(0, 0), [100, 200, 40], 'token 0 kept');
    assert.deepEqual(at(3, 3), [100, 200, 40], 'token 5 kept (row 1, col 1)');
    assert.deepEqual(at(2, 0), [35, 70, 14], 'token 1 dimmed');
    assert.deepEqual(at(4, 1), [255, 200, 0], 'tile border at x = 4 px');
    assert.deepEqual(at(1, 4), [255, 200, 0], 'tile border at y = 4 px');
    assert.throws(
      () =>
        composeGrid({
          columns: ['x'],
          scale: 1,
          rows: [
            {
              label: '',
              cells: [{ image: img, overlay: { destinations: [99], rows: 4, cols: 4, tile: 2 } }],
            },
          ],
        }),
      /destination 99 outside the grid/,
    );
  });

  it('picks ratio 0.5 (else the middle one) and puts the overlay column after ToMA', () => {
    const configs = buildConfigs(['toma', 'tomesd', 'todo', 'hilbert'], [0.25, 0.5, 0.75]);
    assert.deepEqual(
      configs.map((c) => c.label),
      [
        'dense',
        'toma 0.25',
        'toma 0.5',
        'toma 0.75',
        'tomesd 0.25',
        'tomesd 0.5',
        'tomesd 0.75',
        'todo',
        'hilbert',
      ],
    );
    assert.equal(gridRatio(configs), 0.5);
    assert.deepEqual(
      gridColumns(configs).map((c) => c.label),
      ['dense', 'toma 0.5', 'toma 0.5 dst', 'tomesd 0.5', 'todo', 'hilbert'],
    );
    assert.equal(gridRatio(buildConfigs(['toma'], [0.3, 0.6, 0.7])), 0.6);
    assert.throws(() => buildConfigs(['toma'], [1]), /ratios must be in \(0, 1\)/);
  });

  it('draws labels with the bitmap font', () => {
    const c = solid(40, 9, [0, 0, 0]);
    drawText(c, 1, 1, 'A1', [255, 255, 255]);
    assert.equal(textWidth('A1'), 11);
    const ink = Array.from({ length: 40 * 9 }, (_, p) => c.data[3 * p]).filter((v) => v === 255).length;
    assert.ok(ink > 10 && ink < 70, `${ink} inked pixels`);
    assert.deepEqual(px(c, 30, 4), [0, 0, 0], 'nothing drawn past the text');
  });
});

describe('pareto svg', () => {
  it('is well-formed XML with a marker per finite point, a line per multi-point series, escaped text', () => {
    const svg = paretoSvg({
      title: 'speed <vs> fidelity & co',
      yLabel: 'speedup',
      panels: [
        {
          title: 'psnr',
          xLabel: 'dB',
          better: 'higher',
          series: [
            {
              name: 'toma',
              points: [
                { x: 30, y: 1.2, label: '0.25' },
                { x: 25, y: 1.6, label: '0.5' },
                { x: 20, y: 2.1, label: '0.75' },
              ],
            },
            { name: 'todo', points: [{ x: 27, y: 1.3 }] },
          ],
        },
        {
          title: 'features',
          xLabel: 'dist',
          better: 'lower',
          series: [{ name: 'toma', points: [{ x: Number.NaN, y: 1 }] }],
        },
      ],
      notes: ['a "quoted" note'],
    });
    assert.ok(svg.startsWith('<?xml'));
    const { tags } = checkXml(svg);
    assert.equal(tags.get('svg'), 1);
    assert.equal(tags.get('circle'), 4, 'three toma points + one todo point; NaN skipped');
    assert.equal(tags.get('polyline'), 1);
    assert.ok(svg.includes('speed &lt;vs&gt; fidelity &amp; co'));
    assert.ok(svg.includes('not available'), 'an empty panel says so');
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });

  it('ticks are round numbers covering the range', () => {
    assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(12.3, 21.7), [14, 16, 18, 20]);
    assert.ok(niceTicks(5, 5).length >= 2);
  });
});

describe('sample atlases', () => {
  it('split(compose(rows)) gives back every image; plans stay under the byte limit', () => {
    const imgs = Array.from({ length: 3 }, (_, r) =>
      Array.from({ length: 4 }, (_, c) => ({
        width: 5,
        height: 3,
        data: Uint8Array.from({ length: 45 }, (_, i) => (r * 53 + c * 17 + i) % 256),
      })),
    );
    const atlas = composeAtlas(imgs);
    assert.deepEqual([atlas.width, atlas.height], [20, 9]);
    const back = splitAtlas(atlas, 3, 4, 5, 3);
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 4; c++)
        assert.deepEqual(Array.from(back[r]![c]!.data), Array.from(imgs[r]![c]!.data));
    assert.throws(() => splitAtlas(atlas, 3, 4, 5, 4), /not 3 x 4 images of 5x4/);
    const plan = planAtlases(64, 9, 128, 128, 12 * 1024 * 1024);
    assert.equal(plan.length, 3);
    assert.equal(
      plan.reduce((s, p) => s + p.count, 0),
      64,
    );
    for (const p of plan) assert.ok(p.count * 9 * 128 * 128 * 3 <= 12 * 1024 * 1024);
    assert.deepEqual(planAtlases(2, 9, 16, 16), [{ first: 0, count: 2 }]);
  });
});

describe('Pareto plot with many curves', () => {
  it('a configuration with its own merge schedule is its own curve', () => {
    assert.equal(paretoFamily({ label: 'toma 0.5', method: 'toma', ratio: 0.5 }), 'toma');
    assert.equal(
      paretoFamily({ label: 'x', method: 'toma', ratio: 0.5, schedule: { mergeEvery: 2 }, cache: 'fora:2' }),
      'toma every 2+fora',
    );
  });

  it('the legend wraps into rows inside the plot, and curves past 16 are dashed', () => {
    const series = Array.from({ length: 20 }, (_, i) => ({
      name: `a rather long family name ${i}`,
      points: [
        { x: i, y: 1 + i / 10 },
        { x: i + 1, y: 1 + i / 20 },
      ],
    }));
    const svg = paretoSvg({
      title: 't',
      yLabel: 'y',
      panels: [{ title: 'p', xLabel: 'x', better: 'higher', series }],
    });
    const width = Number(/width="(\d+)"/.exec(svg)![1]);
    const legendX = [...svg.matchAll(/<text x="(\d+(?:\.\d+)?)" y="[\d.]+" font-size="12">a rather/g)].map(
      (m) => Number(m[1]),
    );
    assert.equal(legendX.length, 20);
    for (const x of legendX)
      assert.ok(x + 7 * 'a rather long family name 19'.length <= width, `legend at ${x}`);
    assert.ok(
      new Set([...svg.matchAll(/font-size="12">a rather[^<]*<\/text>/g)].map((m) => m.index)).size === 20,
    );
    assert.equal([...svg.matchAll(/polyline[^>]*stroke-dasharray/g)].length, 4, 'curves 17-20 dashed');
  });
});
