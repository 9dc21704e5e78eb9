// utizmon dashboard: what each host chart shows, as series plus columnar data for uPlot.
// Pure functions of the points (the samples API's point shape) and a context
// { palette, faint, bucketed, cores }; charts.js does the drawing. A definition's `shape`
// changes when its set of series changes (cores, interfaces, min/max band): then the chart
// is built anew instead of given new data.

import { DASH, formatBytes, formatNumber, formatRate, isNum } from './format.js';

/** Per-core series beyond this many are left out (a 256-core host would be unreadable). */
export const MAX_CORE_SERIES = 64;
/** Interfaces beyond this many (sorted by name) are left out of the network chart. */
export const MAX_INTERFACES = 8;
/** The core chart shows its legend only up to this many cores. */
const CORE_LEGEND_MAX = 16;

/** The charts of the host page, in the order of their `#chart-NAME` boxes. */
export const CHART_NAMES = ['cpu', 'cores', 'mem', 'load', 'net'];

/** `#rrggbb` with an alpha, as `rgba(...)`; other colour syntaxes are returned unchanged. */
export function withAlpha(color, alpha) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) return color;
  return `rgba(${parseInt(m[1], 16)},${parseInt(m[2], 16)},${parseInt(m[3], 16)},${alpha})`;
}

const pctValue = (u, v) => (isNum(v) ? v.toFixed(1) + '%' : DASH);
const pctAxis = (v) => v + '%';
const bytesValue = (u, v) => formatBytes(v);
const rateValue = (u, v) => formatRate(v);
const numValue = (u, v) => formatNumber(v, 2);

/** One value per point; anything not a finite number becomes a gap (null). */
function column(points, pick) {
  return points.map((p) => {
    const v = pick(p);
    return isNum(v) ? v : null;
  });
}

/** The x column: seconds, as uPlot's time scale wants. */
function times(points) {
  return points.map((p) => p.ts_ms / 1000);
}

const percent = (v) => (isNum(v) ? v * 100 : null);

function cpu(points, ctx) {
  const c = ctx.palette[0];
  const def = {
    shape: 'cpu',
    yRange: [0, 100],
    axisFmt: pctAxis,
    series: [{ label: 'CPU', stroke: c, fill: withAlpha(c, 0.15), width: 1.5, value: pctValue }],
    data: [times(points), column(points, (p) => percent(p.cpu_ratio))],
  };
  // Bucketed ranges average each bucket; a min..max band shows the spikes it hides.
  if (ctx.bucketed) {
    def.shape = 'cpu:band';
    def.series[0].fill = undefined;
    def.series.push({ label: 'max', stroke: withAlpha(c, 0.45), width: 1, value: pctValue });
    def.series.push({ label: 'min', stroke: withAlpha(c, 0.45), width: 1, value: pctValue });
    def.data.push(column(points, (p) => percent(p.cpu_ratio_max)), column(points, (p) => percent(p.cpu_ratio_min)));
    def.bands = [{ series: [2, 3], fill: withAlpha(c, 0.12) }];
  }
  return def;
}

function cores(points, ctx) {
  let n = 0;
  for (const p of points) if (Array.isArray(p.cores)) n = Math.max(n, p.cores.length);
  n = Math.min(n, MAX_CORE_SERIES);
  const series = [];
  const data = [times(points)];
  for (let i = 0; i < n; i++) {
    series.push({ label: `core ${i}`, stroke: ctx.palette[i % ctx.palette.length], width: 1, value: pctValue });
    data.push(column(points, (p) => (Array.isArray(p.cores) ? percent(p.cores[i]) : null)));
  }
  return { shape: `cores:${n}`, yRange: [0, 100], legend: n <= CORE_LEGEND_MAX, axisFmt: pctAxis, series, data };
}

function mem(points, ctx) {
  let total = 0;
  for (const p of points) total = Math.max(total, p.mem_total_bytes || 0, p.swap_total_bytes || 0);
  const pal = ctx.palette;
  return {
    shape: 'mem',
    yRange: (u, min, max) => [0, Math.max(total, max || 0, 1)],
    axisFmt: formatBytes,
    axisSize: 72,
    series: [
      { label: 'memory used', stroke: pal[0], fill: withAlpha(pal[0], 0.15), width: 1.5, value: bytesValue },
      { label: 'swap used', stroke: pal[2], fill: withAlpha(pal[2], 0.1), width: 1.5, value: bytesValue },
    ],
    data: [times(points), column(points, (p) => p.mem_used_bytes), column(points, (p) => p.swap_used_bytes)],
  };
}

function load(points, ctx) {
  const pal = ctx.palette;
  const series = [
    { label: 'load 1', stroke: pal[0], width: 1.5, value: numValue },
    { label: 'load 5', stroke: pal[1], width: 1.5, value: numValue },
    { label: 'load 15', stroke: pal[3], width: 1.5, value: numValue },
  ];
  const data = [times(points), column(points, (p) => p.load1), column(points, (p) => p.load5), column(points, (p) => p.load15)];
  // A dashed line at the core count: load above it means work waits for a CPU.
  if (ctx.cores) {
    series.push({ label: 'cores', stroke: ctx.faint, width: 1, dash: [4, 4], value: numValue });
    data.push(column(points, () => ctx.cores));
  }
  return {
    shape: `load:${ctx.cores ? 1 : 0}`,
    yRange: (u, min, max) => [0, Math.max(1, (max || 0) * 1.1)],
    axisFmt: String,
    series,
    data,
  };
}

/** Interface names across the points, sorted, at most MAX_INTERFACES. */
export function interfaces(points) {
  const devs = new Set();
  for (const p of points) {
    if (!Array.isArray(p.networks)) continue;
    for (const n of p.networks) if (n && typeof n.device === 'string') devs.add(n.device);
  }
  return Array.from(devs).sort().slice(0, MAX_INTERFACES);
}

function net(points, ctx) {
  const names = interfaces(points);
  const series = [];
  const data = [times(points)];
  names.forEach((dev, k) => {
    const color = ctx.palette[k % ctx.palette.length];
    const pick = (field) => (p) => {
      const n = Array.isArray(p.networks) ? p.networks.find((x) => x && x.device === dev) : null;
      return n ? n[field] : null;
    };
    series.push({ label: `${dev} in`, stroke: color, width: 1.5, value: rateValue });
    series.push({ label: `${dev} out`, stroke: color, width: 1.5, dash: [5, 3], value: rateValue });
    data.push(column(points, pick('rx_bytes_per_second')), column(points, pick('tx_bytes_per_second')));
  });
  return {
    shape: `net:${JSON.stringify(names)}`,
    yRange: (u, min, max) => [0, Math.max(1024, (max || 0) * 1.1)],
    axisFmt: formatRate,
    axisSize: 84,
    series,
    data,
  };
}

const BUILDERS = { cpu, cores, mem, load, net };

/** The definition of chart `name` (one of CHART_NAMES) over `points`. */
export function chartDef(name, points, ctx) {
  return BUILDERS[name](points, ctx);
}
