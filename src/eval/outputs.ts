// Writing an evaluation's files, each atomically: the sample atlases, the comparison grid, the Pareto
// plot, the markdown table and the JSON report (last, so a results.json always has its images).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { writeFileAtomic } from '../io/atomic.js';
import { encodePng } from '../io/png.js';
import { ATLAS_MAX_BYTES, composeAtlas, planAtlases } from './atlas.js';
import { buildGrid, buildPareto, gridColumns } from './figures.js';
import { composeGrid } from './grid.js';
import type { RgbImage } from './image-metrics.js';
import { paretoSvg } from './pareto-svg.js';
import { type EvalReport, reportJson, reportMarkdown } from './report.js';
import type { EvalRun } from './saved-run.js';

/** The file names and layout an evaluation of these settings writes (what the report lists). */
export function planOutputs(
  run: Pick<EvalRun, 'settings' | 'destinations'>,
  gridRows: number,
): Pick<EvalReport, 'atlases' | 'grid' | 'files'> {
  const s = run.settings;
  const labels = s.configs.map((k) => k.label);
  const files = planAtlases(s.seeds.length, labels.length, s.size, s.size, ATLAS_MAX_BYTES).map((p, i) => ({
    file: `samples-${i + 1}.png`,
    ...p,
  }));
  return {
    atlases: { columns: labels, width: s.size, height: s.size, files },
    grid: {
      file: 'grid.png',
      columns: gridColumns(s.configs, run.destinations.size > 0).map((c) => c.label),
      seedIndices: s.seeds.slice(0, gridRows).map((_, i) => i),
      destinations: Object.fromEntries([...run.destinations].map(([k, v]) => [String(k), v])),
    },
    files: ['results.json', 'results.md', 'grid.png', 'pareto.svg', ...files.map((f) => f.file)],
  };
}

export function writeEvalOutputs(outDir: string, report: EvalReport, images: Map<string, RgbImage[]>): void {
  mkdirSync(outDir, { recursive: true });
  const png = (img: RgbImage) => encodePng(img.data, img.width, img.height, 3, (raw) => deflateSync(raw));
  const s = report.settings;
  const { columns } = report.atlases;
  for (const a of report.atlases.files) {
    const rows = Array.from({ length: a.count }, (_, i) => columns.map((l) => images.get(l)![a.first + i]!));
    writeFileAtomic(join(outDir, a.file), png(composeAtlas(rows)));
  }
  if (report.grid) {
    const name = (i: number) => s.classNames[s.classes[i]!] ?? String(s.classes[i]);
    const destinations = new Map(Object.entries(report.grid.destinations).map(([k, v]) => [Number(k), v]));
    const grid = buildGrid(
      s.configs,
      images,
      report.grid.seedIndices,
      (i) => `seed ${s.seeds[i]} ${name(i)}`,
      destinations,
    );
    writeFileAtomic(join(outDir, report.grid.file), png(composeGrid(grid)));
  }
  const title = `speedup vs fidelity: ${s.seeds.length} seeds, ${s.size} px, ${s.steps} steps (${report.device.backend})`;
  writeFileAtomic(join(outDir, 'pareto.svg'), paretoSvg(buildPareto(report.results, title)));
  writeFileAtomic(join(outDir, 'results.md'), reportMarkdown(report));
  writeFileAtomic(join(outDir, 'results.json'), reportJson(report));
}
