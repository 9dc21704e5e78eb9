// utizmon dashboard: number and time formatting and the threshold levels, shared by every page.
// Pure functions of their arguments (no DOM, no clock), so `tests/js/` runs them under Node.

/** What a value the page does not know yet shows as: an en dash. */
export const DASH = '\u2013';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** True for a finite number; JSON `null`, strings and NaN are "unknown". */
export function isNum(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Bytes with binary units: "0 B", "512 B", "1.2 KiB", "34.5 MiB" (a no-break space between). */
export function formatBytes(n) {
  if (!isNum(n)) return DASH;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return (n < 0 ? '-' : '') + v.toFixed(digits) + '\u00a0' + UNITS[i];
}

/** Bytes per second: "1.2 KiB/s". */
export function formatRate(n) {
  return isNum(n) ? formatBytes(n) + '/s' : DASH;
}

/** Degrees Celsius with one decimal: "45.3 °C" (a no-break space between). */
export function formatCelsius(c) {
  return isNum(c) ? c.toFixed(1) + '\u00a0\u00b0C' : DASH;
}

/** A 0..1 ratio as a percentage with one decimal: "12.3%". */
export function formatPercent(ratio) {
  return isNum(ratio) ? (ratio * 100).toFixed(1) + '%' : DASH;
}

/** A plain number with fixed decimals, or a dash. */
export function formatNumber(x, digits) {
  return isNum(x) ? x.toFixed(digits) : DASH;
}

/** A duration in seconds, two most significant units: "3d 4h", "5h 12m", "12m", "40s". */
export function formatDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** How long ago, for "last seen": "just now", "40 s ago", "2 min ago", "3 h ago", "5 d ago". */
export function formatAgo(ms) {
  if (!isNum(ms)) return 'never';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A Unix time in milliseconds in the browser's locale, or '' when unknown. */
export function formatTime(ms) {
  return isNum(ms) ? new Date(ms).toLocaleString() : '';
}

/** `used / total`, or null when either is unknown or the total is not positive. */
export function ratioOf(used, total) {
  return isNum(used) && isNum(total) && total > 0 ? used / total : null;
}

/** A ratio clamped to 0..1; unknown counts as 0 (an empty bar). */
export function clamp01(ratio) {
  return isNum(ratio) ? Math.max(0, Math.min(1, ratio)) : 0;
}

/** How alarming a 0..1 ratio is: 'crit' from 0.9, 'warn' from 0.75, else ''. */
export function severity(ratio) {
  if (!isNum(ratio)) return '';
  if (ratio >= 0.9) return 'crit';
  if (ratio >= 0.75) return 'warn';
  return '';
}

/** The CSS class of a ratio's severity ('lvl-crit', 'lvl-warn' or ''). */
export function levelClass(ratio) {
  const s = severity(ratio);
  return s ? `lvl-${s}` : '';
}
