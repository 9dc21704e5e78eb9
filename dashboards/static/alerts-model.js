// utizmon dashboard: what the alert parts of the pages say, from the `alerts` of
// /ws/dashboard messages (AlertsView, docs/api.md) and GET /api/v1/alerts/history.
// Grouping (firing, pending, silenced), ordering, the overview's per-host badges, the host
// page's banner lines, silence and history texts, and the body of a new silence.
// Pure (no DOM, no clock: "now" is an argument), unit-tested in tests/js/.

import { formatAgo, formatDuration, isNum } from './format.js';

/** Severities from the most to the least urgent; unknown ones rank below `info`. */
const SEVERITY_RANK = { critical: 3, warning: 2, info: 1 };

function rank(severity) {
  return SEVERITY_RANK[severity] || 0;
}

function isAlert(a) {
  return !!a && typeof a === 'object' && typeof a.alertname === 'string' && typeof a.host === 'string';
}

function isSilence(s) {
  return !!s && typeof s === 'object' && isNum(s.id) && isNum(s.ends_ms);
}

/**
 * The alerts of a message: `{ active, silences }` with malformed entries dropped, or null
 * when the message carries none (an update in which no alert changed).
 */
export function readAlerts(msg) {
  const a = msg && msg.alerts;
  if (!a || typeof a !== 'object') return null;
  return {
    active: Array.isArray(a.active) ? a.active.filter(isAlert) : [],
    silences: Array.isArray(a.silences) ? a.silences.filter(isSilence) : [],
  };
}

/** The object label of an alert as `name=value` (`mountpoint=/home`), or ''. */
export function objectText(alert) {
  const labels = alert.labels && typeof alert.labels === 'object' ? alert.labels : {};
  const extra = Object.keys(labels)
    .filter((k) => k !== 'alertname' && k !== 'host' && k !== 'severity')
    .sort();
  return extra.map((k) => `${k}=${labels[k]}`).join(', ');
}

/** A stable key per alert: name, host and object. */
export function alertKey(alert) {
  return `${alert.alertname}\u0000${alert.host}\u0000${objectText(alert)}`;
}

/** Most urgent first, then the longest active, then by host and name. */
export function compareAlerts(a, b) {
  return (
    rank(b.severity) - rank(a.severity) ||
    (a.active_since_ms || 0) - (b.active_since_ms || 0) ||
    (a.host < b.host ? -1 : a.host > b.host ? 1 : 0) ||
    (a.alertname < b.alertname ? -1 : a.alertname > b.alertname ? 1 : 0) ||
    (objectText(a) < objectText(b) ? -1 : objectText(a) > objectText(b) ? 1 : 0)
  );
}

/**
 * Splits active alerts into what the Alerts page lists: `firing` (notifying), `pending`
 * (condition holds, `for` not met; silenced or not) and `silenced` (firing, muted).
 */
export function groupAlerts(active) {
  const firing = [];
  const pending = [];
  const silenced = [];
  for (const a of active) {
    if (a.state === 'pending') pending.push(a);
    else if (a.silenced) silenced.push(a);
    else firing.push(a);
  }
  return { firing: firing.sort(compareAlerts), pending: pending.sort(compareAlerts), silenced: silenced.sort(compareAlerts) };
}

/**
 * The overview's badge per host with firing alerts: host -> `{ count, severity, silenced,
 * title }`; `severity` is the most urgent one, `silenced` whether every firing alert is muted.
 */
export function hostBadges(active) {
  const byHost = new Map();
  for (const a of active) {
    if (a.state !== 'firing') continue;
    let list = byHost.get(a.host);
    if (!list) byHost.set(a.host, (list = []));
    list.push(a);
  }
  const badges = new Map();
  for (const [host, list] of byHost) {
    list.sort(compareAlerts);
    const silenced = list.every((a) => a.silenced);
    const names = [...new Set(list.map((a) => a.alertname))];
    const what = `${list.length} firing alert${list.length === 1 ? '' : 's'}`;
    badges.set(host, {
      count: list.length,
      severity: list[0].severity,
      silenced,
      title: `${what}: ${names.join(', ')}${silenced ? ' (silenced)' : ''}`,
    });
  }
  return badges;
}

/** The host page's banner: the firing alerts of `host`, most urgent first. */
export function bannerAlerts(active, host) {
  return active.filter((a) => a.host === host && a.state === 'firing').sort(compareAlerts);
}

/** "firing for 12m" / "pending for 40s" at server time `now`. */
export function activeText(alert, now) {
  const since = isNum(alert.active_since_ms) ? formatDuration((now - alert.active_since_ms) / 1000) : '?';
  return `${alert.state === 'pending' ? 'pending' : 'firing'} for ${since}`;
}

/** What a silence mutes: "CpuHigh on web-1", "every alert on web-1", "CpuHigh on every host". */
export function silenceTarget(s) {
  const what = s.alertname || 'every alert';
  const where = s.host || 'every host';
  return `${what} on ${where}`;
}

/** "ends in 1h 59m" (running), "starts in 5m" (future) at server time `now`. */
export function silenceTimes(s, now) {
  if (isNum(s.starts_ms) && s.starts_ms > now) return `starts in ${formatDuration((s.starts_ms - now) / 1000)}`;
  return `ends in ${formatDuration(Math.max(0, s.ends_ms - now) / 1000)}`;
}

/** History entries (GET /api/v1/alerts/history) with what a row shows, newest first. */
export function historyRows(list, now) {
  return (Array.isArray(list) ? list : [])
    .filter((h) => isAlert(h) && isNum(h.fired_at_ms))
    .sort((a, b) => b.fired_at_ms - a.fired_at_ms)
    .map((h) => {
      const resolved = isNum(h.resolved_ms);
      const end = resolved ? h.resolved_ms : now;
      return {
        key: `${alertKey(h)}\u0000${h.fired_at_ms}`,
        entry: h,
        state: resolved ? 'resolved' : 'firing',
        object: objectText(h),
        when: formatAgo(now - h.fired_at_ms),
        lasted: `${resolved ? 'lasted' : 'firing for'} ${formatDuration((end - h.fired_at_ms) / 1000)}`,
      };
    });
}

/** GET URL of the alert history of the `rangeMs` before server time `now`. */
export function historyUrl(now, rangeMs) {
  const to = Math.round(now);
  return `/api/v1/alerts/history?from=${Math.max(0, to - rangeMs)}&to=${to}`;
}

/**
 * The JSON body of POST /api/v1/silences from the form's fields, or `{ error }` when it
 * cannot be sent: a host, an alert or both; a duration; empty fields are left out.
 */
export function silenceBody(fields) {
  const host = String(fields.host || '').trim();
  const alertname = String(fields.alertname || '').trim();
  const duration = String(fields.duration || '').trim();
  const comment = String(fields.comment || '').trim();
  if (!host && !alertname) return { error: 'Name a host, an alert or both.' };
  if (!duration) return { error: 'Choose how long.' };
  const body = { duration };
  if (host) body.host = host;
  if (alertname) body.alertname = alertname;
  if (comment) body.comment = comment;
  return { body };
}

/** Sorted unique values for the form's suggestions (host names, alert names). */
export function suggestions(values) {
  return [...new Set(values.filter((v) => typeof v === 'string' && v !== ''))].sort();
}
