// The two figures of an evaluation: the comparison grid (a few seeds; dense and each method at one merge
// ratio, ToMA also with its destination map) and the speedup-vs-fidelity (Pareto) plot.
import type { EvalConfig } from './configs.js';
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

/** Configuration labels of the grid's columns, in order ("+dst" = ToMA with its destination overlay). */
export function gridColumns(
  configs: EvalConfig[],
): { label: string; config: EvalConfig; overlay: boolean }[] {
  const r = gridRatio(configs);
  const cols: { label: string; config: EvalConfig; overlay: boolean }[] = [];
  for (const m of ['dense', 'toma', 'tomesd', 'todo', 'hilbert'] as const) {
    const c = configs.find((k) => k.method === m && (k.ratio === null || k.ratio === r));
    if (!c) continue;
    cols.push({ label: c.label, config: c, overlay: false });
    if (m === 'toma') cols.push({ label: `${c.label} dst`, config: c, overlay: true });
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
  const cols = gridColumns(configs);
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

export function buildPareto(results: ConfigMetrics[], title: string): ParetoPlot {
  const byMethod = new Map<string, ConfigMetrics[]>();
  for (const m of results) {
    if (m.config.method === 'dense') continue;
    byMethod.set(m.config.method, [...(byMethod.get(m.config.method) ?? []), m]);
  }
  const series = (x: (m: ConfigMetrics) => number | undefined): ParetoSeries[] =>
    [...byMethod].map(([name, ms]) => ({
      name,
      points: ms
        .map((m) => ({
          x: x(m) ?? Number.NaN,
          y: m.speed.speedup,
          label: m.config.ratio === null ? undefined : `${m.config.ratio}`,
        }))
        .filter((p) => Number.isFinite(p.x)),
    }));
  return {
    title,
    yLabel: 'speedup vs dense (median ms/image)',
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
      'Points are labelled with the merge ratio; ToDo and HilbertA have none. Up and towards "closer to dense" is better.',
      `Caveat: ${FEATURE_CAVEAT}.`,
    ],
  };
}
