// utizmon dashboard: what each host chart shows, as series plus columnar data for uPlot.
// Pure functions of the points and a context { palette, faint, bucketed, cores }:
// CHART_NAMES take the points of GET /api/v1/hosts/{host}/samples, DETAIL_CHART_NAMES those
// of GET /api/v1/hosts/{host}/details (docs/api.md), each drawn as the server computed them.
// charts.js does the drawing. A definition's `shape`
// changes when its set of series changes (cores, interfaces, min/max band): then the chart
// is built anew instead of given new data.

import { DASH, formatBytes, formatCelsius, formatNumber, formatRate, isNum } from './format.js';
import { sensorName } from './host-sections.js';

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

/** The detail charts of the host page (protocol minor-1 sections), over detail points. */
export const DETAIL_CHART_NAMES = ['disk', 'pressure', 'temp', 'neterr', 'kernel', 'tasks', 'filefd', 'inodes'];

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

/**
 * A picker of `field` (a name, or a function of the entry) of the entry of list `list`
 * whose `key` is `name`, per point.
 */
function entryOf(list, key, name) {
  return (field) => (p) => {
    const x = Array.isArray(p[list]) ? p[list].find((e) => e && e[key] === name) : null;
    if (!x) return null;
    return typeof field === 'function' ? field(x) : x[field];
  };
}

/** Interface names across the points, sorted, at most MAX_INTERFACES. */
export function interfaces(points) {
  return keysIn(points, 'networks', 'device', MAX_INTERFACES);
}

/**
 * Two series per device of list `list` (the first solid, the second dashed), one colour
 * per device: `pair` gives each series' label suffix and field (see `entryOf`); the shape
 * is chart `name` with its devices (`key`: the entries' name field, `device` by default).
 */
