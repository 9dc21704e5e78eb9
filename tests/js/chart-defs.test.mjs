// Unit tests of dashboards/static/chart-defs.js: what each host chart plots.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CHART_NAMES, chartDef, interfaces, LIVE_CHART_NAMES, MAX_CORE_SERIES, MAX_INTERFACES, MAX_SENSORS, withAlpha } from '../../dashboards/static/chart-defs.js';

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

const live = [
  {
    ts_ms: 1000,
    disks: [{ device: 'vda', read_bytes_per_second: 10, written_bytes_per_second: 20 }],
    pressure: { cpu: { some: 0.02 }, io: { some: 0.1, full: 0.05 } },
    temperatures: [{ key: 'c/temp1', name: 'Package id 0', celsius: 45 }],
    netErrors: [{ device: 'eth0', errors_per_second: 1, dropped_per_second: 2 }],
  },
  { ts_ms: 2000, disks: [], pressure: {}, temperatures: [{ key: 'c/temp1', name: 'Package id 0', celsius: 46.25 }], netErrors: [] },
];

test('every live chart has x in seconds and one column per series', () => {
  for (const name of LIVE_CHART_NAMES) {
    const def = chartDef(name, live, ctx);
    assert.deepEqual(def.data[0], [1, 2], name);
    assert.equal(def.data.length, def.series.length + 1, name);
    assert.ok(def.series.length > 0, name);
    for (const col of def.data) assert.equal(col.length, live.length, name);
  }
});

test('disk I/O: read and write per device; pressure: only the series a host reports', () => {
  const disk = chartDef('disk', live, ctx);
  assert.deepEqual(disk.series.map((s) => s.label), ['vda read', 'vda write']);
  assert.deepEqual(disk.data.slice(1), [[10, null], [20, null]]);
  const p = chartDef('pressure', live, ctx);
  assert.deepEqual(p.series.map((s) => s.label), ['cpu some', 'io some', 'io full']);
  assert.deepEqual(p.data[3], [5, null]);
  assert.equal(p.shape, 'pressure:cpu.some,io.some,io.full');
  assert.equal(p.series[2].value(null, 5), '5.0%');
});

test('temperatures by sensor label, capped; network errors and drops per interface', () => {
  const t = chartDef('temp', live, ctx);
  assert.deepEqual(t.series.map((s) => s.label), ['Package id 0']);
  assert.deepEqual(t.data[1], [45, 46.25]);
  assert.equal(t.series[0].value(null, 46.25), '46.3\u00a0\u00b0C');
  const lots = [{ ts_ms: 1, temperatures: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, name: `s${i}`, celsius: i })) }];
  assert.equal(chartDef('temp', lots, ctx).series.length, MAX_SENSORS);
  const e = chartDef('neterr', live, ctx);
  assert.deepEqual(e.series.map((s) => s.label), ['eth0 errors', 'eth0 drops']);
  assert.deepEqual(e.data.slice(1), [[1, null], [2, null]]);
  assert.equal(e.series[1].value(null, 2), '2.00/s');
});
