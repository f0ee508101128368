// The demo page: finds WebGPU (or says plainly that it is missing), shows what the adapter offers and
// which kernel paths run, loads the embedded model, and runs dense vs a method on the same seed.
import { GpuBackend } from '../../src/gpu/backend.js';
import { METHODS, type MethodName } from '../../src/pipeline/methods.js';
import { psnr8 } from '../../src/pipeline/psnr.js';
import { drawDestinationMap, drawImage } from './draw.js';
import { FluxRunner, FluxWorkerClient, filesOfDirectory, fluxNeeds, limitText } from './flux-panel.js';
import type { FluxOpened, PickedEntry } from './flux-protocol.js';
import { computeDtype, defaultsFor, describeGpu } from './gpu-info.js';
import { loadEmbeddedModel } from './load-model.js';
import { ms, ProgressLine } from './progress-line.js';
import { DemoRunner, type MethodRun, type RunSettings } from './runner.js';

const METHOD_HELP: Record<MethodName, string> = {
  dense: 'Dense: every token attends to every token. The reference every other method is compared with.',
  toma:
    'ToMA (Lu et al., ICML 2025): in every tile of tile × tile tokens it picks the most representative tokens ' +
    '(destinations) and merges the others into them with soft weights before attention and the MLP, then ' +
    'spreads the results back. The ratio is the fraction of tokens removed.',
  tomesd:
    'ToMeSD (Bolya & Hoffman, 2023): one random destination per 2 × 2 cell; the source tokens most similar ' +
    'to a destination are averaged into it (as many as ToMA removes at this ratio), and copied back after.',
  todo: 'ToDo (Smith et al., 2024): every query stays, but keys and values are downsampled 2 × 2 before attention.',
  hilbert:
    'HilbertA: tokens are reordered along a Hilbert curve and each query attends only to its own stretch of ' +
    'the curve plus a shared centre region (sparse attention); the stretches slide from layer to layer.',
  'toma+hilbert':
    'ToMA + HilbertA: the blocks ToMA merges run on the merged tokens ordered along a Hilbert curve over the ' +
    'tiles, with HilbertA sparse attention over them; the other blocks stay dense.',
};

const nth = (n: string) =>
  `${n}${({ '1': 'st', '2': 'nd', '3': 'rd' } as Record<string, string>)[n] ?? 'th'}`;

/** By the cache's kind (the spec up to its colon); N and T are the spec's number. */
const CACHE_HELP: Record<string, (n: string) => string> = {
  none: () => 'No step cache: the transformer runs in full at every step.',
  fora: (n) =>
    `FORA: the transformer runs in full at step 1 and then on every ${nth(n)} step; ` +
    'the steps between reuse the residual of its block stack from the last full step.',
  taylorseer: (n) =>
    `TaylorSeer (ICCV 2025): full for the first steps, then on every ${nth(n)} step; ` +
    "in between, the block stack's residual is forecast from the last full steps (Taylor series).",
  fbcache: (t) =>
    'First-Block-Cache: the first block always runs; when its output moved by less than ' +
    `${Math.round(Number(t) * 100)}% since the last full step, the other blocks are skipped and their cached residual reused.`,
  teacache: (t) =>
    "TeaCache: the relative change of the first block's input is summed over the steps; while the sum stays " +
    `under ${t}, a step reuses the cached residual instead of running the blocks.`,
};

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};

type PageState = 'loading' | 'ready' | 'running' | 'done' | 'error' | 'unsupported';
const setState = (s: PageState) => {
  document.body.dataset.state = s;
};

function showUnsupported(title: string, detail: string): void {
  const box = $('unsupported');
  box.hidden = false;
  box.innerHTML = '';
  const h = document.createElement('h2');
  h.textContent = title;
  const p = document.createElement('p');
  p.textContent = detail;
  box.append(h, p);
  $('gpu-status').textContent = title;
  for (const id of ['controls', 'model', 'run']) $(id).hidden = true;
  setState('unsupported');
}

function fail(where: string, e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  const el = $('progress-text');
  el.textContent = `${where}: ${msg}`;
  el.className = 'error';
  setState('error');
  console.error(e);
}

