// Unit tests of dashboards/static/chart-defs.js: what each host chart plots.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CHART_NAMES, chartDef, DETAIL_CHART_NAMES, interfaces, MAX_CORE_SERIES, MAX_INTERFACES, MAX_SENSORS, withAlpha } from '../../dashboards/static/chart-defs.js';

const ctx = { palette: ['#102030', '#405060', '#708090', '#a0b0c0'], faint: '#999999', bucketed: false, cores: null };
const net = (device, rx, tx) => ({ device, rx_bytes_per_second: rx, tx_bytes_per_second: tx });
const points = [
  { ts_ms: 1000, cpu_ratio: 0.5, cpu_ratio_min: 0.4, cpu_ratio_max: 0.6, cores: [0.1, 0.2], mem_used_bytes: 10, mem_total_bytes: 100, swap_used_bytes: 0, swap_total_bytes: 0, load1: 1, load5: 2, load15: 3, networks: [net('eth0', 1, 2)] },
  { ts_ms: 2000, cpu_ratio: null, cores: [0.3], networks: [net('wlan0', 5, 6), net('eth0', 3, 4)] },
];

test('every chart has x in seconds and one column per series', () => {
  for (const name of CHART_NAMES) {
    const def = chartDef(name, points, ctx);
    assert.deepEqual(def.data[0], [1, 2], name);
    assert.equal(def.data.length, def.series.length + 1, name);
    for (const col of def.data) assert.equal(col.length, points.length, name);
  }
});

test('CPU is in percent, unknown is a gap; bucketed ranges add a min..max band', () => {
  const raw = chartDef('cpu', points, ctx);
  assert.equal(raw.shape, 'cpu');
  assert.deepEqual(raw.data[1], [50, null]);
  const b = chartDef('cpu', points, { ...ctx, bucketed: true });
  assert.equal(b.shape, 'cpu:band');
  assert.deepEqual(b.series.map((s) => s.label), ['CPU', 'max', 'min']);
  assert.deepEqual(b.data[2], [60, null]);
  assert.deepEqual(b.data[3], [40, null]);
  assert.deepEqual(b.bands[0].series, [2, 3]);
  assert.equal(b.series[1].value(null, 12.34), '12.3%');
});

test('cores: one series per core, capped', () => {
  const def = chartDef('cores', points, ctx);
  assert.equal(def.shape, 'cores:2');
  assert.deepEqual(def.data[2], [20, null], 'a core missing from a point is a gap');
  const many = [{ ts_ms: 1, cores: new Array(200).fill(0.5) }];
  const big = chartDef('cores', many, ctx);
  assert.equal(big.series.length, MAX_CORE_SERIES);
  assert.equal(big.legend, false);
});

test('load shows the core count as a line once known', () => {
  assert.equal(chartDef('load', points, ctx).shape, 'load:0');
  const def = chartDef('load', points, { ...ctx, cores: 4 });
  assert.equal(def.shape, 'load:1');
  assert.deepEqual(def.data[4], [4, 4]);
  assert.equal(def.series[3].stroke, '#999999');
});

test('memory scales to the total', () => {
  const def = chartDef('mem', points, ctx);
  assert.deepEqual(def.yRange(null, 0, 50), [0, 100]);
  assert.deepEqual(def.data[1], [10, null]);
});

test('network: interfaces sorted by name, in and out per interface', () => {
  const def = chartDef('net', points, ctx);
  assert.deepEqual(def.series.map((s) => s.label), ['eth0 in', 'eth0 out', 'wlan0 in', 'wlan0 out']);
  assert.deepEqual(def.data.slice(1), [[1, 3], [2, 4], [null, 5], [null, 6]]);
  assert.equal(def.shape, 'net:["eth0","wlan0"]');
  const lots = [{ ts_ms: 1, networks: Array.from({ length: 20 }, (_, i) => net(`if${String(i).padStart(2, '0')}`, 1, 1)) }];
  assert.equal(interfaces(lots).length, MAX_INTERFACES);
  assert.deepEqual(interfaces([{ ts_ms: 1, networks: [null, { device: 3 }] }]), []);
});

test('colours take an alpha', () => {
  assert.equal(withAlpha('#ff8000', 0.5), 'rgba(255,128,0,0.5)');
  assert.equal(withAlpha('rgb(1,2,3)', 0.5), 'rgb(1,2,3)');
});

