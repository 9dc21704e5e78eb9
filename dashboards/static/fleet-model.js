// utizmon dashboard: the overview's in-memory fleet, built from /ws/dashboard messages
// (HostSummary, docs/api.md), and how it sorts and filters. Messages update the model at
// once, so no CPU point of a sparkline is lost; fleet-table.js draws it when it may.
// Pure (no DOM, no clock), unit-tested in tests/js/.

import { isNum } from './format.js';

/** CPU ratios a sparkline keeps: the server's `cpu_history` length (2 minutes at 1 Hz). */
export const HISTORY = 120;

/** Appends `value` to `list`, dropping the oldest beyond `max`. */
export function appendBounded(list, value, max) {
  list.push(value);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Load per core, the load bar's ratio; the plain load when the core count is unknown. */
export function loadPerCore(s) {
  if (!isNum(s.load1)) return null;
  return s.cores > 0 ? s.load1 / s.cores : s.load1;
}

/** Disk bytes per second, read and written together; null when the host reports no disks. */
export function diskIo(s) {
  return isNum(s.disk_read_bytes_per_second) && isNum(s.disk_written_bytes_per_second)
    ? s.disk_read_bytes_per_second + s.disk_written_bytes_per_second
    : null;
}

/** The value each sortable column (th[data-key]) sorts by. */
export const SORT_KEYS = {
  status: (s) => (s.status === 'online' ? 0 : 1),
  host: (s) => s.host,
  os: (s) => s.os || '',
  uptime: (s) => s.uptime_seconds,
  cpu: (s) => s.cpu_ratio,
  mem: (s) => s.mem_ratio,
  swap: (s) => s.swap_ratio,
  load: loadPerCore,
  disk: (s) => s.fs_max_ratio,
  rx: (s) => s.rx_bytes_per_second,
  tx: (s) => s.tx_bytes_per_second,
  diskio: diskIo,
  temp: (s) => s.temp_max_celsius,
};

/** The direction a column sorts in when first chosen: names A..Z, numbers largest first. */
export function initialDirection(key) {
  return key === 'host' || key === 'os' || key === 'status' ? 1 : -1;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function unknown(v) {
  return v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v));
}

/**
 * A comparator of HostSummaries by column `key`, ascending for `dir` 1 and descending for -1.
 * Unknown values go last whichever the direction; ties go by host name ("web-2" before "web-10").
 */
export function compareBy(key, dir) {
  const get = SORT_KEYS[key];
  return (a, b) => {
    const va = get(a);
    const vb = get(b);
    if (unknown(va) !== unknown(vb)) return unknown(va) ? 1 : -1;
    let c = 0;
    if (!unknown(va)) {
      if (typeof va === 'string' || typeof vb === 'string') c = collator.compare(String(va), String(vb));
      else c = va < vb ? -1 : va > vb ? 1 : 0;
    }
    return c !== 0 ? c * dir : collator.compare(a.host, b.host);
  };
}

/**
 * Whether a host is shown: `status` is '' (all), 'online' or 'offline'; `text` (lower case)
 * must occur in the host name.
 */
export function matches(s, text, status) {
  if (status === 'online' && s.status !== 'online') return false;
  if (status === 'offline' && s.status === 'online') return false;
  return text === '' || s.host.toLowerCase().includes(text);
}

/**
 * The fleet: host name -> { s: HostSummary, history: CPU ratios oldest first,
 * dirty: changed since drawn, sparkDirty: history changed since drawn }.
 */
export class FleetModel {
  constructor() {
    this.hosts = new Map();
    /** False until the first snapshot: the page says "Connecting…" meanwhile. */
    this.haveSnapshot = false;
  }

  /**
   * Applies one message. Returns null for a message that is not a fleet message, else
   * `{ snapshot, added, removed }`: whether it was a snapshot, and host names it added or removed.
   */
  apply(msg) {
    if (!Array.isArray(msg.hosts) || (msg.type !== 'snapshot' && msg.type !== 'update')) return null;
    const snapshot = msg.type === 'snapshot';
    const summaries = msg.hosts.filter((s) => s && typeof s.host === 'string');
    const removed = [];
    if (snapshot) {
      this.haveSnapshot = true;
      // The snapshot is the whole truth: forget hosts the server no longer knows.
      const present = new Set(summaries.map((s) => s.host));
      for (const name of this.hosts.keys()) {
        if (!present.has(name)) {
          this.hosts.delete(name);
          removed.push(name);
        }
      }
    }
    const added = [];
    for (const s of summaries) {
      if (!this.hosts.has(s.host)) added.push(s.host);
      this.upsert(s, snapshot);
    }
    return { snapshot, added, removed };
  }

  upsert(s, snapshot) {
    let entry = this.hosts.get(s.host);
    if (!entry) {
      entry = { s, history: [], dirty: true, sparkDirty: true };
      this.hosts.set(s.host, entry);
    } else if (!snapshot && isNum(s.cpu_ratio) && s.last_seen_ms !== entry.s.last_seen_ms) {
      // Updates carry no history: a new sample's CPU ratio extends it.
      appendBounded(entry.history, s.cpu_ratio, HISTORY);
      entry.sparkDirty = true;
    }
    entry.s = s;
    entry.dirty = true;
    if (snapshot) {
      let h = Array.isArray(s.cpu_history) ? s.cpu_history.filter(isNum) : [];
      if (h.length === 0 && isNum(s.cpu_ratio)) h = [s.cpu_ratio];
      entry.history = h.slice(-HISTORY);
      entry.sparkDirty = true;
    }
  }
}
