// utizmon dashboard: the host page's text parts from one HostView (docs/api.md): status
// pill, stat cards, the host info list and the filesystem bars. Charts are charts.js's.
// The pure parts (what a card or a filesystem row says) are exported for tests/js/.

import { byId, el, setFill, setLevel, setText } from './dom.js';
import {
  DASH,
  formatAgo,
  formatBytes,
  formatDuration,
  formatNumber,
  formatPercent,
  formatRate,
  formatTime,
  isNum,
  levelClass,
  ratioOf,
} from './format.js';

/** "last sample 40 s ago" for a view seen at server time `now`, or ''. */
export function seenText(view, now) {
  return view && isNum(view.last_seen_ms) ? `last sample ${formatAgo(now - view.last_seen_ms)}` : '';
}

/** The load card: value, detail line and the bar's ratio (load per core). */
export function loadCard(load, cores) {
  const detail = `5 min ${formatNumber(load.load5, 2)} \u00b7 15 min ${formatNumber(load.load15, 2)}`;
  return {
    value: formatNumber(load.load1, 2),
    sub: cores ? `${detail} \u00b7 ${cores} ${cores === 1 ? 'core' : 'cores'}` : detail,
    ratio: cores && isNum(load.load1) ? load.load1 / cores : null,
  };
}

/** The swap card; a host without swap says so instead of showing 0 %. */
export function swapCard(mem) {
  if (mem.swap_total_bytes === 0) return { value: 'none', sub: 'no swap configured', ratio: null };
  const ratio = ratioOf(mem.swap_used_bytes, mem.swap_total_bytes);
  return { value: formatPercent(ratio), sub: `${formatBytes(mem.swap_used_bytes)} of ${formatBytes(mem.swap_total_bytes)}`, ratio };
}

/**
 * Filesystems sorted by mountpoint, each with a `key` (mountpoint and type), the used bytes,
 * the used ratio and its texts; entries without a mountpoint are left out.
 */
export function filesystemRows(list) {
  return (Array.isArray(list) ? list : [])
    .filter((f) => f && typeof f.mountpoint === 'string')
    .sort((a, b) => (a.mountpoint < b.mountpoint ? -1 : a.mountpoint > b.mountpoint ? 1 : 0))
    .map((f) => {
      const used = isNum(f.size_bytes) && isNum(f.avail_bytes) ? Math.max(0, f.size_bytes - f.avail_bytes) : null;
      const ratio = ratioOf(used, f.size_bytes);
      return {
        key: `${f.mountpoint}\u0000${f.fstype}`,
        mountpoint: f.mountpoint,
        fstype: f.fstype,
        ratio,
        percent: formatPercent(ratio),
        detail: `${formatBytes(used)} used of ${formatBytes(f.size_bytes)}, ${formatBytes(f.avail_bytes)} free`,
      };
    });
}

/** "N received, N missing, N duplicates" for the edge run, or null before any sample. */
export function samplesText(edge) {
  if (!isNum(edge.received)) return null;
  return `${edge.received} received, ${edge.gaps || 0} missing, ${edge.duplicates || 0} duplicates`;
}

function setStat(id, value, sub, ratio) {
  const card = byId(id);
  if (!card) return;
  setText(card.querySelector('.stat-value'), value);
  const subEl = card.querySelector('.sub');
  if (subEl) setText(subEl, sub);
  const fill = card.querySelector('.fill');
  if (fill) setFill(fill, ratio);
  setLevel(card, levelClass(ratio));
}

function setInfo(field, text) {
  const dd = document.querySelector(`#host-info dd[data-field="${field}"]`);
  if (dd) setText(dd, text === '' || text === null || text === undefined ? DASH : String(text));
}

/** The filesystem list, rebuilt only when the set of filesystems changes. */
class FilesystemList {
  constructor(box) {
    this.box = box;
    this.rows = new Map();
  }

  render(list) {
    const fs = filesystemRows(list);
    const same = fs.length === this.rows.size && fs.every((f) => this.rows.has(f.key));
    if (!same) {
      this.box.textContent = '';
      this.rows = new Map();
      if (fs.length === 0) this.box.appendChild(el('p', 'sub', 'No filesystems reported.'));
      for (const f of fs) {
        const row = el('div', 'fs-row');
        const head = el('div', 'fs-head');
        const pct = el('span', 'fs-pct');
        head.append(el('span', 'fs-mount', f.mountpoint), el('span', 'fs-type', f.fstype), pct);
        const bar = el('div', 'bar');
        const fill = el('div', 'fill');
        bar.appendChild(fill);
        const detail = el('div', 'fs-detail');
        row.append(head, bar, detail);
        this.box.appendChild(row);
        this.rows.set(f.key, { row, pct, fill, detail });
      }
    }
    for (const f of fs) {
      const r = this.rows.get(f.key);
      setText(r.pct, f.percent);
      setText(r.detail, f.detail);
      setFill(r.fill, f.ratio);
      setLevel(r.row, levelClass(f.ratio));
    }
  }
}

/** Writes a HostView (or null: no such host yet) into the page's cards and lists. */
export class HostView {
  constructor() {
    this.filesystems = new FilesystemList(byId('fs-list'));
  }

  /** Only the "last sample … ago" line, which ages without messages. */
  renderSeen(view, now) {
    setText(byId('host-seen'), seenText(view, now));
  }

  render(v, now) {
    const online = !!v && v.status === 'online';
    const dot = byId('host-dot');
    dot.classList.toggle('online', online);
    dot.classList.toggle('offline', !online);
    setText(byId('host-status-text'), v ? (online ? 'online' : 'offline') : 'unknown');
    this.renderSeen(v, now);
    byId('host-missing').hidden = !!v;
    if (!v) return;

    const info = v.info || {};
    const l = v.latest;
    const cpu = l && l.cpu ? l.cpu.usage_ratio : null;
    setStat('stat-cpu', formatPercent(cpu), '', cpu);
    const mem = l && l.memory ? l.memory : {};
    const memRatio = ratioOf(mem.used_bytes, mem.total_bytes);
    setStat('stat-mem', formatPercent(memRatio), `${formatBytes(mem.used_bytes)} of ${formatBytes(mem.total_bytes)}`, memRatio);
    const swap = swapCard(mem);
    setStat('stat-swap', swap.value, swap.sub, swap.ratio);
    const load = loadCard(l && l.load ? l.load : {}, info.cores || 0);
    setStat('stat-load', load.value, load.sub, load.ratio);
    const rates = v.rates || {};
    setStat('stat-net', `\u2193 ${formatRate(rates.rx_bytes_per_second)}`, `\u2191 ${formatRate(rates.tx_bytes_per_second)}`, null);
    const booted = info.boot_time ? formatTime(info.boot_time * 1000) : '';
    setStat('stat-uptime', formatDuration(l ? l.uptime_seconds : null), booted ? `since ${booted}` : '', null);

    setInfo('os', [info.os_name, info.os_version].filter(Boolean).join(' '));
    setInfo('kernel', info.kernel);
    setInfo('arch', info.arch);
    setInfo('cpu_model', info.cpu_model);
    setInfo('cores', info.cores);
    setInfo('agent_version', info.agent_version);
    setInfo('boot_time', booted);
    const edge = v.edge || {};
    setInfo('run_id', edge.run_id);
    const samples = samplesText(edge);
    if (samples !== null) setInfo('samples', samples);

    this.filesystems.render(l ? l.filesystems : []);
  }
}
