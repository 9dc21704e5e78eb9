// Unit tests of dashboards/static/host-sections.js: which minor-1 sections a host reports,
// and sensor names.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sections, sensorName } from '../../dashboards/static/host-sections.js';

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
    kernel: { context_switches: 1, interrupts: 1, forks: 1, procs_running: 1, procs_blocked: 0 },
    filesystems: [{ mountpoint: '/', fstype: 'ext4', size_bytes: 1, avail_bytes: 1, files: 10, files_free: 5 }],
  },
  rates: {
    networks: [
      { device: 'eth0', rx_bytes_per_second: 1, tx_bytes_per_second: 2, rx_errors_per_second: 1, tx_errors_per_second: 2, rx_dropped_per_second: 3, tx_dropped_per_second: 0 },
      { device: 'old', rx_bytes_per_second: 1, tx_bytes_per_second: 2 },
    ],
    disks: [{ device: 'vda', read_bytes_per_second: 512, written_bytes_per_second: 1024, busy_ratio: 0.5 }],
  },
};

test('sections: shown only when the host reports them', () => {
  assert.deepEqual(sections(view), { disk: true, pressure: true, temp: true, neterr: true, kernel: true, tasks: true, filefd: false, inodes: true, procs: true, cgroups: false, units: true });
  const minor0 = { latest: { ts_ms: 1, networks: [{ device: 'eth0', rx_bytes: 1, tx_bytes: 1 }] }, rates: { networks: [] } };
  assert.deepEqual(Object.values(sections(minor0)), [false, false, false, false, false, false, false, false, false, false, false]);
  assert.equal(sections(null).disk, false);
});

test('sensor names: the label, else chip and sensor', () => {
  assert.equal(sensorName({ chip: 'c', sensor: 's', label: '' }), 'c s');
  assert.equal(sensorName({ chip: 'c', sensor: 's', label: 'Core 0' }), 'Core 0');
});
