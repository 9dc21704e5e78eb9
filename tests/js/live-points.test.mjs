// Unit tests of dashboards/static/live-points.js: the live points of the host page's
// live-only charts, and which minor-1 sections a host reports.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { livePointOf, sections, sensorName } from '../../dashboards/static/live-points.js';

const view = {
  latest: {
    ts_ms: 5000,
    networks: [{ device: 'eth0', rx_bytes: 1, tx_bytes: 2, rx_packets: 10 }],
    disks: [{ device: 'vda', reads: 1 }],
    pressure: { cpu: { some_seconds: 1, some_avg10: 0.02 }, io: { some_seconds: 1, some_avg10: 0.1, full_seconds: 0.5, full_avg10: 0.05 } },
    temperatures: [
      { kind: 'hwmon', chip: 'platform_coretemp_0', sensor: 'temp1', label: 'Package id 0', celsius: 45 },
      { kind: 'thermal_zone', chip: 'acpitz', sensor: '0', celsius: 40 },
    ],
    top_processes: [{ pid: 1, name: 'init', user: 'root', cpu_ratio: 0, rss_bytes: 1 }],
    failed_units: [],
  },
  rates: {
    networks: [
      { device: 'eth0', rx_bytes_per_second: 1, tx_bytes_per_second: 2, rx_errors_per_second: 1, tx_errors_per_second: 2, rx_dropped_per_second: 3, tx_dropped_per_second: 0 },
      { device: 'old', rx_bytes_per_second: 1, tx_bytes_per_second: 2 },
    ],
    disks: [{ device: 'vda', read_bytes_per_second: 512, written_bytes_per_second: 1024, busy_ratio: 0.5 }],
  },
};

test('a live point carries the server-computed values as they are', () => {
  const p = livePointOf(view);
  assert.equal(p.ts_ms, 5000);
  assert.deepEqual(p.disks, view.rates.disks);
  assert.deepEqual(p.pressure, { cpu: { some: 0.02, full: undefined }, io: { some: 0.1, full: 0.05 } });
  assert.deepEqual(p.temperatures, [
    { key: 'platform_coretemp_0/temp1', name: 'Package id 0', celsius: 45 },
    { key: 'acpitz/0', name: 'acpitz 0', celsius: 40 },
  ]);
  assert.deepEqual(p.netErrors, [{ device: 'eth0', errors_per_second: 3, dropped_per_second: 3 }], 'only interfaces with packet rates');
});

test('no sample, no live point; missing sections are empty, not errors', () => {
  assert.equal(livePointOf(null), null);
  assert.equal(livePointOf({ latest: null }), null);
  const p = livePointOf({ latest: { ts_ms: 1 }, rates: null });
  assert.deepEqual(p, { ts_ms: 1, disks: [], pressure: {}, temperatures: [], netErrors: [] });
});

test('sections: shown only when the host reports them', () => {
  assert.deepEqual(sections(view), { disk: true, pressure: true, temp: true, neterr: true, procs: true, cgroups: false, units: true });
  const minor0 = { latest: { ts_ms: 1, networks: [{ device: 'eth0', rx_bytes: 1, tx_bytes: 1 }] }, rates: { networks: [] } };
  assert.deepEqual(Object.values(sections(minor0)), [false, false, false, false, false, false, false]);
  assert.equal(sections(null).disk, false);
});

test('sensor names: the label, else chip and sensor', () => {
  assert.equal(sensorName({ chip: 'c', sensor: 's', label: '' }), 'c s');
  assert.equal(sensorName({ chip: 'c', sensor: 's', label: 'Core 0' }), 'Core 0');
});
