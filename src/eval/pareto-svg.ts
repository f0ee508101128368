// Speedup vs fidelity plots as a standalone SVG: one panel per fidelity metric, one polyline per method
// through its ratios (points labelled with the ratio), dense as the reference line at 1x.

export interface ParetoPoint {
  x: number;
  y: number;
  label?: string;
}

export interface ParetoSeries {
  name: string;
  points: ParetoPoint[];
}

export interface ParetoPanel {
  title: string;
  xLabel: string;
  /** Which way is closer to dense on x (drawn as a hint in the axis label). */
  better: 'higher' | 'lower';
  series: ParetoSeries[];
}

export interface ParetoPlot {
  title: string;
  yLabel: string;
  panels: ParetoPanel[];
  /** Lines of small print under the plot. */
  notes?: string[];
}

// 16 distinguishable colours; past them the cycle repeats with dashed lines.
const COLORS = [
  '#d62728',
  '#1f77b4',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
  '#393b79',
  '#637939',
  '#8c6d31',
  '#843c39',
  '#7b4173',
  '#3182bd',
];
const colorOf = (i: number) => COLORS[i % COLORS.length]!;
const dashOf = (i: number) => (i >= COLORS.length ? ' stroke-dasharray="6,3"' : '');
const PANEL_W = 440;
const PANEL_H = 320;
const M = { left: 58, right: 18, top: 34, bottom: 48 };

export function escapeXml(s: string): string {
  return s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

/** About n round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) {
    const d = Math.abs(lo) * 0.1 || 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** [lo, hi] widened by 8% on each side (and made non-empty), so points and labels stay inside. */
function padded(lo: number, hi: number): [number, number] {
  const d = hi > lo ? (hi - lo) * 0.08 : Math.abs(lo) * 0.1 || 1;
  return [lo - d, hi + d];
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

function panelSvg(
  p: ParetoPanel,
  x0: number,
  y0: number,
  yLo: number,
  yHi: number,
  yTicks: number[],
): string {
  const pts = p.series.flatMap((s) => s.points).filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y));
  const out: string[] = [];
  const pw = PANEL_W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  out.push(`<g transform="translate(${x0},${y0})">`);
  out.push(
    `<text x="${M.left + pw / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(p.title)}</text>`,
  );
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  if (pts.length === 0) {
    out.push(
      `<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" text-anchor="middle" font-size="13" fill="#888">not available</text>`,
    );
    out.push('</g>');
    return out.join('\n');
  }
  const xs = pts.map((q) => q.x);
  const [xLo, xHi] = padded(Math.min(...xs), Math.max(...xs));
  const xTicks = niceTicks(xLo, xHi).filter((t) => t >= xLo && t <= xHi);
  const sx = (v: number) => M.left + ((v - xLo) / (xHi - xLo || 1)) * pw;
  const sy = (v: number) => M.top + ph - ((v - yLo) / (yHi - yLo || 1)) * ph;
  for (const t of xTicks) {
    out.push(`<line x1="${sx(t)}" y1="${M.top}" x2="${sx(t)}" y2="${M.top + ph}" stroke="#e4e4e4"/>`);
    out.push(
      `<text x="${sx(t)}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    out.push(`<line x1="${M.left}" y1="${sy(t)}" x2="${M.left + pw}" y2="${sy(t)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`);
  }
  if (yLo <= 1 && yHi >= 1) {
    out.push(
      `<line x1="${M.left}" y1="${sy(1)}" x2="${M.left + pw}" y2="${sy(1)}" stroke="#000" stroke-dasharray="5,4"/>`,
    );
    out.push(`<text x="${M.left + 4}" y="${sy(1) + 13}" font-size="11">dense (1x)</text>`);
  }
  const arrow = p.better === 'higher' ? 'higher = closer to dense' : 'lower = closer to dense';
  out.push(
    `<text x="${M.left + pw / 2}" y="${PANEL_H - 12}" text-anchor="middle" font-size="12">${escapeXml(`${p.xLabel} (${arrow})`)}</text>`,
  );
  p.series.forEach((s, i) => {
    const color = colorOf(i);
    const q = s.points.filter((v) => Number.isFinite(v.x) && Number.isFinite(v.y)).sort((a, b) => a.x - b.x);
    if (q.length > 1)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${dashOf(i)} points="${q.map((v) => `${sx(v.x).toFixed(1)},${sy(v.y).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const v of q) {
      const tip = escapeXml(`${s.name}${v.label ? ` ${v.label}` : ''}: ${fmt(v.x)}, ${fmt(v.y)}x`);
      out.push(
        `<g><title>${tip}</title><circle cx="${sx(v.x).toFixed(1)}" cy="${sy(v.y).toFixed(1)}" r="4" fill="${color}"/></g>`,
      );
      if (v.label)
        out.push(
          `<text x="${(sx(v.x) + 6).toFixed(1)}" y="${(sy(v.y) - 6).toFixed(1)}" font-size="10" fill="${color}">${escapeXml(v.label)}</text>`,
        );
    }
  });
  out.push('</g>');
  return out.join('\n');
}

/** The whole plot as an SVG document. */
export function paretoSvg(plot: ParetoPlot): string {
  const names = [...new Set(plot.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const ys = plot.panels
    .flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q.y)))
    .filter((v) => Number.isFinite(v));
  const [yLo, yHi] = padded(Math.min(1, ...ys), Math.max(1, ...ys));
  const yTicks = niceTicks(yLo, yHi).filter((t) => t >= yLo && t <= yHi);
  const notes = plot.notes ?? [];
  const width = plot.panels.length * PANEL_W;
  // the legend wraps into rows that fit the width
  const legendAt: { x: number; row: number }[] = [];
  {
    let x = 12;
    let row = 0;
    for (const n of names) {
      const w = 16 + 7 * n.length + 20;
      if (x + w > width - 8 && x > 12) {
        x = 12;
        row++;
      }
      legendAt.push({ x, row });
      x += w;
    }
  }
  const legendRows = (legendAt.at(-1)?.row ?? 0) + 1;
  const legendH = 8 + legendRows * 18;
  const height = 30 + PANEL_H + legendH + notes.length * 15 + 8;
  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(plot.title)}</text>`,
  );
  plot.panels.forEach((p, i) => {
    // the colour of a method is the same in every panel
    const series = names.map((n) => p.series.find((s) => s.name === n) ?? { name: n, points: [] });
    out.push(panelSvg({ ...p, series }, i * PANEL_W, 30, yLo, yHi, yTicks));
    out.push(
      `<text transform="translate(${i * PANEL_W + 16},${30 + PANEL_H / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(plot.yLabel)}</text>`,
    );
  });
  const ly = 30 + PANEL_H + 14;
  names.forEach((n, i) => {
    const color = colorOf(i);
    const { x, row } = legendAt[i]!;
    const y = ly + row * 18;
    out.push(
      i >= COLORS.length
        ? `<line x1="${x}" y1="${y - 3}" x2="${x + 12}" y2="${y - 3}" stroke="${color}" stroke-width="3" stroke-dasharray="4,2"/>`
        : `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${color}"/>`,
    );
    out.push(`<text x="${x + 16}" y="${y + 1}" font-size="12">${escapeXml(n)}</text>`);
  });
  notes.forEach((t, i) => {
    out.push(`<text x="12" y="${ly + legendH + i * 15}" font-size="11" fill="#555">${escapeXml(t)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