function perDevice(points, ctx, name, list, pair, value, key = 'device') {
  const names = keysIn(points, list, key, MAX_INTERFACES);
  const series = [];
  const data = [times(points)];
  names.forEach((dev, k) => {
    const stroke = ctx.palette[k % ctx.palette.length];
    const pick = entryOf(list, key, dev);
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

/** The pressure series a detail point can carry, in legend order. */
export const PRESSURE_SERIES = [
  ['cpu', 'some'],
  ['cpu', 'full'],
  ['memory', 'some'],
  ['memory', 'full'],
  ['io', 'some'],
  ['io', 'full'],
];

/** Pressure: share of the time stalled, some (solid) and full (dashed) per resource. */
function pressure(points, ctx) {
  const pick = (p, res, kind) => (p.pressure && p.pressure[res] ? p.pressure[res][`${kind}_ratio`] : null);
  const present = PRESSURE_SERIES.filter(([res, kind]) => points.some((p) => isNum(pick(p, res, kind))));
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
    data: [times(points), ...present.map(([res, kind]) => column(points, (p) => percent(pick(p, res, kind))))],
  };
}

/** A sensor's key in a detail point: chip and sensor, unique per host. */
const sensorKey = (t) => `${t.chip}/${t.sensor}`;

/** Temperatures: one series per sensor (sorted by chip and sensor), in degrees Celsius. */
function temp(points, ctx) {
  const names = new Map();
  for (const p of points) {
    if (!Array.isArray(p.temperatures)) continue;
    for (const t of p.temperatures) if (t && typeof t.chip === 'string') names.set(sensorKey(t), sensorName(t));
  }
  const keys = Array.from(names.keys()).sort().slice(0, MAX_SENSORS);
  const pick = (key) => (p) => {
    const t = Array.isArray(p.temperatures) ? p.temperatures.find((x) => x && sensorKey(x) === key) : null;
    return t ? t.celsius : null;
  };
  return {
    shape: `temp:${JSON.stringify(keys)}`,
    yRange: (u, min, max) => [Math.min(0, min || 0), Math.max(50, (max || 0) * 1.1)],
    axisFmt: (v) => `${v}°C`,
    series: keys.map((key, k) => ({ label: names.get(key), stroke: ctx.palette[k % ctx.palette.length], width: 1.5, value: celsiusValue })),
    data: [times(points), ...keys.map((key) => column(points, pick(key)))],
  };
}

const sum = (a, b) => (isNum(a) && isNum(b) ? a + b : null);

/** Network errors (solid) and drops (dashed) per second of each interface, in and out summed. */
function neterr(points, ctx) {
  const pair = [
    ['errors', (n) => sum(n.rx_errors_per_second, n.tx_errors_per_second)],
    ['drops', (n) => sum(n.rx_dropped_per_second, n.tx_dropped_per_second)],
  ];
  return {
    ...perDevice(points, ctx, 'neterr', 'networks', pair, perSecondValue),
    yRange: (u, min, max) => [0, Math.max(1, (max || 0) * 1.1)],
    axisFmt: String,
  };
}

/** Fixed series of one object field of the points: `[label, pick, dashed]` each. */
function fixed(points, ctx, shape, list, value) {
  return {
    shape,
    axisFmt: (v) => formatNumber(v, 0),
    axisSize: 64,
    series: list.map(([label, , dashed], k) => ({ label, stroke: ctx.palette[k], width: 1.5, dash: dashed ? [5, 3] : undefined, value })),
    data: [times(points), ...list.map(([, pick]) => column(points, pick))],
  };
}

const kernelOf = (field) => (p) => (p.kernel ? p.kernel[field] : null);

/** Kernel activity: context switches and interrupts per second. */
function kernel(points, ctx) {
  return {
    ...fixed(points, ctx, 'kernel', [
      ['context switches', kernelOf('context_switches_per_second')],
      ['interrupts', kernelOf('interrupts_per_second')],
    ], perSecondValue),
    yRange: (u, min, max) => [0, Math.max(10, (max || 0) * 1.1)],
  };
}

/** Tasks: runnable and blocked on I/O. */
function tasks(points, ctx) {
  return {
    ...fixed(points, ctx, 'tasks', [
      ['running', kernelOf('procs_running')],
      ['blocked', kernelOf('procs_blocked'), true],
    ], (u, v) => formatNumber(v, 0)),
    yRange: (u, min, max) => [0, Math.max(4, (max || 0) * 1.2)],
  };
}

/**
 * Open file handles and the limit (dashed). The limit is often astronomically high
 * (`fs.file-max` is 2^63 - 1 on recent kernels): the y axis follows the handles, and the
 * limit line shows only when it is within reach (the legend always gives its value).
 */
function filefd(points, ctx) {
  const pick = (field) => (p) => (p.file_handles ? p.file_handles[field] : null);
  let high = 0;
  for (const p of points) if (p.file_handles && isNum(p.file_handles.allocated)) high = Math.max(high, p.file_handles.allocated);
  return {
    ...fixed(points, ctx, 'filefd', [
      ['open', pick('allocated')],
      ['maximum', pick('maximum'), true],
    ], (u, v) => formatNumber(v, 0)),
    yRange: (u, min, max) => [0, Math.max(10, Math.min(max || 0, high * 4) * 1.1)],
  };
}

/** Inodes used, % per filesystem (those with an inode table). */
function inodes(points, ctx) {
  const def = perDevice(points, ctx, 'inodes', 'inodes', [['', (f) => percent(f.used_ratio)]], pctValue, 'mountpoint');
  for (const s of def.series) s.label = s.label.trimEnd();
  return { ...def, yRange: (u, min, max) => [0, Math.min(100, Math.max(10, (max || 0) * 1.2))], axisFmt: pctAxis };
}

const BUILDERS = { cpu, cores, mem, load, net, disk, pressure, temp, neterr, kernel, tasks, filefd, inodes };

/** The definition of chart `name` (one of CHART_NAMES or DETAIL_CHART_NAMES) over `points`. */
export function chartDef(name, points, ctx) {
  return BUILDERS[name](points, ctx);
}