async function main(): Promise<void> {
  const nav = navigator as Navigator & { gpu?: GPU };
  if (!nav.gpu) {
    showUnsupported(
      'This browser has no WebGPU.',
      'navigator.gpu is missing, so nothing can run here. Use a recent Chrome or Edge (version 113 or later) ' +
        'on Windows, macOS or ChromeOS (on Linux WebGPU may need chrome://flags/#enable-unsafe-webgpu), ' +
        'and open this page from localhost or https.',
    );
    return;
  }
  let be: GpuBackend;
  try {
    be = await GpuBackend.create();
  } catch (e) {
    showUnsupported(
      'WebGPU is present but gave no usable GPU.',
      `${e instanceof Error ? e.message.split('\n')[0] : String(e)}. The GPU may be blocklisted or disabled; ` +
        'check chrome://gpu, or try another browser.',
    );
    return;
  }

  const caps = $('caps');
  for (const row of describeGpu(be)) {
    const tr = document.createElement('tr');
    const k = document.createElement('td');
    k.textContent = row.label;
    const v = document.createElement('td');
    v.textContent = row.value;
    tr.append(k, v);
    caps.append(tr);
  }
  const fallbacks = [
    !be.caps.f16 && 'f32 instead of f16',
    be.paths.matmul === 'simt' && 'SIMT kernels instead of subgroup matrices',
  ].filter(Boolean);
  $('gpu-status').textContent =
    `WebGPU is available${be.caps.software ? ' on a software adapter' : ''}. ` +
    (fallbacks.length ? `Fallback path: ${fallbacks.join(', ')}.` : 'Fast path: f16 with subgroup matrices.');
  let deviceLost = false;
  be.gpu.lost.then((reason) => {
    deviceLost = true;
    fail('the GPU device was lost (reload the page)', reason);
  });

  const defaults = defaultsFor(be);
  ($('size') as HTMLSelectElement).value = String(defaults.size);
  ($('steps') as HTMLInputElement).value = String(defaults.steps);
  if (be.caps.software)
    $('size-help').textContent +=
      ' This adapter runs on the CPU, so the defaults are tiny (16 px, 4 steps); a real GPU runs 128 px in seconds.';

  const dtype = computeDtype(be);
  const bar = $<HTMLProgressElement>('model-progress');
  const status = $('model-status');
  let runner: DemoRunner;
  try {
    const loaded = await loadEmbeddedModel(be, dtype, (f, text) => {
      bar.value = f;
      status.textContent = text;
    });
    const c = loaded.pipe.model.config;
    status.textContent =
      `flux-embedded: ${c.depth} double-stream + ${c.depth_single_blocks} single-stream blocks, hidden ${c.hidden_size}, ` +
      `${loaded.pipe.labels.length} classes; ${(loaded.bytes / 1e6).toFixed(1)} MB loaded, computing in ${dtype}.`;
    runner = new DemoRunner(loaded.pipe);
  } catch (e) {
    fail('loading the model failed', e);
    return;
  }

  const cond = runner.conditioning;
  const classSelect = $<HTMLSelectElement>('class');
  cond.names.forEach((name, i) => {
    if (i === cond.nullClass) return;
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = name;
    classSelect.append(o);
  });
  const meadow = cond.names.indexOf('green-meadow');
  if (meadow >= 0) classSelect.value = String(meadow);

  const method = $<HTMLSelectElement>('method');
  const onMethod = () => {
    const m = method.value as MethodName;
    $('method-help').textContent = METHOD_HELP[m];
    $<HTMLInputElement>('ratio').disabled = !(m === 'toma' || m === 'tomesd');
    $<HTMLInputElement>('tile').disabled = !(m === 'toma' || m === 'tomesd');
    $<HTMLInputElement>('merge-every').disabled = !(m === 'toma' || m === 'tomesd' || m === 'todo');
    $<HTMLSelectElement>('cache').disabled = m === 'dense';
    $<HTMLInputElement>('compare').disabled = m === 'dense';
  };
  method.addEventListener('change', onMethod);
  onMethod();
  const cache = $<HTMLSelectElement>('cache');
  const onCache = () => {
    const [kind = 'none', arg = ''] = cache.value.split(':');
    $('cache-help').textContent = CACHE_HELP[kind]?.(arg) ?? '';
  };
  cache.addEventListener('change', onCache);
  onCache();

  let last: MethodRun[] = [];
  let warmedUp = true;
  $<HTMLInputElement>('show-map').addEventListener('change', () => showResults(last, warmedUp));

  const flux = setUpFlux(be, dtype);

  const generateBtn = $<HTMLButtonElement>('generate');
  const cancelBtn = $<HTMLButtonElement>('cancel');
  let controller: AbortController | null = null;
  cancelBtn.addEventListener('click', () => controller?.abort());
  generateBtn.disabled = false;
  setState('ready');

  $('controls').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (controller || deviceLost) return;
    let settings: RunSettings;
    try {
      settings = readSettings();
    } catch (e) {
      fail('invalid settings', e);
      return;
    }
    controller = new AbortController();
    generateBtn.disabled = true;
    cancelBtn.disabled = false;
    setState('running');
    const line = new ProgressLine($('progress-text'), $<HTMLProgressElement>('progress'));
    try {
      const active = settings.prompt && flux.runner() ? flux.runner()! : runner;
      last = await active.run(settings, {
        signal: controller.signal,
        onPhase: (t) => line.phase(t),
        onStep: (i, runs, label, p) => line.step(i, runs, label, p),
      });
      await line.done();
      warmedUp = settings.warmUp;
      showResults(last, warmedUp);
      setState('done');
    } catch (e) {
      if ((e as Error).name === 'AbortError') {
        $('progress-text').textContent = 'Cancelled.';
        setState('ready');
      } else fail('generation failed', e);
    } finally {
      controller = null;
      generateBtn.disabled = deviceLost;
      cancelBtn.disabled = true;
    }
  });
}

