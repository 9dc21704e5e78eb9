// utizmon host page (/hosts/{host}): stat cards, charts, filesystems and host info of one host.
// Two histories feed the charts: the points of GET /api/v1/hosts/{host}/samples (CPU, memory,
// load, network) and of GET /api/v1/hosts/{host}/details (disk I/O, pressure, temperatures,
// network errors, kernel activity, file handles, inodes), both for the chosen range with the
// step the server picks. The detail stream /ws/dashboard?host=NAME sends the HostView on every
// change together with the newest sample's point of each (`point`, `detail`), which raw
// ranges append; bucketed ranges re-read their newest buckets instead (history.js).
// Every snapshot (first connect or reconnect) loads the histories again, so a reconnect
// resynchronises. The top processes, services and failed units are tables (host-tables.js);
// a section the host does not report stays hidden (host-sections.js).
// The stream's `alerts` (this host's) fill the firing-alerts banner.

import { renderBanner } from './alert-badges.js';
import { readAlerts } from './alerts-model.js';
import { connectionBanner } from './banner.js';
import { CHART_NAMES, DETAIL_CHART_NAMES } from './chart-defs.js';
import { Charts } from './charts.js';
import { byId, setText } from './dom.js';
import { isNum } from './format.js';
import { appendPoint, dropBefore, isPoint, rangeNote, readSamples, replaceTail, samplesUrl, TAIL_REFRESH_MS } from './history.js';
import { sections } from './host-sections.js';
import { HostTables } from './host-tables.js';
import { HostView } from './host-view.js';
import { LiveSocket } from './live-socket.js';
import { initThemeToggle } from './theme-toggle.js';

const SEEN_TICK_MS = 5000;

const host = byId('main').dataset.host || '';
const page = {
  rangeMs: 300000,
  /** The answer's step; at or below the edge interval the points are raw samples. */
  stepMs: 0,
  intervalMs: 1000,
  fromMs: 0,
  loading: false,
  failed: false,
  /** Bumped per history load; an answer for an older one is dropped. */
  generation: 0,
  /** When the tail of a bucketed range was last asked for, and whether it is on its way. */
  tailAt: 0,
  tailLoading: false,
  /** The latest HostView, or null while the server knows no such host. */
  view: null,
};

/**
 * One history of the page: the points of one history route (oldest first, as the server
 * sent them), the live points that arrived while it was loading, the point of the newest
 * sample a detail-stream host carries for it, and the charts it feeds.
 */
class Source {
  constructor(route, field, names) {
    this.route = route;
    this.field = field;
    this.points = [];
    this.pending = [];
    this.charts = new Charts(names, () => ({
      points: this.points,
      loading: page.loading,
      bucketed: bucketed(),
      cores: page.view && page.view.info ? page.view.info.cores || null : null,
    }));
  }

  /** The point of the newest sample that a detail-stream host carries, if any. */
  live(view) {
    return view && isPoint(view[this.field]) ? view[this.field] : null;
  }

  url(fromMs, toMs, stepMs) {
    return samplesUrl(host, fromMs, toMs, stepMs, this.route);
  }
}

const socket = new LiveSocket(`/ws/dashboard?host=${encodeURIComponent(host)}`, onMessage);
const hostView = new HostView();
const tables = new HostTables();
const samples = new Source('samples', 'point', CHART_NAMES);
const sources = [samples, new Source('details', 'detail', DETAIL_CHART_NAMES)];

function bucketed() {
  return page.stepMs > page.intervalMs;
}

function showNote() {
  setText(byId('range-note'), rangeNote({ ...page, points: samples.points }));
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

async function loadHistory() {
  const generation = ++page.generation;
  const to = socket.serverNow();
  page.fromMs = to - page.rangeMs;
  page.loading = true;
  page.failed = false;
  for (const s of sources) s.pending = [];
  showNote();
  // Both routes resolve the same range to the same step, so their buckets line up.
  const answers = await Promise.all(sources.map((s) => fetchSamples(s.url(page.fromMs, to))));
  if (generation !== page.generation) return; // A newer range or snapshot superseded this load.
  page.loading = false;
  page.failed = answers[0].failed;
  page.stepMs = answers[0].stepMs;
  page.tailAt = Date.now();
  sources.forEach((s, i) => {
    s.points = answers[i].points;
    if (!bucketed()) {
      for (const p of s.pending) appendPoint(s.points, p, page.fromMs);
      appendPoint(s.points, s.live(page.view), socket.serverNow() - page.rangeMs);
    }
    s.pending = [];
    s.charts.schedule();
  });
  showNote();
}

/** Re-reads the newest buckets of a bucketed range: the open one grows, new ones start. */
async function refreshTail() {
  if (page.loading || page.tailLoading || Date.now() - page.tailAt < TAIL_REFRESH_MS) return;
  const generation = page.generation;
  page.tailLoading = true;
  page.tailAt = Date.now();
  const froms = sources.map((s) => (s.points.length ? s.points[s.points.length - 1].ts_ms : page.fromMs));
  const answers = await Promise.all(sources.map((s, i) => fetchSamples(s.url(froms[i], socket.serverNow(), page.stepMs))));
  page.tailLoading = false;
  if (generation !== page.generation) return;
  sources.forEach((s, i) => {
    if (answers[i].failed) return;
    replaceTail(s.points, froms[i], answers[i].points);
    dropBefore(s.points, socket.serverNow() - page.rangeMs);
    s.charts.schedule();
  });
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
  if (bucketed() && !page.loading) {
    refreshTail();
    return;
  }
  for (const s of sources) {
    const p = s.live(next);
    if (page.loading) {
      if (p) s.pending.push(p);
    } else if (appendPoint(s.points, p, socket.serverNow() - page.rangeMs)) {
      s.charts.schedule();
    }
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
}

function init() {
  for (const radio of document.querySelectorAll('#range input[name="range"]')) {
    radio.addEventListener('change', () => {
      const ms = Number(radio.value);
      if (!Number.isFinite(ms) || ms <= 0) return;
      page.rangeMs = ms;
      for (const s of sources) {
        s.points = [];
        s.charts.schedule();
      }
      loadHistory();
    });
    if (radio.checked) page.rangeMs = Number(radio.value) || page.rangeMs;
  }
  setInterval(() => {
    if (page.view) hostView.renderSeen(page.view, socket.serverNow());
  }, SEEN_TICK_MS);
  initThemeToggle();
  connectionBanner(socket);
  for (const s of sources) s.charts.schedule();
  socket.start();
}

if (host) init();
