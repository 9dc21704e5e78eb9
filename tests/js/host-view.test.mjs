// Unit tests of the pure parts of dashboards/static/host-view.js: what the host page's
// cards and filesystem rows say.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { filesystemRows, loadCard, samplesText, seenText, swapCard } from '../../dashboards/static/host-view.js';

test('load card: per-core bar and the core count', () => {
  assert.deepEqual(loadCard({ load1: 2, load5: 1, load15: 0.5 }, 4), {
    value: '2.00',
    sub: '5 min 1.00 \u00b7 15 min 0.50 \u00b7 4 cores',
    ratio: 0.5,
  });
  assert.equal(loadCard({ load1: 1 }, 1).sub, '5 min \u2013 \u00b7 15 min \u2013 \u00b7 1 core');
  assert.equal(loadCard({}, 0).ratio, null);
});

test('swap card: none configured is said, not 0 %', () => {
  assert.deepEqual(swapCard({ swap_total_bytes: 0, swap_used_bytes: 0 }), { value: 'none', sub: 'no swap configured', ratio: null });
  assert.equal(swapCard({ swap_total_bytes: 4, swap_used_bytes: 1 }).value, '25.0%');
});

test('filesystems: sorted by mountpoint, used = size - available', () => {
  const rows = filesystemRows([
    { mountpoint: '/var', fstype: 'ext4', size_bytes: 1000, avail_bytes: 100 },
    { mountpoint: '/', fstype: 'ext4', size_bytes: 1000, avail_bytes: 1500 },
    { fstype: 'tmpfs' },
    null,
  ]);
  assert.deepEqual(rows.map((r) => r.mountpoint), ['/', '/var']);
  assert.equal(rows[0].ratio, 0, 'more available than size counts as empty');
  assert.equal(rows[1].percent, '90.0%');
  assert.equal(rows[1].key, '/var\u0000ext4');
  assert.deepEqual(filesystemRows(undefined), []);
});

test('samples and last-seen lines', () => {
  assert.equal(samplesText({}), null);
  assert.equal(samplesText({ received: 10, gaps: 2 }), '10 received, 2 missing, 0 duplicates');
  assert.equal(seenText({ last_seen_ms: 1000 }, 61000), 'last sample 1 min ago');
  assert.equal(seenText(null, 0), '');
});