/**
 * The "FLUX.1 from your disk" panel: the pickers, what was found, the limits needed at the chosen size,
 * and the model switch in the form. Returns the FLUX.1 runner once a model is open.
 */
function setUpFlux(be: GpuBackend, dtype: 'f16' | 'f32'): { runner(): FluxRunner | null } {
  const client = new FluxWorkerClient();
  const fluxRunner = new FluxRunner(client, dtype);
  const source = $<HTMLSelectElement>('source');
  const fluxOption = source.querySelector<HTMLOptionElement>('option[value="flux"]')!;
  const folderInput = $<HTMLInputElement>('flux-folder');
  const filesInput = $<HTMLInputElement>('flux-files');
  const status = $('flux-status');
  let folder: PickedEntry[] = [];
  let opened: FluxOpened | null = null;

  const onSource = () => {
    const isFlux = source.value === 'flux';
    $('class-label').hidden = isFlux;
    $('prompt-label').hidden = !isFlux;
    showLimits();
  };
  source.addEventListener('change', onSource);
  $('size').addEventListener('change', showLimits);

  function showLimits(): void {
    const box = $('flux-limits');
    box.hidden = !opened;
    if (!opened) return;
    const size = Number($<HTMLSelectElement>('size').value);
    const need = fluxNeeds(opened, size, dtype === 'f16' ? 2 : 4, be.caps.limits);
    const bad = need.rows.filter((r) => !r.ok);
    $('flux-limits-head').textContent =
      `Adapter limits this model needs at ${size}×${size} px (${dtype}): ` +
      (bad.length
        ? `this adapter falls short on ${bad.map((r) => r.limit).join(' and ')}.`
        : 'this adapter has them.');
    const list = $('flux-limits-list');
    list.innerHTML = '';
    for (const r of need.rows) {
      const li = document.createElement('li');
      li.textContent = limitText(r);
      if (!r.ok) li.className = 'bad';
      list.append(li);
    }
    const li = document.createElement('li');
    li.textContent = `${need.memory}; WebGPU does not say how much memory the GPU has.`;
    list.append(li);
  }

  function showFound(info: FluxOpened): void {
    const table = $<HTMLTableElement>('flux-found');
    table.innerHTML = '';
    table.hidden = false;
    for (const c of info.summary) {
      const types = Object.entries(c.types)
        .sort((a, b) => b[1] - a[1])
        .map(([t, n]) => `${n} ${t}`)
        .join(', ');
      const row = table.insertRow();
      row.insertCell().textContent = c.component;
      row.insertCell().textContent =
        `${c.path} (${c.format}): ${c.tensors} tensors (${types}), ${(c.bytes / 1e6).toFixed(1)} MB; ` +
        `${(c.deviceBytes / 1e6).toFixed(1)} MB on the GPU`;
    }
  }

  async function open(): Promise<void> {
    const extra = Array.from(filesInput.files ?? [], (file) => ({ path: file.name, file }));
    if (folder.length === 0 && extra.length === 0) return;
    document.body.dataset.flux = 'opening';
    status.className = '';
    status.textContent = 'Reading the headers…';
    opened = null;
    fluxOption.disabled = true;
    try {
      opened = await client.open(folder, extra, dtype);
      const t = opened.transformer;
      status.textContent =
        `FLUX.1-${opened.variant} from ${opened.description}: transformer ${t.depth} + ${t.depth_single_blocks} blocks of ` +
        `${t.hidden_size}, T5 ${opened.t5.num_layers} × ${opened.t5.d_model}, CLIP ${opened.clip.num_hidden_layers} × ` +
        `${opened.clip.hidden_size}. Each run loads the components one at a time, straight from the files.`;
      showFound(opened);
      fluxOption.disabled = false;
      source.value = 'flux';
      const software = be.caps.software;
      ($('size') as HTMLSelectElement).value = software ? '32' : '512';
      ($('steps') as HTMLInputElement).value = software ? '2' : opened.variant === 'dev' ? '28' : '4';
      document.body.dataset.flux = 'opened';
    } catch (e) {
      status.textContent = `Could not open FLUX.1: ${(e as Error).message}`;
      status.className = 'error';
      $('flux-found').hidden = true;
      source.value = 'embedded';
      document.body.dataset.flux = 'error';
    }
    onSource();
  }

  folderInput.addEventListener('change', () => {
    folder = Array.from(folderInput.files ?? [], (file) => ({
      path: file.webkitRelativePath || file.name,
      file,
    }));
    void open();
  });
  filesInput.addEventListener('change', () => void open());
  const picker = (window as unknown as { showDirectoryPicker?: () => Promise<FileSystemDirectoryHandle> })
    .showDirectoryPicker;
  if (picker) {
    const btn = $<HTMLButtonElement>('flux-pick-dir');
    btn.hidden = false;
    btn.addEventListener('click', async () => {
      try {
        folder = await filesOfDirectory(await picker.call(window));
      } catch {
        return; // the user closed the picker
      }
      void open();
    });
  }
  onSource();
  return { runner: () => (opened && source.value === 'flux' ? fluxRunner : null) };
}

