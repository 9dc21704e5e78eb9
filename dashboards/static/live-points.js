// utizmon dashboard: the host page's live-only series. Disk I/O, pressure, temperatures and
// network errors (protocol minor 1) are not in the history store yet, so their charts show
// what the detail stream brought since the page opened: each HostView gives one live point
// holding values the server already computed (rates, 10 s pressure averages, sensor
// readings), picked out as they are, never averaged or bucketed here.
// Also which minor-1 sections a host reports, so the page hides the others.
// Pure functions of their arguments (no DOM, no clock), unit-tested in tests/js/.

import { isNum } from './format.js';

/** How far back the live-only charts reach (the points are dropped after that). */
export const LIVE_WINDOW_MS = 15 * 60 * 1000;

const RESOURCES = ['cpu', 'memory', 'io'];

function list(x) {
  return Array.isArray(x) ? x.filter((e) => e && typeof e === 'object') : [];
}

/** A sensor's display name: its label, or its chip and sensor when it has none. */
export function sensorName(t) {
  return t.label ? t.label : `${t.chip} ${t.sensor}`;
}

/**
 * The live point of a HostView (docs/api.md), or null before its first sample:
 * `{ ts_ms, disks, pressure, temperatures, netErrors }` where `disks` are `rates.disks`,
 * `pressure` is `{ cpu: { some, full }, ... }` from the 10 s averages, `temperatures` are
 * `{ key, name, celsius }`, and `netErrors` are `{ device, errors_per_second,
 * dropped_per_second }` (in and out summed) of the interfaces with packet counters.
 */
export function livePointOf(view) {
  const l = view && view.latest;
  if (!l || !isNum(l.ts_ms)) return null;
  const rates = view.rates || {};
  const pressure = {};
  for (const res of RESOURCES) {
    const stall = l.pressure && l.pressure[res];
    if (stall) pressure[res] = { some: stall.some_avg10, full: stall.full_avg10 };
  }
  const sum = (a, b) => (isNum(a) && isNum(b) ? a + b : null);
  return {
    ts_ms: l.ts_ms,
    disks: list(rates.disks),
    pressure,
    temperatures: list(l.temperatures).map((t) => ({ key: `${t.chip}/${t.sensor}`, name: sensorName(t), celsius: t.celsius })),
    netErrors: list(rates.networks)
      .filter((n) => isNum(n.rx_errors_per_second))
      .map((n) => ({
        device: n.device,
        errors_per_second: sum(n.rx_errors_per_second, n.tx_errors_per_second),
        dropped_per_second: sum(n.rx_dropped_per_second, n.tx_dropped_per_second),
      })),
  };
}

/**
 * Which minor-1 sections a HostView reports: the page shows a section's chart or table
 * only when the host sends that part (a collector may be off, the kernel may lack it).
 */
export function sections(view) {
  const l = (view && view.latest) || {};
  const rates = (view && view.rates) || {};
  return {
    disk: list(l.disks).length > 0,
    pressure: !!l.pressure && RESOURCES.some((r) => l.pressure[r]),
    temp: list(l.temperatures).length > 0,
    neterr: list(l.networks).some((n) => isNum(n.rx_packets) || isNum(n.tx_packets)) || list(rates.networks).some((n) => isNum(n.rx_errors_per_second)),
    procs: list(l.top_processes).length > 0,
    cgroups: list(l.cgroups).length > 0,
    units: Array.isArray(l.failed_units),
  };
}
