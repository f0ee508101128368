// An evaluation's generation results (settings, device, images, call timings, ToMA destinations), either
// fresh from runGenerations() or read back from an earlier run's results.json and sample atlases.
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { decodePng, toRgb } from '../io/png-decode.js';
import { InputFileError, readRegularFile, readRegularText } from '../io/regular-file.js';
import { splitAtlas } from './atlas.js';
import type { CallTiming, RecordedDestinations } from './generation.js';
import type { RgbImage } from './image-metrics.js';
import type { EvalDevice, EvalReport, EvalSettings } from './report.js';

export interface EvalRun {
  settings: EvalSettings;
  device: EvalDevice;
  /** When the images were generated. */
  date: string;
  /** Per configuration label: one image per seed index. */
  images: Map<string, RgbImage[]>;
  calls: Map<string, CallTiming[]>;
  /** One-image calls of the speed pass (empty where the run had none). */
  singleCalls: Map<string, CallTiming[]>;
  /** Full steps per seed of the configurations with a step cache. */
  fullSteps: Map<string, number[][]>;
  destinations: Map<number, RecordedDestinations>;
}

/** Largest results.json or atlas read back (a run of thousands of images is tens of MB). */
const MAX_SAVED_BYTES = 1 << 30;

/** Reads results.json and the samples-K.png atlases it lists from dir. */
export function loadSavedRun(dir: string): EvalRun {
  const path = join(dir, 'results.json');
  let r: EvalReport;
  try {
    r = JSON.parse(readRegularText(path, MAX_SAVED_BYTES, 'results file')) as EvalReport;
  } catch (e) {
    throw new Error(e instanceof InputFileError ? e.message : `cannot read ${path}: ${(e as Error).message}`);
  }
  if (r.tool !== 'toma eval' || r.format !== 1 || !r.atlases || !r.settings)
    throw new Error(`${path} is not a toma eval results file`);
  const { columns, width, height, files } = r.atlases;
  const images = new Map(columns.map((c) => [c, new Array<RgbImage>(r.settings.seeds.length)]));
  for (const f of files) {
    // results.json names its atlases: plain file names in dir, never a path elsewhere
    if (typeof f.file !== 'string' || !/^[\w.+-]+\.png$/.test(f.file) || f.file.startsWith('.'))
      throw new Error(`${path}: atlas ${JSON.stringify(f.file)} is not a PNG file name in ${dir}`);
    const file = join(dir, f.file);
    let bytes: Uint8Array;
    try {
      bytes = readRegularFile(file, MAX_SAVED_BYTES, 'PNG file');
    } catch (e) {
      throw e instanceof InputFileError ? new Error(e.message) : e;
    }
    const png = decodePng(bytes, (z) => inflateSync(z), file);
    const rows = splitAtlas(
      { width: png.width, height: png.height, data: toRgb(png) },
      f.count,
      columns.length,
      width,
      height,
    );
    rows.forEach((row, i) => {
      row.forEach((img, c) => {
        images.get(columns[c]!)![f.first + i] = img;
      });
    });
  }
  for (const [label, imgs] of images)
    if (imgs.length !== r.settings.seeds.length || imgs.some((x) => !x))
      throw new Error(`the atlases in ${dir} lack images of ${label}`);
  const calls = new Map(r.results.map((m) => [m.config.label, m.speed.calls]));
  const singleCalls = new Map(r.results.map((m) => [m.config.label, m.speed.singleCalls ?? []]));
  const fullSteps = new Map(r.results.flatMap((m) => (m.cache ? [[m.config.label, m.cache.fullSteps]] : [])));
  const destinations = new Map(Object.entries(r.grid?.destinations ?? {}).map(([k, v]) => [Number(k), v]));
  return {
    settings: r.settings,
    device: r.device,
    date: r.date,
    images,
    calls,
    singleCalls,
    fullSteps,
    destinations,
  };
}
