// utizmon host page (/hosts/{host}): stat cards, charts, filesystems and host info of one host.
// History for the chosen range comes from GET /api/v1/hosts/{host}/samples, with the step
// the server picks; the detail stream /ws/dashboard?host=NAME sends the HostView on every
// change together with the history point the server built from the newest sample, which
// raw ranges append. Bucketed ranges re-read their newest buckets instead (history.js).
// Every snapshot (first connect or reconnect) loads the history again, so a reconnect
// resynchronises. The sections of protocol minor 1 the history does not keep (disk I/O,
// pressure, temperatures, network errors) are charted live from each HostView
// (live-points.js), and the top processes, services and failed units are tables
// (host-tables.js); a section the host does not report stays hidden.
// The stream's `alerts` (this host's) fill the firing-alerts banner.

import { renderBanner } from './alert-badges.js';
import { readAlerts } from './alerts-model.js';
import { connectionBanner } from './banner.js';
import { CHART_NAMES, LIVE_CHART_NAMES } from './chart-defs.js';
import { Charts } from './charts.js';
import { byId, setText } from './dom.js';
import { isNum } from './format.js';
import { appendPoint, dropBefore, isPoint, rangeNote, readSamples, replaceTail, samplesUrl, TAIL_REFRESH_MS } from './history.js';
import { HostTables } from './host-tables.js';
import { HostView } from './host-view.js';
import { LIVE_WINDOW_MS, livePointOf, sections } from './live-points.js';
import { LiveSocket } from './live-socket.js';
import { initThemeToggle } from './theme-toggle.js';

const SEEN_TICK_MS = 5000;

const host = byId('main').dataset.host || '';
const page = {
  rangeMs: 300000,
  /** The answer's step; at or below the edge interval the points are raw samples. */
  stepMs: 0,
  intervalMs: 1000,
  /** What the charts draw, oldest first, in the samples API's point shape. */
  points: [],
  fromMs: 0,
  loading: false,
  failed: false,
  /** Live points that arrived while the history was loading. */
  pending: [],
  /** Bumped per history load; an answer for an older one is dropped. */
  generation: 0,
  /** When the tail of a bucketed range was last asked for, and whether it is on its way. */
  tailAt: 0,
  tailLoading: false,
  /** The latest HostView, or null while the server knows no such host. */
  view: null,
  /** What the live-only charts draw (live-points.js), oldest first. */
  live: [],
};

const socket = new LiveSocket(`/ws/dashboard?host=${encodeURIComponent(host)}`, onMessage);
const hostView = new HostView();
const tables = new HostTables();
const liveCharts = new Charts(LIVE_CHART_NAMES, () => ({
  points: page.live,
  loading: false,
  bucketed: false,
  cores: null,
  empty: 'Waiting for live data\u2026',
}));
const charts = new Charts(CHART_NAMES, () => ({
  points: page.points,
  loading: page.loading,
  bucketed: bucketed(),
  cores: page.view && page.view.info ? page.view.info.cores || null : null,
}));

function bucketed() {
  return page.stepMs > page.intervalMs;
}

function showNote() {
  setText(byId('range-note'), rangeNote(page));
}

/** GET of a samples URL as `{ stepMs, points, failed }`; an unknown host has no points. */
async function fetchSamples(url) {
  try {
    const res = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (res.status === 404) return { stepMs: 0, points: [], failed: false };
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return { ...readSamples(await res.json()), failed: false };
  } catch {
    return { stepMs: 0, points: [], failed: true };
  }
}

/** The history point of the newest sample that a detail-stream host carries, if any. */
function livePoint(view) {
  return view && isPoint(view.point) ? view.point : null;
}

async function loadHistory() {
  const generation = ++page.generation;
  const to = socket.serverNow();
  page.fromMs = to - page.rangeMs;
  page.loading = true;
  page.failed = false;
  page.pending = [];
  showNote();
  const answer = await fetchSamples(samplesUrl(host, page.fromMs, to));
  if (generation !== page.generation) return; // A newer range or snapshot superseded this load.
  page.loading = false;
  page.failed = answer.failed;
  page.stepMs = answer.stepMs;
  page.points = answer.points;
  page.tailAt = Date.now();
  if (!bucketed()) {
    for (const p of page.pending) appendPoint(page.points, p, page.fromMs);
    appendPoint(page.points, livePoint(page.view), socket.serverNow() - page.rangeMs);
  }
  page.pending = [];
  showNote();
  charts.schedule();
}

/** Re-reads the newest buckets of a bucketed range: the open one grows, new ones start. */
async function refreshTail() {
  if (page.loading || page.tailLoading || Date.now() - page.tailAt < TAIL_REFRESH_MS) return;
  const generation = page.generation;
  const last = page.points[page.points.length - 1];
  const from = last ? last.ts_ms : page.fromMs;
  page.tailLoading = true;
  page.tailAt = Date.now();
  const answer = await fetchSamples(samplesUrl(host, from, socket.serverNow(), page.stepMs));
  page.tailLoading = false;
  if (generation !== page.generation || answer.failed) return;
  replaceTail(page.points, from, answer.points);
  dropBefore(page.points, socket.serverNow() - page.rangeMs);
  charts.schedule();
}

function onMessage(msg) {
  const alerts = readAlerts(msg);
  if (alerts) renderBanner(byId('host-alerts'), alerts.active, host);
  if (!Array.isArray(msg.hosts)) return;
  const next = msg.hosts.find((h) => h && h.host === host) || null;
  if (msg.type === 'snapshot') {
    setView(next);
    loadHistory(); // Resynchronise: whatever happened while disconnected is in the history.
    return;
  }
  if (msg.type !== 'update' || !next) return;
  setView(next);
  if (page.loading) {
    const p = livePoint(next);
    if (p) page.pending.push(p);
  } else if (bucketed()) {
    refreshTail();
  } else if (appendPoint(page.points, livePoint(next), socket.serverNow() - page.rangeMs)) {
    charts.schedule();
  }
}

function setView(view) {
  page.view = view;
  const edge = view && view.edge;
  if (edge && isNum(edge.interval_ms) && edge.interval_ms > 0) page.intervalMs = edge.interval_ms;
  hostView.render(view, socket.serverNow());
  tables.render(view);
  const has = sections(view);
  for (const section of document.querySelectorAll('[data-section]')) {
    const show = !!has[section.dataset.section];
    if (section.hidden === show) section.hidden = !show;
  }
  if (appendPoint(page.live, livePointOf(view), socket.serverNow() - LIVE_WINDOW_MS)) liveCharts.schedule();
}

function init() {
  for (const radio of document.querySelectorAll('#range input[name="range"]')) {
    radio.addEventListener('change', () => {
      const ms = Number(radio.value);
      if (!Number.isFinite(ms) || ms <= 0) return;
      page.rangeMs = ms;
      page.points = [];
      charts.schedule();
      loadHistory();
    });
    if (radio.checked) page.rangeMs = Number(radio.value) || page.rangeMs;
  }
  setInterval(() => {
    if (page.view) hostView.renderSeen(page.view, socket.serverNow());
  }, SEEN_TICK_MS);
  initThemeToggle();
  connectionBanner(socket);
  charts.schedule();
  liveCharts.schedule();
  socket.start();
}

if (host) init();
