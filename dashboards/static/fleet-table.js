// utizmon dashboard: the overview's host table, drawn from a FleetModel.
// The table is never re-rendered: a Map from host to row, cells written only when their
// text changed (dom.js), at most every FLUSH_MS from requestAnimationFrame, and only for
// rows on screen (an IntersectionObserver tracks them), so 500 hosts updating every second
// cost a few small DOM batches per second.

import { makeBadge, setBadge } from './alert-badges.js';
import { byId, cssVar, el, setFill, setLevel, setText, setTitle } from './dom.js';
import { DASH, formatAgo, formatCelsius, formatDuration, formatNumber, formatPercent, formatRate, isNum, levelClass } from './format.js';
import { compareBy, diskIo, HISTORY, loadPerCore, matches } from './fleet-model.js';
import { drawSparkline, sparkTone } from './sparkline.js';

const FLUSH_MS = 250;

function metricCell(className) {
  const td = el('td', className);
  const wrap = el('div', 'metric');
  const val = el('span', 'val', DASH);
  const bar = el('div', 'bar');
  const fill = el('div', 'fill');
  bar.appendChild(fill);
  wrap.append(val, bar);
  td.appendChild(wrap);
  return { td, val, fill };
}

function setMetric(m, ratio, text, title) {
  setText(m.val, text);
  setFill(m.fill, ratio);
  setLevel(m.td, levelClass(ratio));
  if (title !== undefined) setTitle(m.td, title);
}

/** The table of hosts; `now()` is the server's clock (for "last seen … ago"). */
export class FleetTable {
  constructor(model, now) {
    this.model = model;
    this.now = now;
    this.tbody = byId('fleet-body');
    this.rows = new Map();
    this.sortKey = 'host';
    this.sortDir = 1;
    /** Lower-case text the host name must contain. */
    this.filterText = '';
    /** '' (all), 'online' or 'offline': the pressed status chip. */
    this.statusFilter = '';
    this.orderDirty = true;
    this.flushScheduled = false;
    this.lastFlush = 0;
    this.colors = null;
    /** Host -> its firing-alert badge (alerts-model.js `hostBadges`). */
    this.badges = new Map();
    this.visible = new Set();
    // Tracks which rows are on screen (with a margin), so only those are kept current.
    this.observer = new IntersectionObserver(
      (records) => {
        let redraw = false;
        for (const r of records) {
          if (r.isIntersecting) {
            this.visible.add(r.target);
            redraw = true;
          } else {
            this.visible.delete(r.target);
          }
        }
        if (redraw) this.schedule();
      },
      { rootMargin: '200px 0px' }
    );
  }

  /** Takes what FleetModel.apply returned and draws it soon. */
  changed(result) {
    for (const name of result.removed) {
      const row = this.rows.get(name);
      if (!row) continue;
      this.observer.unobserve(row.tr);
      this.visible.delete(row.tr);
      row.tr.remove();
      this.rows.delete(name);
    }
    if (result.snapshot || result.added.length > 0 || this.sortKey !== 'host') this.orderDirty = true;
    this.schedule();
  }

  /** New alert badges (`hostBadges`): rows whose badge changed are redrawn. */
  setBadges(badges) {
    const before = this.badges;
    this.badges = badges;
    for (const name of new Set([...before.keys(), ...badges.keys()])) {
      const entry = this.model.hosts.get(name);
      if (entry && (before.get(name) || {}).title !== (badges.get(name) || {}).title) entry.dirty = true;
    }
    this.schedule();
  }

  /** Sorts by column `key` in direction `dir` (1 ascending, -1 descending). */
  sortBy(key, dir) {
    this.sortKey = key;
    this.sortDir = dir;
    this.orderDirty = true;
    this.schedule();
  }

  /** Shows only hosts whose name contains `text` and whose status matches `status`. */
  filter(text, status) {
    this.filterText = text.trim().toLowerCase();
    this.statusFilter = status;
    this.schedule();
  }

