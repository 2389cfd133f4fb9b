/**
 * Grouped bar charts as SVG, drawn by hand (no charting dependency), and rendered to PNG
 * with resvg (prebuilt binaries, no native build).
 */
import { Resvg } from '@resvg/resvg-js';

export interface Series {
  name: string;
  values: number[]; // one per group; NaN = no bar
}

export interface BarChart {
  title: string;
  unit: string;
  groups: string[];
  series: Series[];
  /** A dashed horizontal line, e.g. a target. */
  line?: { value: number; label: string };
  /** Logarithmic y axis, for values spanning decades. */
  log?: boolean;
}

const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#c53030'];
const W = 880;
const H = 420;
const M = { top: 56, right: 24, bottom: 84, left: 84 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function short(v: number): string {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 10) return String(Math.round(v));
  return String(+v.toFixed(2));
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function barChartSvg(c: BarChart): string {
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const all = c.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  if (c.line) all.push(c.line.value);
  const top = c.log ? 10 ** Math.ceil(Math.log10(Math.max(...all, 1))) : niceMax(Math.max(...all, 0) * 1.1);
  const bottom = c.log ? 10 ** Math.floor(Math.log10(Math.min(...all, top))) : 0;
  const y = (v: number) => {
    if (c.log) return M.top + plotH * (1 - (Math.log10(Math.max(v, bottom)) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom) || 1));
    return M.top + plotH * (1 - v / top);
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="28" font-size="18" text-anchor="middle" font-weight="bold">${esc(c.title)}</text>`);
  const ticks = c.log
    ? Array.from({ length: Math.round(Math.log10(top / bottom)) + 1 }, (_, i) => bottom * 10 ** i)
    : Array.from({ length: 6 }, (_, i) => (top * i) / 5);
  for (const t of ticks) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(t)}" y2="${y(t)}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${M.left - 8}" y="${y(t) + 4}" font-size="12" text-anchor="end">${short(t)}</text>`);
  }
  out.push(`<text x="18" y="${M.top + plotH / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 18 ${M.top + plotH / 2})">${esc(c.unit)}</text>`);
  const gw = plotW / c.groups.length;
  const bw = Math.min(56, (gw * 0.8) / c.series.length);
  c.groups.forEach((g, gi) => {
    const x0 = M.left + gi * gw + (gw - bw * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi]!;
      if (!Number.isFinite(v)) return;
      const x = x0 + si * bw;
      const yy = y(Math.max(v, c.log ? bottom : 0));
      out.push(`<rect x="${x + 2}" y="${yy}" width="${bw - 4}" height="${M.top + plotH - yy}" fill="${COLORS[si % COLORS.length]}"/>`);
      out.push(`<text x="${x + bw / 2}" y="${yy - 4}" font-size="11" text-anchor="middle">${short(v)}</text>`);
    });
    const lines = g.split('\n');
    lines.forEach((l, li) => out.push(`<text x="${M.left + gi * gw + gw / 2}" y="${M.top + plotH + 18 + li * 15}" font-size="12" text-anchor="middle">${esc(l)}</text>`));
  });
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#4a5568"/>`);
  if (c.line) {
    const ly = y(c.line.value);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${ly}" y2="${ly}" stroke="#c53030" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    out.push(`<text x="${W - M.right - 4}" y="${ly - 5}" font-size="12" text-anchor="end" fill="#c53030">${esc(c.line.label)}</text>`);
  }
  let lx = M.left;
  c.series.forEach((s, si) => {
    out.push(`<rect x="${lx}" y="${H - 22}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 16}" y="${H - 12}" font-size="12">${esc(s.name)}</text>`);
    lx += 24 + s.name.length * 7.5;
  });
  out.push('</svg>');
  return out.join('\n');
}

export function toPng(svg: string): Buffer {
  const r = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: { mode: 'original' } });
  return r.render().asPng();
}
