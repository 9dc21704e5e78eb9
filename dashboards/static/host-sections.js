// utizmon dashboard: which protocol minor-1 sections a host reports, so the host page shows
// only those charts and tables (a collector may be off, the kernel may lack the data, an
// older edge sends none), and how a sensor is named.
// Pure functions of their arguments (no DOM, no clock), unit-tested in tests/js/.

import { isNum } from './format.js';

const RESOURCES = ['cpu', 'memory', 'io'];

function list(x) {
  return Array.isArray(x) ? x.filter((e) => e && typeof e === 'object') : [];
}

/** A sensor's display name: its label, or its chip and sensor when it has none. */
export function sensorName(t) {
  return t.label ? t.label : `${t.chip} ${t.sensor}`;
}

/**
 * Which minor-1 sections a HostView (docs/api.md) reports, by the `data-section` names of
 * the host page.
 */
export function sections(view) {
  const l = (view && view.latest) || {};
  const rates = (view && view.rates) || {};
  return {
    disk: list(l.disks).length > 0,
    pressure: !!l.pressure && RESOURCES.some((r) => l.pressure[r]),
    temp: list(l.temperatures).length > 0,
    neterr: list(l.networks).some((n) => isNum(n.rx_packets) || isNum(n.tx_packets)) || list(rates.networks).some((n) => isNum(n.rx_errors_per_second)),
    kernel: !!l.kernel && typeof l.kernel === 'object',
    tasks: !!l.kernel && typeof l.kernel === 'object',
    filefd: !!l.file_handles && typeof l.file_handles === 'object',
    inodes: list(l.filesystems).some((f) => isNum(f.files) && f.files > 0),
    procs: list(l.top_processes).length > 0,
    cgroups: list(l.cgroups).length > 0,
    units: Array.isArray(l.failed_units),
  };
}
