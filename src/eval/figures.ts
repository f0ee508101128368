// The two figures of an evaluation: the comparison grid (a few seeds; dense and each method at one merge
// ratio, ToMA also with its destination map, then step caches alone and with ToMA) and the
// speedup-vs-fidelity (Pareto) plot, one curve per method family (method, cache, method + cache).

import { scheduleLabel } from '../pipeline/methods.js';
import { configCache, type EvalConfig } from './configs.js';
import { FEATURE_CAVEAT } from './feature-net.js';
import type { RecordedDestinations } from './generation.js';
import type { GridCell, GridSpec } from './grid.js';
import type { RgbImage } from './image-metrics.js';
import type { ConfigMetrics } from './metrics.js';
import type { ParetoPlot, ParetoSeries } from './pareto-svg.js';

/** The ratio the grid shows: 0.5 when evaluated, else the middle one of those evaluated. */
export function gridRatio(configs: EvalConfig[]): number | null {
  const ratios = [...new Set(configs.flatMap((c) => (c.ratio === null ? [] : [c.ratio])))].sort(
    (a, b) => a - b,
  );
  if (ratios.length === 0) return null;
  return ratios.includes(0.5) ? 0.5 : ratios[(ratios.length - 1) >> 1]!;
}

/**
 * Configuration labels of the grid's columns, in order ("+dst" = ToMA with its destination overlay, left
 * out with `overlay` false: a run that recorded no destinations, e.g. SDXL's).
 */
export function gridColumns(
  configs: EvalConfig[],
  overlay = true,
): { label: string; config: EvalConfig; overlay: boolean }[] {
  const r = gridRatio(configs);
  const cols: { label: string; config: EvalConfig; overlay: boolean }[] = [];
  for (const m of ['dense', 'toma', 'tomesd', 'todo', 'hilbert'] as const) {
    const c = configs.find((k) => !k.cache && k.method === m && (k.ratio === null || k.ratio === r));
    if (!c) continue;
    cols.push({ label: c.label, config: c, overlay: false });
    if (m === 'toma' && overlay) cols.push({ label: `${c.label} dst`, config: c, overlay: true });
  }
  // the first setting of each cache method, alone and with ToMA at the grid's ratio (four columns at most)
  const families = new Set<string>();
  for (const k of configs) {
    const cache = configCache(k);
    const onToma = k.method === 'toma' && (k.ratio === null || k.ratio === r);
    if (!cache || (k.method !== 'dense' && !onToma) || families.size >= 4) continue;
    const family = `${k.method}+${cache.method}`;
    if (families.has(family)) continue;
    families.add(family);
    cols.push({ label: k.label, config: k, overlay: false });
  }
  return cols;
}

export function buildGrid(
  configs: EvalConfig[],
  images: Map<string, RgbImage[]>,
  seedIndices: number[],
  rowLabel: (seedIndex: number) => string,
  destinations: Map<number, RecordedDestinations>,
): GridSpec {
  const cols = gridColumns(configs, destinations.size > 0);
  const size = images.get('dense')![0]!.width;
  const scale = Math.max(1, Math.floor(256 / size));
  return {
    columns: cols.map((c) => c.label),
    scale,
    rows: seedIndices.map((i) => ({
      label: rowLabel(i),
      cells: cols.map((c): GridCell => {
        const image = images.get(c.config.label)![i]!;
        const d = c.overlay ? destinations.get(i) : undefined;
        return d
          ? { image, overlay: { destinations: d.destinations, rows: d.rows, cols: d.cols, tile: d.tile } }
          : { image };
      }),
    })),
    footer: cols.some((c) => c.overlay)
      ? 'dst: tokens toma kept as destinations at full brightness, merged-away tokens dimmed, tile borders in yellow (last step, single-stream group)'
      : undefined,
  };
}

/** The curve a configuration belongs to: its method, its cache method, or both ("toma+fbcache"). */
export function paretoFamily(k: EvalConfig): string {
  const cache = configCache(k);
  // a merge schedule of its own makes its own curve ("toma every 2"), so the ratio curves stay clean
  const method = k.schedule ? `${k.method} ${scheduleLabel(k.schedule)}` : k.method;
  if (!cache) return method;
  return k.method === 'dense' ? cache.method : `${method}+${cache.method}`;
}

/** A point's label: the merge ratio and/or the cache's setting ("0.5", "0.12", "0.5/0.12"). */
function pointLabel(k: EvalConfig): string | undefined {
  const setting = k.cache ? k.cache.split(':').slice(1).join(':') : null;
  const parts = [k.ratio === null ? null : `${k.ratio}`, setting].filter((p) => p !== null);
  return parts.length ? parts.join('/') : undefined;
}

export function buildPareto(results: ConfigMetrics[], title: string): ParetoPlot {
  const byFamily = new Map<string, ConfigMetrics[]>();
  for (const m of results) {
    if (m.config.label === 'dense') continue;
    const f = paretoFamily(m.config);
    byFamily.set(f, [...(byFamily.get(f) ?? []), m]);
  }
  const series = (x: (m: ConfigMetrics) => number | undefined): ParetoSeries[] =>
    [...byFamily].map(([name, ms]) => ({
      name,
      points: ms
        .map((m) => ({ x: x(m) ?? Number.NaN, y: m.speed.speedup, label: pointLabel(m.config) }))
        .filter((p) => Number.isFinite(p.x)),
    }));
  const batch1 = results[0]?.speed.basis === 'batch 1';
  return {
    title,
    yLabel: batch1 ? 'speedup vs dense (median ms/image, batch 1)' : 'speedup vs dense (median ms/image)',
    panels: [
      {
        title: 'PSNR vs dense (median over seeds)',
        xLabel: 'PSNR dB',
        better: 'higher',
        series: series((m) => m.psnr?.median),
      },
      {
        title: 'deep-feature distance vs dense (median)',
        xLabel: '1 - cosine of features',
        better: 'lower',
        series: series((m) => m.featDist?.median),
      },
    ],
    notes: [
      'Points are labelled with the merge ratio and/or the cache setting (ratio/threshold); ToDo and HilbertA have no ratio. Up and towards "closer to dense" is better.',
      ...(batch1
        ? [
            "Speed at one image per generate() call: step caches decide per image, so a batch would understate one user's speedup.",
          ]
        : []),
      `Caveat: ${FEATURE_CAVEAT}.`,
    ],
  };
}
