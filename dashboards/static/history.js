// utizmon dashboard: the host page's chart points. Step and bucketing are the server's
// business (the store's query picks them); this module only keeps the lists the charts
// draw: the points of GET /api/v1/hosts/{host}/samples or /details, plus the live points the detail
// stream carries (raw ranges), or a re-read tail of the open bucket (bucketed ranges).
// Pure functions of their arguments (no DOM, no clock), unit-tested in tests/js/.

import { formatTime, isNum } from './format.js';

/** How often a bucketed range re-reads its newest buckets while live points arrive. */
export const TAIL_REFRESH_MS = 5000;

/**
 * The history URL for `host` from `fromMs` to `toMs` of `route` (`samples` or `details`).
 * Without `stepMs` the server picks the step for the range; the tail of a bucketed range
 * passes the step the first answer had.
 */
export function samplesUrl(host, fromMs, toMs, stepMs, route = 'samples') {
  let url = `/api/v1/hosts/${encodeURIComponent(host)}/${route}?from=${Math.floor(fromMs)}&to=${Math.floor(toMs)}`;
  if (stepMs) url += `&step=${stepMs}`;
  return url;
}

/** True for a point the charts can place: an object with a numeric `ts_ms`. */
export function isPoint(p) {
  return !!p && typeof p === 'object' && isNum(p.ts_ms);
}

/** `{ stepMs, points }` of a samples answer; anything malformed counts as no points. */
export function readSamples(body) {
  const ok = !!body && typeof body === 'object';
  return {
    stepMs: ok && isNum(body.step_ms) ? body.step_ms : 0,
    points: ok && Array.isArray(body.points) ? body.points.filter(isPoint) : [],
  };
}

/**
 * Appends a live point (oldest first) and drops points older than `cutoffMs`, always keeping
 * the newest; a point not newer than the last one (a resent view) is ignored.
 * Returns whether anything changed.
 */
export function appendPoint(points, p, cutoffMs) {
  if (!isPoint(p)) return false;
  const last = points[points.length - 1];
  if (last && p.ts_ms <= last.ts_ms) return false;
  points.push(p);
  dropBefore(points, cutoffMs);
  return true;
}

/** Drops points older than `cutoffMs` (the range's start), always keeping the newest. */
export function dropBefore(points, cutoffMs) {
  let drop = 0;
  while (drop < points.length - 1 && points[drop].ts_ms < cutoffMs) drop++;
  if (drop > 0) points.splice(0, drop);
}

/**
 * Replaces every point at or after `fromMs` with the re-read `tail` (oldest first): the
 * open bucket's average changes as samples arrive, and new buckets start.
 */
export function replaceTail(points, fromMs, tail) {
  let keep = points.length;
  while (keep > 0 && points[keep - 1].ts_ms >= fromMs) keep--;
  points.splice(keep, points.length - keep, ...tail.filter((p) => isPoint(p) && p.ts_ms >= fromMs));
}

/**
 * The note next to the range selector: loading, no data, or since when data exists when
 * the history starts well after the range does (a new host, or a short raw retention).
 */
export function rangeNote({ loading, failed, points, fromMs, stepMs, intervalMs }) {
  if (loading) return 'Loading\u2026';
  if (failed) return 'Could not load history; showing live data only';
  if (points.length === 0) return 'No history in this range yet';
  if (points[0].ts_ms > fromMs + Math.max(stepMs, intervalMs) * 3) {
    return `History available since ${formatTime(points[0].ts_ms)}`;
  }
  return '';
}
