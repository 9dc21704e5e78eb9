// utizmon dashboard: what each host chart shows, as series plus columnar data for uPlot.
// Pure functions of the points and a context { palette, faint, bucketed, cores }:
// CHART_NAMES take the samples API's point shape, LIVE_CHART_NAMES the live points of
// live-points.js. charts.js does the drawing. A definition's `shape`
// changes when its set of series changes (cores, interfaces, min/max band): then the chart
// is built anew instead of given new data.

import { DASH, formatBytes, formatCelsius, formatNumber, formatRate, isNum } from './format.js';

/** Per-core series beyond this many are left out (a 256-core host would be unreadable). */
export const MAX_CORE_SERIES = 64;
/** Interfaces beyond this many (sorted by name) are left out of the network chart. */
export const MAX_INTERFACES = 8;
/** The core chart shows its legend only up to this many cores. */
const CORE_LEGEND_MAX = 16;

/** Sensors beyond this many (sorted by name) are left out of the temperature chart. */
export const MAX_SENSORS = 12;

/** The history charts of the host page, in the order of their `#chart-NAME` boxes. */
export const CHART_NAMES = ['cpu', 'cores', 'mem', 'load', 'net'];

/** The live-only charts (sections of protocol minor 1 the history does not keep yet). */
export const LIVE_CHART_NAMES = ['disk', 'pressure', 'temp', 'neterr'];

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
const perSecondValue = (u, v) => (isNum(v) ? formatNumber(v, 2) + '/s' : DASH);
const celsiusValue = (u, v) => formatCelsius(v);

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

const BYTE_RATE_RANGE = (u, min, max) => [0, Math.max(1024, (max || 0) * 1.1)];

/** The `key`s of the entries of list `field` across the points, sorted, at most `max`. */
function keysIn(points, field, key, max) {
  const keys = new Set();
  for (const p of points) {
    if (!Array.isArray(p[field])) continue;
    for (const x of p[field]) if (x && typeof x[key] === 'string') keys.add(x[key]);
  }
  return Array.from(keys).sort().slice(0, max);
}

/** A picker of `field` of the entry of list `list` whose `key` is `name`, per point. */
function entryOf(list, key, name) {
  return (field) => (p) => {
    const x = Array.isArray(p[list]) ? p[list].find((e) => e && e[key] === name) : null;
    return x ? x[field] : null;
  };
}

/** Interface names across the points, sorted, at most MAX_INTERFACES. */
export function interfaces(points) {
  return keysIn(points, 'networks', 'device', MAX_INTERFACES);
}

/**
 * Two series per device of list `list` (the first solid, the second dashed), one colour
 * per device: `pair` gives each series' label suffix and field; the shape is chart `name`
 * with its devices.
 */
function perDevice(points, ctx, name, list, pair, value) {
  const names = keysIn(points, list, 'device', MAX_INTERFACES);
  const series = [];
  const data = [times(points)];
  names.forEach((dev, k) => {
    const stroke = ctx.palette[k % ctx.palette.length];
    const pick = entryOf(list, 'device', dev);
    pair.forEach(([suffix, field], i) => {
      series.push({ label: `${dev} ${suffix}`, stroke, width: 1.5, dash: i > 0 ? [5, 3] : undefined, value });
      data.push(column(points, pick(field)));
    });
  });
  return { shape: `${name}:${JSON.stringify(names)}`, series, data };
}

/** Bytes per second, two series per device (see `perDevice`). */
function byteRates(points, ctx, name, list, pair) {
  return { ...perDevice(points, ctx, name, list, pair, rateValue), yRange: BYTE_RATE_RANGE, axisFmt: formatRate, axisSize: 84 };
}

/** Network: received (solid) and transmitted (dashed) bytes per second of each interface. */
function net(points, ctx) {
  return byteRates(points, ctx, 'net', 'networks', [
    ['in', 'rx_bytes_per_second'],
    ['out', 'tx_bytes_per_second'],
  ]);
}

/** Disk I/O: read (solid) and written (dashed) bytes per second of each device. */
function disk(points, ctx) {
  return byteRates(points, ctx, 'disk', 'disks', [
    ['read', 'read_bytes_per_second'],
    ['write', 'written_bytes_per_second'],
  ]);
}

/** The pressure series a live point can carry, in legend order. */
export const PRESSURE_SERIES = [
  ['cpu', 'some'],
  ['cpu', 'full'],
  ['memory', 'some'],
  ['memory', 'full'],
  ['io', 'some'],
  ['io', 'full'],
];

/** Pressure: share of the last 10 s stalled, some (solid) and full (dashed) per resource. */
function pressure(points, ctx) {
  const has = ([res, kind]) => points.some((p) => p.pressure && p.pressure[res] && isNum(p.pressure[res][kind]));
  const present = PRESSURE_SERIES.filter(has);
  const colors = { cpu: ctx.palette[0], memory: ctx.palette[1], io: ctx.palette[2] };
  return {
    shape: `pressure:${present.map((x) => x.join('.')).join(',')}`,
    yRange: (u, min, max) => [0, Math.min(100, Math.max(5, (max || 0) * 1.2))],
    axisFmt: pctAxis,
    series: present.map(([res, kind]) => ({
      label: `${res} ${kind}`,
      stroke: colors[res],
      width: 1.5,
      dash: kind === 'full' ? [5, 3] : undefined,
      value: pctValue,
    })),
    data: [times(points), ...present.map(([res, kind]) => column(points, (p) => (p.pressure && p.pressure[res] ? percent(p.pressure[res][kind]) : null)))],
  };
}

/** Temperatures: one series per sensor, in degrees Celsius. */
function temp(points, ctx) {
  const keys = keysIn(points, 'temperatures', 'key', MAX_SENSORS);
  const labels = new Map();
  for (const p of points) for (const t of p.temperatures || []) if (t && keys.includes(t.key)) labels.set(t.key, t.name);
  return {
    shape: `temp:${JSON.stringify(keys)}`,
    yRange: (u, min, max) => [Math.min(0, min || 0), Math.max(50, (max || 0) * 1.1)],
    axisFmt: (v) => `${v}°C`,
    series: keys.map((key, k) => ({ label: labels.get(key), stroke: ctx.palette[k % ctx.palette.length], width: 1.5, value: celsiusValue })),
    data: [times(points), ...keys.map((key) => column(points, entryOf('temperatures', 'key', key)('celsius')))],
  };
}

/** Network errors (solid) and drops (dashed) per second of each interface, in and out summed. */
function neterr(points, ctx) {
  const pair = [
    ['errors', 'errors_per_second'],
    ['drops', 'dropped_per_second'],
  ];
  return {
    ...perDevice(points, ctx, 'neterr', 'netErrors', pair, perSecondValue),
    yRange: (u, min, max) => [0, Math.max(1, (max || 0) * 1.1)],
    axisFmt: String,
  };
}

const BUILDERS = { cpu, cores, mem, load, net, disk, pressure, temp, neterr };

/** The definition of chart `name` (one of CHART_NAMES or LIVE_CHART_NAMES) over `points`. */
export function chartDef(name, points, ctx) {
  return BUILDERS[name](points, ctx);
}