function readSettings(): RunSettings {
  const num = (id: string, what: string, ok: (v: number) => boolean, rule: string): number => {
    const v = Number($<HTMLInputElement>(id).value);
    if (!Number.isFinite(v) || !ok(v)) throw new RangeError(`${what} must be ${rule}`);
    return v;
  };
  const m = $<HTMLSelectElement>('method').value as MethodName;
  if (!METHODS.includes(m)) throw new RangeError(`unknown method ${m}`);
  const flux = $<HTMLSelectElement>('source').value === 'flux';
  const prompt = $<HTMLInputElement>('prompt').value.trim();
  if (flux && !prompt) throw new RangeError('write a prompt for FLUX.1');
  return {
    classIndex: Number($<HTMLSelectElement>('class').value),
    prompt: flux ? prompt : '',
    seed: num('seed', 'the seed', (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32, 'a whole number ≥ 0'),
    size: num(
      'size',
      'the size',
      (v) => Number.isInteger(v) && v >= 4 && v % 2 === 0,
      'an even number of pixels',
    ),
    steps: num(
      'steps',
      'steps',
      (v) => Number.isInteger(v) && v >= 1 && v <= 100,
      'a whole number from 1 to 100',
    ),
    cfg: num('cfg', 'guidance', (v) => v >= 1 && v <= 10, 'from 1 to 10'),
    method: m,
    ratio: num('ratio', 'the merge ratio', (v) => v >= 0 && v <= 0.95, 'from 0 to 0.95'),
    tile: num(
      'tile',
      'the tile size',
      (v) => Number.isInteger(v) && v >= 1 && v <= 8,
      'a whole number from 1 to 8',
    ),
    mergeEvery: num(
      'merge-every',
      'merge every',
      (v) => Number.isInteger(v) && v >= 1 && v <= 100,
      'a whole number from 1 to 100',
    ),
    cache: $<HTMLSelectElement>('cache').value,
    compare: $<HTMLInputElement>('compare').checked,
    warmUp: $<HTMLInputElement>('warmup').checked,
  };
}

function showResults(runs: MethodRun[], warmedUp: boolean): void {
  if (runs.length === 0) return;
  $('results').hidden = false;
  const images = $('images');
  images.innerHTML = '';
  const showMap = $<HTMLInputElement>('show-map').checked;
  let mapShown = false;
  for (const r of runs) {
    images.append(figure(r.method, [imageCanvas(r, 'image')], `${r.label}: ${ms(r.totalMs)}`));
    // beside the image, over a copy of it: the result itself is never covered
    if (showMap && r.destinations) {
      const overlay = document.createElement('canvas');
      overlay.className = 'map';
      const kept = drawDestinationMap(overlay, r.destinations, 512);
      const l = r.destinations.layout;
      const fig = figure(
        null,
        [imageCanvas(r, 'underlay'), overlay],
        `${r.label}, destination map: ${kept} of ${l.n} tokens kept as destinations, ` +
          `${l.tile}×${l.tile} tiles, step ${r.destinations.step + 1}`,
      );
      fig.dataset.role = 'map';
      images.append(fig);
      mapShown = true;
    }
  }
  $('map-toggle').hidden = !runs.some((r) => r.destinations);
  $('map-legend').hidden = !mapShown;

  const dense = runs.find((r) => r.method === 'dense');
  const table = $<HTMLTableElement>('timings');
  table.innerHTML = '';
  const head = table.createTHead().insertRow();
  for (const h of [
    'method',
    'total',
    'per step (mean)',
    'each step (ms)',
    'speed-up vs dense',
    'PSNR vs dense',
  ])
    head.append(Object.assign(document.createElement('th'), { textContent: h }));
  const body = table.createTBody();
  let summary = '';
  for (const r of runs) {
    const row = body.insertRow();
    row.dataset.method = r.method;
    const mean = r.stepMs.reduce((a, b) => a + b, 0) / r.stepMs.length;
    const speedup = dense && r !== dense ? dense.totalMs / r.totalMs : null;
    const quality = dense && r !== dense ? psnr8(r.rgb, dense.rgb) : null;
    const cells = [
      r.label,
      ms(r.totalMs),
      ms(mean),
      r.stepMs.map((v) => v.toFixed(0)).join(' '),
      speedup === null ? '—' : `${speedup.toFixed(2)}×`,
      quality === null ? '—' : Number.isFinite(quality) ? `${quality.toFixed(1)} dB` : '∞ (identical)',
    ];
    cells.forEach((c, i) => {
      const td = row.insertCell();
      td.textContent = c;
      if (i === 3) td.className = 'steps';
    });
    if (speedup !== null && quality !== null)
      summary =
        `${r.label} took ${ms(r.totalMs)} against dense's ${ms(dense!.totalMs)}: ` +
        `${speedup >= 1 ? `${speedup.toFixed(2)}× faster` : `${(1 / speedup).toFixed(2)}× slower`}, ` +
        `PSNR ${Number.isFinite(quality) ? `${quality.toFixed(1)} dB` : '∞'} against the dense image. ` +
        'Times are wall-clock per step, GPU work included (each step waits for the GPU).';
  }
  if (!warmedUp)
    summary += ' Without warm-up, the first step of a run may include compiling its GPU pipelines.';
  $('summary').textContent = summary.trim();
}

function imageCanvas(r: MethodRun, className: string): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.className = className;
  drawImage(canvas, r.rgb, r.size, r.size);
  return canvas;
}

function figure(method: string | null, canvases: HTMLCanvasElement[], caption: string): HTMLElement {
  const fig = document.createElement('figure');
  if (method) fig.dataset.method = method;
  const stack = document.createElement('div');
  stack.className = 'stack';
  stack.append(...canvases);
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(stack, cap);
  return fig;
}

main().catch((e) => fail('the demo failed to start', e));