  /** New theme colours: every sparkline is repainted. */
  themeChanged() {
    this.colors = null;
    for (const entry of this.model.hosts.values()) entry.sparkDirty = true;
    this.schedule();
  }

  /** Marks offline rows for redraw, since their "last seen … ago" ages without messages. */
  tick() {
    let any = false;
    for (const entry of this.model.hosts.values()) {
      if (entry.s.status !== 'online') {
        entry.dirty = true;
        any = true;
      }
    }
    if (any) this.schedule();
  }

  schedule() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const wait = Math.max(0, this.lastFlush + FLUSH_MS - Date.now());
    setTimeout(() => requestAnimationFrame(() => this.flush()), wait);
  }

  flush() {
    this.flushScheduled = false;
    this.lastFlush = Date.now();
    let online = 0;
    let shown = 0;
    const sparks = [];
    for (const [name, entry] of this.model.hosts) {
      if (entry.s.status === 'online') online++;
      let row = this.rows.get(name);
      if (!row) {
        row = this.makeRow(name);
        this.rows.set(name, row);
        this.renderRow(row, entry.s); // Once, so a row never shows empty cells while it scrolls in.
        entry.dirty = false;
        this.orderDirty = true;
      }
      // Rows off screen keep their dirty flag and are written when they scroll into view:
      // with 500 hosts only the few dozen visible rows cost DOM work per flush.
      const onScreen = this.visible.has(row.tr);
      if (entry.dirty && onScreen) {
        this.renderRow(row, entry.s);
        entry.dirty = false;
      }
      const show = matches(entry.s, this.filterText, this.statusFilter);
      if (row.tr.hidden === show) row.tr.hidden = !show;
      if (show) shown++;
      if (entry.sparkDirty && onScreen) sparks.push([row, entry]);
    }
    // Canvas drawing needs no layout; done after every DOM write of this flush.
    for (const [row, entry] of sparks) this.drawSpark(row, entry);
    if (this.orderDirty) this.reorder();
    this.renderCounts(this.model.hosts.size, online, shown);
  }

  /** Puts the rows in sort order, moving them only when the order actually changed. */
  reorder() {
    this.orderDirty = false;
    const cmp = compareBy(this.sortKey, this.sortDir);
    const names = Array.from(this.model.hosts.values(), (e) => e.s).sort(cmp).map((s) => s.host);
    const current = this.tbody.children;
    let same = current.length === names.length;
    for (let i = 0; same && i < names.length; i++) {
      if (current[i] !== this.rows.get(names[i]).tr) same = false;
    }
    if (same) return;
    const frag = document.createDocumentFragment();
    for (const name of names) frag.appendChild(this.rows.get(name).tr);
    this.tbody.appendChild(frag);
  }

  renderCounts(total, online, shown) {
    const have = this.model.haveSnapshot;
    setText(byId('count-total'), String(total));
    setText(byId('count-online'), String(online));
    setText(byId('count-offline'), String(total - online));
    byId('fleet-empty').hidden = shown > 0;
    byId('empty-connecting').hidden = have;
    byId('empty-none').hidden = !have || total > 0;
    byId('empty-filter').hidden = !have || total === 0 || shown > 0;
    const foot = byId('fleet-foot');
    if ((this.filterText || this.statusFilter) && shown > 0) {
      foot.hidden = false;
      setText(foot, `Showing ${shown} of ${total} hosts`);
    } else {
      foot.hidden = true;
    }
  }

  makeRow(name) {
    const tr = el('tr');
    tr.dataset.host = name;
    const r = { tr, online: null };

    const tdStatus = el('td', 'c-status');
    const cell = el('div', 'status-cell');
    r.dot = el('span', 'dot');
    const texts = el('div');
    r.statusText = el('span', 'status-text');
    r.seen = el('span', 'sub');
    texts.append(r.statusText, r.seen);
    cell.append(r.dot, texts);
    tdStatus.appendChild(cell);

    const tdHost = el('td', 'c-host host');
    const link = el('a', 'host-link', name);
    link.href = `/hosts/${encodeURIComponent(name)}`;
    link.title = name;
    r.os = el('span', 'sub os');
    r.badge = makeBadge();
    tdHost.append(link, r.badge, r.os);

    r.uptime = el('td', 'c-uptime num');
    r.cpu = metricCell('c-cpu');
    const tdSpark = el('td', 'c-spark');
    r.spark = el('canvas', 'spark');
    r.spark.setAttribute('aria-hidden', 'true');
    tdSpark.appendChild(r.spark);
    r.mem = metricCell('c-mem');
    r.swap = metricCell('c-swap');
    r.load = metricCell('c-load');
    r.disk = metricCell('c-disk disk');
    r.mount = el('span', 'sub');
    r.disk.td.firstChild.appendChild(r.mount);
    r.rx = el('td', 'c-rx num');
    r.tx = el('td', 'c-tx num');
    r.diskio = el('td', 'c-diskio num');
    r.temp = el('td', 'c-temp num');
    r.tempVal = el('span', 'val');
    r.sensor = el('span', 'sub');
    r.temp.append(r.tempVal, r.sensor);

    tr.append(tdStatus, tdHost, r.uptime, r.cpu.td, tdSpark, r.mem.td, r.swap.td, r.load.td, r.disk.td, r.rx, r.tx, r.diskio, r.temp);
    this.observer.observe(tr);
    return r;
  }

  renderRow(r, s) {
    const online = s.status === 'online';
    if (r.online !== online) {
      r.tr.classList.toggle('is-offline', !online);
      r.dot.classList.toggle('online', online);
      r.dot.classList.toggle('offline', !online);
      r.online = online;
    }
    setText(r.statusText, online ? 'online' : 'offline');
    setText(r.seen, online ? '' : `last seen ${formatAgo(this.now() - s.last_seen_ms)}`);
    setBadge(r.badge, this.badges.get(s.host));
    setText(r.os, s.os || DASH);
    if (s.os) setTitle(r.os, s.os);
    setText(r.uptime, formatDuration(s.uptime_seconds));
    setMetric(r.cpu, s.cpu_ratio, formatPercent(s.cpu_ratio));
    setMetric(r.mem, s.mem_ratio, formatPercent(s.mem_ratio));
    setMetric(r.swap, s.swap_ratio, formatPercent(s.swap_ratio));
    const perCore = loadPerCore(s);
    const loadTitle = isNum(s.load1) ? `load ${s.load1.toFixed(2)} on ${s.cores} cores (${formatPercent(perCore)} per core)` : '';
    setMetric(r.load, perCore, formatNumber(s.load1, 2), loadTitle);
    setMetric(r.disk, s.fs_max_ratio, formatPercent(s.fs_max_ratio));
    setText(r.mount, s.fs_max_mountpoint || '');
    setText(r.rx, formatRate(s.rx_bytes_per_second));
    setText(r.tx, formatRate(s.tx_bytes_per_second));
    setText(r.diskio, formatRate(diskIo(s)));
    setTitle(r.diskio, isNum(diskIo(s)) ? `read ${formatRate(s.disk_read_bytes_per_second)}, written ${formatRate(s.disk_written_bytes_per_second)}` : '');
    setText(r.tempVal, formatCelsius(s.temp_max_celsius));
    setText(r.sensor, s.temp_max_sensor || '');
    setTitle(r.temp, s.temp_max_sensor || '');
  }

  drawSpark(row, entry) {
    if (!this.colors) {
      this.colors = {
        line: cssVar('--accent') || '#2f6fde',
        warn: cssVar('--warn') || '#b25e00',
        crit: cssVar('--crit') || '#cf222e',
        off: cssVar('--offline') || '#888',
      };
    }
    entry.sparkDirty = false;
    const tone = sparkTone(entry.s.status === 'online', entry.history);
    drawSparkline(row.spark, entry.history, HISTORY, this.colors[tone]);
  }
}
