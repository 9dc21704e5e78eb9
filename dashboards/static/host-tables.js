// utizmon dashboard: the host page's tables of protocol minor-1 sections: the top processes
// (by CPU and by memory), services and containers (cgroups), and failed systemd units.
// The pure parts (which rows, what each cell says) are exported for tests/js/; `RowTable`
// writes them with textContent only (process, user and unit names come from the edge),
// reusing rows and writing a cell only when its text changed. Each table's tbody has
// data-rows (how many rows it shows) for the browser tests.

import { byId, el, setLevel, setText, setTitle } from './dom.js';
import { DASH, formatBytes, formatPercent, formatRate, isNum } from './format.js';

/** Rows each process table shows. */
export const TOP_N = 10;

function list(x) {
  return Array.isArray(x) ? x.filter((e) => e && typeof e === 'object') : [];
}

/**
 * The `n` heaviest processes by `by` ('cpu' or 'memory'), as rows
 * `{ key, cells: [pid, name, user, CPU share, RSS] }`; ties go by pid.
 */
export function processRows(processes, by, n = TOP_N) {
  const value = by === 'cpu' ? (p) => p.cpu_ratio : (p) => p.rss_bytes;
  return list(processes)
    .filter((p) => isNum(p.pid))
    .sort((a, b) => (value(b) || 0) - (value(a) || 0) || a.pid - b.pid)
    .slice(0, n)
    .map((p) => ({
      key: String(p.pid),
      cells: [String(p.pid), String(p.name ?? ''), String(p.user ?? ''), formatPercent(p.cpu_ratio), formatBytes(p.rss_bytes)],
    }));
}

/**
 * Services and containers, heaviest memory first, as rows
 * `{ key, cells: [name, CPU share of all cores, memory, read/s, written/s] }`. Rates come
 * from `rates.cgroups` (absent for the first readings: a dash); `cores` is the host's.
 */
export function cgroupRows(cgroups, rateList, cores) {
  const rates = new Map(list(rateList).map((r) => [r.name, r]));
  return list(cgroups)
    .filter((c) => typeof c.name === 'string')
    .sort((a, b) => (b.memory_bytes || 0) - (a.memory_bytes || 0) || (a.name < b.name ? -1 : 1))
    .map((c) => {
      const r = rates.get(c.name);
      const cpu = r && isNum(r.cpu_cores) && cores > 0 ? r.cpu_cores / cores : null;
      return {
        key: c.name,
        cells: [c.name, formatPercent(cpu), formatBytes(c.memory_bytes), formatRate(r ? r.io_read_bytes_per_second : null), formatRate(r ? r.io_written_bytes_per_second : null)],
      };
    });
}

/** What the failed-units panel says: the unit names, or that none failed. */
export function unitsText(units) {
  if (!Array.isArray(units)) return DASH;
  const names = units.filter((u) => typeof u === 'string');
  return names.length === 0 ? 'No failed units.' : names.join(', ');
}

/**
 * A tbody kept equal to a list of rows, reusing its `<tr>`s; `classes` gives each column's
 * cell class ('num' right-aligns, 'name' cells carry their whole text as a tooltip, since
 * the column width may cut it off).
 */
export class RowTable {
  constructor(tbody, classes) {
    this.tbody = tbody;
    this.classes = classes;
  }

  render(rows) {
    const trs = this.tbody.rows;
    while (trs.length > rows.length) this.tbody.deleteRow(-1);
    rows.forEach((row, i) => {
      let tr = trs[i];
      if (!tr) {
        tr = el('tr');
        for (const cls of this.classes) tr.appendChild(el('td', cls));
        this.tbody.appendChild(tr);
      }
      row.cells.forEach((text, c) => {
        setText(tr.cells[c], text);
        if (this.classes[c] === 'name') setTitle(tr.cells[c], text);
      });
    });
    this.tbody.dataset.rows = String(rows.length);
  }
}

/** The host page's tables, written from one HostView on every message. */
export class HostTables {
  constructor() {
    const procs = ['num', 'name', 'name', 'num', 'num'];
    this.byCpu = new RowTable(byId('procs-cpu'), procs);
    this.byMemory = new RowTable(byId('procs-mem'), procs);
    this.cgroups = new RowTable(byId('cgroups'), ['name', 'num', 'num', 'num', 'num']);
  }

  render(view) {
    const l = (view && view.latest) || {};
    const rates = (view && view.rates) || {};
    const cores = view && view.info && isNum(view.info.cores) ? view.info.cores : 0;
    this.byCpu.render(processRows(l.top_processes, 'cpu'));
    this.byMemory.render(processRows(l.top_processes, 'memory'));
    this.cgroups.render(cgroupRows(l.cgroups, rates.cgroups, cores));
    setText(byId('failed-units'), unitsText(l.failed_units));
    const failed = Array.isArray(l.failed_units) && l.failed_units.length > 0;
    setLevel(byId('units-panel'), failed ? 'lvl-crit' : '');
  }
}