const detail = [
  {
    ts_ms: 1000,
    disks: [{ device: 'vda', read_bytes_per_second: 10, written_bytes_per_second: 20 }],
    pressure: { cpu: { some_ratio: 0.02 }, io: { some_ratio: 0.1, full_ratio: 0.05 } },
    temperatures: [{ kind: 'hwmon', chip: 'c', sensor: 'temp1', label: 'Package id 0', celsius: 45 }],
    networks: [{ device: 'eth0', rx_errors_per_second: 1, tx_errors_per_second: 0, rx_dropped_per_second: 0.5, tx_dropped_per_second: 1.5 }],
    kernel: { context_switches_per_second: 2000, interrupts_per_second: 900, forks_per_second: 1, procs_running: 3, procs_blocked: 1 },
    file_handles: { allocated: 2310, maximum: 9223372036854775807 },
    inodes: [{ mountpoint: '/', fstype: 'ext4', used_ratio: 0.25 }],
  },
  {
    ts_ms: 2000,
    temperatures: [{ kind: 'hwmon', chip: 'c', sensor: 'temp1', label: 'Package id 0', celsius: 46.25 }],
    kernel: { context_switches_per_second: null, interrupts_per_second: null, forks_per_second: null, procs_running: 2, procs_blocked: 0 },
  },
];

test('every detail chart has x in seconds and one column per series', () => {
  for (const name of DETAIL_CHART_NAMES) {
    const def = chartDef(name, detail, ctx);
    assert.deepEqual(def.data[0], [1, 2], name);
    assert.equal(def.data.length, def.series.length + 1, name);
    assert.ok(def.series.length > 0, name);
    for (const col of def.data) assert.equal(col.length, detail.length, name);
  }
});

test('disk I/O: read and write per device; pressure: only the series a host reports', () => {
  const disk = chartDef('disk', detail, ctx);
  assert.deepEqual(disk.series.map((s) => s.label), ['vda read', 'vda write']);
  assert.deepEqual(disk.data.slice(1), [[10, null], [20, null]]);
  const p = chartDef('pressure', detail, ctx);
  assert.deepEqual(p.series.map((s) => s.label), ['cpu some', 'io some', 'io full']);
  assert.deepEqual(p.data[3], [5, null]);
  assert.equal(p.shape, 'pressure:cpu.some,io.some,io.full');
  assert.equal(p.series[2].value(null, 5), '5.0%');
});

test('temperatures by sensor label, capped; network errors and drops per interface', () => {
  const t = chartDef('temp', detail, ctx);
  assert.deepEqual(t.series.map((s) => s.label), ['Package id 0']);
  assert.deepEqual(t.data[1], [45, 46.25]);
  assert.equal(t.series[0].value(null, 46.25), '46.3\u00a0\u00b0C');
  const lots = [{ ts_ms: 1, temperatures: Array.from({ length: 30 }, (_, i) => ({ chip: 'k', sensor: `t${i}`, label: '', celsius: i })) }];
  const capped = chartDef('temp', lots, ctx);
  assert.equal(capped.series.length, MAX_SENSORS);
  assert.equal(capped.series[0].label, 'k t0', 'chip and sensor when there is no label');
  const e = chartDef('neterr', detail, ctx);
  assert.deepEqual(e.series.map((s) => s.label), ['eth0 errors', 'eth0 drops']);
  assert.deepEqual(e.data.slice(1), [[1, null], [2, null]], 'in and out summed');
  assert.equal(e.series[1].value(null, 2), '2.00/s');
});

test('kernel activity, tasks, file handles and inodes', () => {
  const k = chartDef('kernel', detail, ctx);
  assert.deepEqual(k.series.map((s) => s.label), ['context switches', 'interrupts']);
  assert.deepEqual(k.data.slice(1), [[2000, null], [900, null]], 'no rate without a span: a gap');
  const t = chartDef('tasks', detail, ctx);
  assert.deepEqual(t.data.slice(1), [[3, 2], [1, 0]]);
  const f = chartDef('filefd', detail, ctx);
  assert.deepEqual(f.series.map((s) => s.label), ['open', 'maximum']);
  assert.deepEqual(f.data[1], [2310, null]);
  // A limit of 2^63 - 1 would flatten the handles: the axis follows them.
  const [lo, hi] = f.yRange(null, 0, 9223372036854775807);
  assert.ok(lo === 0 && hi < 20000, String(hi));
  const i = chartDef('inodes', detail, ctx);
  assert.deepEqual(i.series.map((s) => s.label), ['/']);
  assert.deepEqual(i.data[1], [25, null]);
  assert.equal(i.shape, 'inodes:["/"]');
});
