// Unit tests of dashboards/static/alerts-model.js: how the Alerts page groups and orders
// alerts, the overview's badges, the host banner, silence and history texts, and the
// body of a new silence.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  activeText,
  alertKey,
  bannerAlerts,
  groupAlerts,
  historyRows,
  historyUrl,
  hostBadges,
  objectText,
  readAlerts,
  silenceBody,
  silenceTarget,
  silenceTimes,
  suggestions,
} from '../../dashboards/static/alerts-model.js';

const MIN = 60000;

function alert(over) {
  return {
    alertname: 'CpuHigh',
    host: 'web-1',
    labels: { alertname: 'CpuHigh', host: 'web-1', severity: 'warning' },
    state: 'firing',
    severity: 'warning',
    value: 0.95,
    active_since_ms: 0,
    summary: 'CPU on web-1 at 95.0%',
    silenced: false,
    ...over,
  };
}

test('readAlerts: only messages with alerts, malformed entries dropped', () => {
  assert.equal(readAlerts({ type: 'update', hosts: [] }), null);
  assert.equal(readAlerts(null), null);
  const read = readAlerts({ alerts: { active: [alert({}), { host: 'x' }, null], silences: [{ id: 1, ends_ms: 5 }, { id: 'a' }] } });
  assert.equal(read.active.length, 1);
  assert.deepEqual(read.silences, [{ id: 1, ends_ms: 5 }]);
  assert.deepEqual(readAlerts({ alerts: {} }), { active: [], silences: [] });
});

test('groupAlerts: firing, pending and silenced; critical first, then the oldest', () => {
  const groups = groupAlerts([
    alert({ host: 'b', active_since_ms: 5 }),
    alert({ host: 'a', active_since_ms: 9, severity: 'critical', alertname: 'HostDown' }),
    alert({ host: 'c', active_since_ms: 1 }),
    alert({ host: 'd', state: 'pending' }),
    alert({ host: 'e', silenced: true }),
    alert({ host: 'f', state: 'pending', silenced: true }),
  ]);
  assert.deepEqual(groups.firing.map((a) => a.host), ['a', 'c', 'b']);
  assert.deepEqual(groups.pending.map((a) => a.host), ['d', 'f']);
  assert.deepEqual(groups.silenced.map((a) => a.host), ['e']);
});

test('objectText and alertKey tell per-object alerts apart', () => {
  const a = alert({ alertname: 'DiskAlmostFull', labels: { alertname: 'DiskAlmostFull', host: 'web-1', severity: 'critical', mountpoint: '/home' } });
  assert.equal(objectText(a), 'mountpoint=/home');
  assert.equal(objectText(alert({})), '');
  assert.equal(objectText({ alertname: 'x', host: 'y' }), '');
  const b = alert({ alertname: 'DiskAlmostFull', labels: { ...a.labels, mountpoint: '/' } });
  assert.notEqual(alertKey(a), alertKey(b));
});

test('hostBadges: firing alerts only, most urgent severity, silenced when all are', () => {
  const badges = hostBadges([
    alert({}),
    alert({ alertname: 'HostDown', severity: 'critical' }),
    alert({ host: 'web-2', silenced: true }),
    alert({ host: 'web-3', state: 'pending' }),
  ]);
  assert.deepEqual([...badges.keys()].sort(), ['web-1', 'web-2']);
  assert.deepEqual(badges.get('web-1'), { count: 2, severity: 'critical', silenced: false, title: '2 firing alerts: HostDown, CpuHigh' });
  assert.deepEqual(badges.get('web-2'), { count: 1, severity: 'warning', silenced: true, title: '1 firing alert: CpuHigh (silenced)' });
});

test('bannerAlerts: the firing alerts of one host', () => {
  const list = [alert({}), alert({ host: 'web-2' }), alert({ state: 'pending', alertname: 'MemoryHigh' }), alert({ alertname: 'HostDown', severity: 'critical' })];
  assert.deepEqual(bannerAlerts(list, 'web-1').map((a) => a.alertname), ['HostDown', 'CpuHigh']);
  assert.deepEqual(bannerAlerts(list, 'nope'), []);
});

test('activeText, silenceTarget and silenceTimes', () => {
  assert.equal(activeText(alert({ active_since_ms: 0 }), 12 * MIN), 'firing for 12m');
  assert.equal(activeText(alert({ state: 'pending', active_since_ms: 0 }), 40000), 'pending for 40s');
  assert.equal(silenceTarget({ host: 'web-1', alertname: 'CpuHigh' }), 'CpuHigh on web-1');
  assert.equal(silenceTarget({ host: 'web-1', alertname: null }), 'every alert on web-1');
  assert.equal(silenceTarget({ host: null, alertname: 'CpuHigh' }), 'CpuHigh on every host');
  assert.equal(silenceTimes({ starts_ms: 0, ends_ms: 120 * MIN }, MIN), 'ends in 1h 59m');
  assert.equal(silenceTimes({ starts_ms: 10 * MIN, ends_ms: 20 * MIN }, 5 * MIN), 'starts in 5m');
});

test('historyRows: newest first, resolved or still firing, with how long', () => {
  const rows = historyRows(
    [
      { ...alert({}), fired_at_ms: 0, resolved_ms: 5 * MIN },
      { ...alert({ alertname: 'HostDown' }), fired_at_ms: 10 * MIN, resolved_ms: null },
      { host: 'bad' },
    ],
    30 * MIN
  );
  assert.deepEqual(
    rows.map((r) => [r.entry.alertname, r.state, r.when, r.lasted]),
    [
      ['HostDown', 'firing', '20 min ago', 'firing for 20m'],
      ['CpuHigh', 'resolved', '30 min ago', 'lasted 5m'],
    ]
  );
  assert.deepEqual(historyRows(null, 0), []);
});

test('historyUrl covers the range before now', () => {
  assert.equal(historyUrl(100000.4, 60000), '/api/v1/alerts/history?from=40000&to=100000');
  assert.equal(historyUrl(10, 60000), '/api/v1/alerts/history?from=0&to=10');
});

test('silenceBody: host, alert or both; empty fields left out', () => {
  assert.deepEqual(silenceBody({ host: ' web-1 ', alertname: '', duration: '2h', comment: '' }), { body: { duration: '2h', host: 'web-1' } });
  assert.deepEqual(silenceBody({ host: '', alertname: 'CpuHigh', duration: '1h', comment: 'deploy' }), {
    body: { duration: '1h', alertname: 'CpuHigh', comment: 'deploy' },
  });
  assert.ok(silenceBody({ host: '', alertname: ' ', duration: '1h' }).error);
  assert.ok(silenceBody({ host: 'a', duration: '' }).error);
});

test('suggestions are sorted and unique', () => {
  assert.deepEqual(suggestions(['b', 'a', 'b', '', null]), ['a', 'b']);
});
