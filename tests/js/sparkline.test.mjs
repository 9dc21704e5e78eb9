// Unit tests of dashboards/static/sparkline.js: where a sparkline's points go.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MIN_SLOTS, sparkPath, sparkTone } from '../../dashboards/static/sparkline.js';

test('fewer than two values draw nothing', () => {
  assert.deepEqual(sparkPath([], 96, 26, 120), []);
  assert.deepEqual(sparkPath([0.5], 96, 26, 120), []);
});

test('the newest value is at the right edge; short histories keep a fixed slot width', () => {
  const path = sparkPath([0, 1], 96, 26, 120);
  const slot = 96 / (MIN_SLOTS - 1);
  assert.equal(path[1][0], 96);
  assert.ok(Math.abs(path[0][0] - (96 - slot)) < 1e-9);
  assert.equal(path[0][1], 24, '0 at the bottom, inside the padding');
  assert.equal(path[1][1], 2, '1 at the top');
});

test('a full history spans the width; values are clamped', () => {
  const data = Array.from({ length: 120 }, (_, i) => (i % 2 ? 2 : -1));
  const path = sparkPath(data, 96, 26, 120);
  assert.ok(Math.abs(path[0][0]) < 1e-9);
  assert.equal(path[119][0], 96);
  assert.deepEqual(new Set(path.map((p) => p[1])), new Set([24, 2]));
});

test('the colour follows status and the newest value', () => {
  assert.equal(sparkTone(false, [0.95]), 'off');
  assert.equal(sparkTone(true, [0.95]), 'crit');
  assert.equal(sparkTone(true, [0.95, 0.8]), 'warn');
  assert.equal(sparkTone(true, [0.1]), 'line');
});
