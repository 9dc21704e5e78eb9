// Unit tests of dashboards/static/format.js: the numbers and texts every page shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clamp01, DASH, formatAgo, formatBytes, formatCelsius, formatDuration, formatNumber, formatPercent, formatRate, isNum, levelClass, ratioOf, severity } from '../../dashboards/static/format.js';

const NBSP = '\u00a0';

test('unknown values show as a dash', () => {
  for (const v of [null, undefined, NaN, Infinity, '12', {}]) {
    assert.equal(isNum(v), false);
    assert.equal(formatBytes(v), DASH);
    assert.equal(formatRate(v), DASH);
    assert.equal(formatPercent(v), DASH);
    assert.equal(formatNumber(v, 2), DASH);
    assert.equal(formatDuration(v), DASH);
  }
  assert.equal(formatAgo(null), 'never');
  assert.equal(formatDuration(-1), DASH);
});

test('bytes use binary units with one decimal below 100', () => {
  assert.equal(formatBytes(0), `0${NBSP}B`);
  assert.equal(formatBytes(512), `512${NBSP}B`);
  assert.equal(formatBytes(1023), `1023${NBSP}B`);
  assert.equal(formatBytes(1024), `1.0${NBSP}KiB`);
  assert.equal(formatBytes(1536), `1.5${NBSP}KiB`);
  assert.equal(formatBytes(150 * 1024 * 1024), `150${NBSP}MiB`);
  assert.equal(formatBytes(-2048), `-2.0${NBSP}KiB`);
  assert.equal(formatBytes(2 ** 70), `1024${NBSP}EiB`, 'the largest unit keeps growing');
  assert.equal(formatRate(1536), `1.5${NBSP}KiB/s`);
});

test('percent, fixed decimals', () => {
  assert.equal(formatPercent(0.1234), '12.3%');
  assert.equal(formatPercent(1), '100.0%');
  assert.equal(formatNumber(1.23456, 2), '1.23');
});

test('durations show the two largest units', () => {
  assert.equal(formatDuration(40), '40s');
  assert.equal(formatDuration(12 * 60 + 5), '12m');
  assert.equal(formatDuration(5 * 3600 + 12 * 60), '5h 12m');
  assert.equal(formatDuration(3 * 86400 + 4 * 3600 + 59), '3d 4h');
});

test('ages round to a readable unit', () => {
  assert.equal(formatAgo(-5000), 'just now', 'a clock slightly ahead is not "in the future"');
  assert.equal(formatAgo(4000), 'just now');
  assert.equal(formatAgo(40000), '40 s ago');
  assert.equal(formatAgo(125000), '2 min ago');
  assert.equal(formatAgo(3 * 3600000), '3 h ago');
  assert.equal(formatAgo(5 * 86400000), '5 d ago');
});

test('ratios, clamping and threshold levels', () => {
  assert.equal(ratioOf(1, 4), 0.25);
  assert.equal(ratioOf(1, 0), null);
  assert.equal(ratioOf(null, 4), null);
  assert.equal(clamp01(1.5), 1);
  assert.equal(clamp01(-0.5), 0);
  assert.equal(clamp01(null), 0);
  assert.equal(severity(0.74), '');
  assert.equal(severity(0.75), 'warn');
  assert.equal(severity(0.9), 'crit');
  assert.equal(severity(null), '');
  assert.equal(levelClass(0.95), 'lvl-crit');
  assert.equal(levelClass(0.8), 'lvl-warn');
  assert.equal(levelClass(0.1), '');
});

test('degrees Celsius with one decimal', () => {
  assert.equal(formatCelsius(45.25), '45.3\u00a0\u00b0C');
  assert.equal(formatCelsius(-5), '-5.0\u00a0\u00b0C');
  assert.equal(formatCelsius(null), DASH);
});
