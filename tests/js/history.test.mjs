// Unit tests of dashboards/static/history.js: the host page's chart points.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { appendPoint, dropBefore, rangeNote, readSamples, replaceTail, samplesUrl } from '../../dashboards/static/history.js';

const pt = (ts_ms, cpu_ratio = 0.5) => ({ ts_ms, cpu_ratio });
const times = (points) => points.map((p) => p.ts_ms);

test('the samples URL encodes the host and leaves the step to the server', () => {
  assert.equal(samplesUrl('a/b c', 1000.7, 2000.2), '/api/v1/hosts/a%2Fb%20c/samples?from=1000&to=2000');
  assert.equal(samplesUrl('web-1', 0, 10, 6000), '/api/v1/hosts/web-1/samples?from=0&to=10&step=6000');
  assert.equal(samplesUrl('web-1', 0, 10, 0, 'details'), '/api/v1/hosts/web-1/details?from=0&to=10');
});

test('a samples answer keeps only points with a time', () => {
  const body = { step_ms: 6000, points: [pt(1), null, { cpu_ratio: 1 }, pt(2), { ts_ms: '3' }] };
  assert.deepEqual(readSamples(body), { stepMs: 6000, points: [pt(1), pt(2)] });
  assert.deepEqual(readSamples(null), { stepMs: 0, points: [] });
  assert.deepEqual(readSamples({ points: 'x' }), { stepMs: 0, points: [] });
});

test('live points append in order and old ones leave the range', () => {
  const points = [pt(1000), pt(2000)];
  assert.equal(appendPoint(points, pt(3000), 0), true);
  assert.equal(appendPoint(points, pt(3000), 0), false, 'a resent point is not appended twice');
  assert.equal(appendPoint(points, pt(2500), 0), false, 'an older point is ignored');
  assert.equal(appendPoint(points, null, 0), false);
  assert.equal(appendPoint(points, { cpu_ratio: 1 }, 0), false);
  assert.deepEqual(times(points), [1000, 2000, 3000]);
  assert.equal(appendPoint(points, pt(4000), 2500), true);
  assert.deepEqual(times(points), [3000, 4000]);
});

test('dropping old points keeps the newest one', () => {
  const points = [pt(1), pt(2)];
  dropBefore(points, 100);
  assert.deepEqual(times(points), [2]);
  dropBefore([], 100);
});

test('a re-read tail replaces the open bucket and adds new ones', () => {
  const points = [pt(0, 0.1), pt(6000, 0.2), pt(12000, 0.3)];
  replaceTail(points, 12000, [pt(12000, 0.35), pt(18000, 0.4), pt(6000, 9)]);
  assert.deepEqual(points, [pt(0, 0.1), pt(6000, 0.2), pt(12000, 0.35), pt(18000, 0.4)]);
  replaceTail(points, 18000, []);
  assert.deepEqual(times(points), [0, 6000, 12000], 'an empty tail leaves what came before');
});

test('the range note says what the charts cannot', () => {
  const base = { loading: false, failed: false, points: [pt(100000)], fromMs: 0, stepMs: 1000, intervalMs: 1000 };
  assert.equal(rangeNote({ ...base, loading: true }), 'Loading\u2026');
  assert.equal(rangeNote({ ...base, failed: true }), 'Could not load history; showing live data only');
  assert.equal(rangeNote({ ...base, points: [] }), 'No history in this range yet');
  assert.match(rangeNote(base), /^History available since /);
  assert.equal(rangeNote({ ...base, points: [pt(2500)] }), '', 'within three steps of the start is complete');
  assert.equal(rangeNote({ ...base, stepMs: 60000 }), '');
});
