// Where a method's error against dense sits in scale: for each configuration of a saved `toma eval` run,
// per seed, the error image e = method − dense (RGB, 0..255) and
//   roughness  = E[(Δe)²] / E[e²]   with Δ the 5-point Laplacian (0 for a smooth error; 20 for
//                independent per-pixel noise): high values are speckle, low ones blur or shifted shapes;
//   token2     = the share of the error's energy that is constant inside the 2×2-pixel patches that are
//                the model's tokens (1: blocky at token scale; 0.25 expected for per-pixel noise);
//   hf ratio   = E[(Δmethod)²] / E[(Δdense)²]: detail energy of the image itself vs dense (> 1: added
//                high-frequency content, i.e. speckle; < 1: smoothing).
// Medians over seeds. Needs a build (npm run build).
//
//   node tools/eval/error-texture.mjs DIR [--json out.json]
import { writeFileSync } from 'node:fs';
import { toolArgs, usageError } from '../tool-args.mjs';

const { values: a, positionals } = toolArgs(import.meta.url, {
  options: { json: { type: 'string' } },
  allowPositionals: true,
});
if (positionals.length !== 1) usageError(import.meta.url, 'give one DIR (a saved `toma eval` run)');
const { loadSavedRun } = await import(new URL('../../dist/src/eval/saved-run.js', import.meta.url).href);
let run;
try {
  run = loadSavedRun(positionals[0]);
} catch (e) {
  console.error(`error-texture.mjs: ${e.message}`);
  process.exit(1);
}
const dense = run.images.get('dense');
if (!dense) throw new Error('the run has no dense images');

function lapEnergy(f, w, h) {
  let s = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++)
      for (let c = 0; c < 3; c++) {
        const i = (y * w + x) * 3 + c;
        const v = 4 * f[i] - f[i - 3] - f[i + 3] - f[i - 3 * w] - f[i + 3 * w];
        s += v * v;
        n++;
      }
  return s / n;
}
const median = (xs) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
for (const [label, imgs] of run.images) {
  if (label === 'dense') continue;
  const rough = [];
  const token2 = [];
  const hf = [];
  imgs.forEach((img, k) => {
    const d = dense[k];
    const { width: w, height: h } = img;
    const e = new Float64Array(w * h * 3);
    let ee = 0;
    for (let i = 0; i < e.length; i++) {
      e[i] = img.data[i] - d.data[i];
      ee += e[i] * e[i];
    }
    ee /= e.length;
    if (ee === 0) return;
    rough.push(lapEnergy(e, w, h) / ee);
    // energy of the 2x2-patch means (broadcast back to the pixels) over the total
    let pm = 0;
    for (let y = 0; y + 1 < h; y += 2)
      for (let x = 0; x + 1 < w; x += 2)
        for (let c = 0; c < 3; c++) {
          const at = (yy, xx) => e[(yy * w + xx) * 3 + c];
          const m = (at(y, x) + at(y, x + 1) + at(y + 1, x) + at(y + 1, x + 1)) / 4;
          pm += 4 * m * m;
        }
    token2.push(pm / e.length / ee);
    hf.push(lapEnergy(Float64Array.from(img.data), w, h) / lapEnergy(Float64Array.from(d.data), w, h));
  });
  if (rough.length)
    rows.push({ label, roughness: median(rough), token2: median(token2), hfRatio: median(hf) });
}
const pad = Math.max(...rows.map((r) => r.label.length));
console.log(
  `${'configuration'.padEnd(pad)}  roughness  token2  hf ratio   (medians over ${dense.length} seeds)`,
);
for (const r of rows)
  console.log(
    `${r.label.padEnd(pad)}  ${r.roughness.toFixed(2).padStart(9)}  ${r.token2.toFixed(3).padStart(6)}  ${r.hfRatio.toFixed(3).padStart(8)}`,
  );
if (a.json) writeFileSync(a.json, `${JSON.stringify({ source: positionals[0], rows }, null, 1)}\n`);
