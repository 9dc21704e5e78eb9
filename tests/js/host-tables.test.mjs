// Unit tests of the pure parts of dashboards/static/host-tables.js: which rows the top
// processes and the services/containers tables show, and what their cells say.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cgroupRows, processRows, TOP_N, unitsText } from '../../dashboards/static/host-tables.js';

const proc = (pid, name, cpu, rss) => ({ pid, name, user: 'u', cpu_ratio: cpu, rss_bytes: rss });

test('processes: the heaviest by CPU or by memory, ties by pid, capped', () => {
  const list = [proc(3, 'a', 0.1, 3072), proc(1, 'b', 0.5, 1024), proc(2, 'c', 0.1, 2048), null];
  assert.deepEqual(processRows(list, 'cpu').map((r) => r.key), ['1', '2', '3']);
  assert.deepEqual(processRows(list, 'memory').map((r) => r.key), ['3', '2', '1']);
  assert.deepEqual(processRows(list, 'cpu')[0].cells, ['1', 'b', 'u', '50.0%', '1.0\u00a0KiB']);
  const many = Array.from({ length: 20 }, (_, i) => proc(i + 1, 'p', i / 100, i));
  assert.equal(processRows(many, 'cpu').length, TOP_N);
  assert.deepEqual(processRows(undefined, 'cpu'), []);
});

test('cgroups: heaviest memory first, CPU as a share of all cores, dashes before rates', () => {
  const groups = [
    { name: 'system.slice/a.service', cpu_seconds: 1, memory_bytes: 100, io_read_bytes: 0, io_written_bytes: 0 },
    { name: 'system.slice/b.service', cpu_seconds: 1, memory_bytes: 2048, io_read_bytes: 0, io_written_bytes: 0 },
  ];
  const rates = [{ name: 'system.slice/b.service', cpu_cores: 0.5, io_read_bytes_per_second: 1024, io_written_bytes_per_second: 0 }];
  const rows = cgroupRows(groups, rates, 2);
  assert.deepEqual(rows.map((r) => r.key), ['system.slice/b.service', 'system.slice/a.service']);
  assert.deepEqual(rows[0].cells, ['system.slice/b.service', '25.0%', '2.0\u00a0KiB', '1.0\u00a0KiB/s', '0\u00a0B/s']);
  assert.deepEqual(rows[1].cells.slice(1), ['\u2013', '100\u00a0B', '\u2013', '\u2013']);
  assert.equal(cgroupRows(groups, rates, 0)[0].cells[1], '\u2013', 'unknown core count: no share');
});

test('failed units: names, none, or not checked', () => {
  assert.equal(unitsText(['a.service', 'b.timer']), 'a.service, b.timer');
  assert.equal(unitsText([]), 'No failed units.');
  assert.equal(unitsText(undefined), '\u2013');
});
