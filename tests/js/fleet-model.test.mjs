// Unit tests of dashboards/static/fleet-model.js: the overview's fleet, sorting, filtering.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { appendBounded, compareBy, diskIo, FleetModel, HISTORY, initialDirection, loadPerCore, matches } from '../../dashboards/static/fleet-model.js';

const host = (name, extra = {}) => ({ host: name, status: 'online', last_seen_ms: 1, cpu_ratio: 0.1, ...extra });
const order = (list, key, dir) => list.slice().sort(compareBy(key, dir)).map((s) => s.host);

test('a snapshot replaces the fleet, forgets hosts the server dropped, and seeds histories', () => {
  const m = new FleetModel();
  assert.equal(m.haveSnapshot, false);
  let r = m.apply({ type: 'snapshot', hosts: [host('a', { cpu_history: [0.1, null, 0.2] }), host('b', { cpu_history: [] }), null, { host: 7 }] });
  assert.deepEqual(r, { snapshot: true, added: ['a', 'b'], removed: [] });
  assert.equal(m.haveSnapshot, true);
  assert.deepEqual(m.hosts.get('a').history, [0.1, 0.2], 'non-numbers are dropped');
  assert.deepEqual(m.hosts.get('b').history, [0.1], 'no history yet: the current value starts it');
  r = m.apply({ type: 'snapshot', hosts: [host('b')] });
  assert.deepEqual(r, { snapshot: true, added: [], removed: ['a'] });
  assert.deepEqual([...m.hosts.keys()], ['b']);
});

test('updates extend the history once per new sample', () => {
  const m = new FleetModel();
  m.apply({ type: 'snapshot', hosts: [host('a', { cpu_history: [0.1] })] });
  const e = m.hosts.get('a');
  e.dirty = false;
  e.sparkDirty = false;
  m.apply({ type: 'update', hosts: [host('a', { last_seen_ms: 2, cpu_ratio: 0.3 })] });
  m.apply({ type: 'update', hosts: [host('a', { last_seen_ms: 2, cpu_ratio: 0.3, status: 'offline' })] });
  assert.deepEqual(e.history, [0.1, 0.3], 'a status change without a new sample adds nothing');
  assert.equal(e.dirty && e.sparkDirty, true);
  assert.equal(m.hosts.get('a').s.status, 'offline');
  const r = m.apply({ type: 'update', hosts: [host('new')] });
  assert.deepEqual(r.added, ['new']);
  assert.equal(m.apply({ type: 'hello', hosts: [] }), null);
  assert.equal(m.apply({ type: 'update' }), null);
});

test('histories are bounded', () => {
  const list = [];
  for (let i = 0; i < HISTORY + 5; i++) appendBounded(list, i, HISTORY);
  assert.equal(list.length, HISTORY);
  assert.equal(list[0], 5);
});

test('sorting: numbers, names in natural order, unknowns last both ways', () => {
  const fleet = [host('web-10', { cpu_ratio: 0.5 }), host('web-2', { cpu_ratio: null }), host('web-1', { cpu_ratio: 0.9 }), host('db', { cpu_ratio: 0.5 })];
  assert.deepEqual(order(fleet, 'host', 1), ['db', 'web-1', 'web-2', 'web-10']);
  assert.deepEqual(order(fleet, 'cpu', -1), ['web-1', 'db', 'web-10', 'web-2'], 'ties by name');
  assert.deepEqual(order(fleet, 'cpu', 1), ['db', 'web-10', 'web-1', 'web-2']);
  assert.deepEqual(order([host('x', { status: 'offline' }), host('y')], 'status', 1), ['y', 'x']);
  assert.equal(initialDirection('host'), 1);
  assert.equal(initialDirection('cpu'), -1);
});

test('load sorts and fills per core', () => {
  assert.equal(loadPerCore({ load1: 2, cores: 4 }), 0.5);
  assert.equal(loadPerCore({ load1: 2, cores: 0 }), 2);
  assert.equal(loadPerCore({ load1: null, cores: 4 }), null);
  assert.deepEqual(order([host('a', { load1: 2, cores: 8 }), host('b', { load1: 1, cores: 1 })], 'load', -1), ['b', 'a']);
});

test('filtering by name and status', () => {
  const s = host('Web-1');
  assert.equal(matches(s, '', ''), true);
  assert.equal(matches(s, 'web', ''), true, 'case-insensitive');
  assert.equal(matches(s, 'db', ''), false);
  assert.equal(matches(s, '', 'online'), true);
  assert.equal(matches(s, '', 'offline'), false);
  assert.equal(matches({ ...s, status: 'offline' }, 'web', 'offline'), true);
});

test('disk I/O sorts by read + written; hosts without disks or sensors go last', () => {
  const a = { host: 'a', disk_read_bytes_per_second: 10, disk_written_bytes_per_second: 5, temp_max_celsius: 40 };
  const b = { host: 'b', disk_read_bytes_per_second: 1, disk_written_bytes_per_second: 30, temp_max_celsius: 70 };
  const c = { host: 'c', disk_read_bytes_per_second: null, disk_written_bytes_per_second: null, temp_max_celsius: null };
  assert.equal(diskIo(a), 15);
  assert.equal(diskIo(c), null);
  assert.deepEqual([c, a, b].sort(compareBy('diskio', -1)).map((s) => s.host), ['b', 'a', 'c']);
  assert.deepEqual([c, b, a].sort(compareBy('temp', 1)).map((s) => s.host), ['a', 'b', 'c']);
});
