// utizmon dashboard: the CPU sparklines of the overview, drawn on small canvases.
// `sparkPath` is the pure geometry (tested in tests/js/); `drawSparkline` paints it.
// Each canvas carries data-points (how many CPU ratios it shows), e.g. for browser tests.

import { severity } from './format.js';

/** CSS size of a sparkline canvas (fixed in app.css: canvas.spark). */
export const SPARK_W = 96;
export const SPARK_H = 26;
/** Short histories (a fresh server) are spread over at least this many slots. */
export const MIN_SLOTS = 30;
const PAD = 2;

/**
 * Where each of `data`'s 0..1 ratios (oldest first) goes in a `w` x `h` box: newest on the
 * right edge, one slot per value, `max(MIN_SLOTS, min(maxSlots, data.length))` slots across,
 * so a short history shows a trend without stretching two points over the whole width.
 * Returns [[x, y], ...]; values are clamped to 0..1, y grows downwards.
 */
export function sparkPath(data, w, h, maxSlots) {
  if (data.length < 2) return [];
  const step = w / (Math.max(MIN_SLOTS, Math.min(maxSlots, data.length)) - 1);
  const x0 = w - (data.length - 1) * step;
  return data.map((v, i) => [x0 + i * step, PAD + (1 - Math.max(0, Math.min(1, v))) * (h - 2 * PAD)]);
}

/** Which colour a sparkline takes: 'off' for an offline host, else by the newest value. */
export function sparkTone(online, data) {
  if (!online) return 'off';
  return severity(data[data.length - 1]) || 'line';
}

/** Paints `data` on `canvas` in `color` (line plus a faint fill below it). */
export function drawSparkline(canvas, data, maxSlots, color) {
  const dpr = window.devicePixelRatio || 1;
  // The CSS size is fixed; reading clientWidth here would force a layout per row in the
  // middle of the overview's DOM writes.
  const pw = Math.round(SPARK_W * dpr);
  const ph = Math.round(SPARK_H * dpr);
  if (canvas.width !== pw) canvas.width = pw;
  if (canvas.height !== ph) canvas.height = ph;
  canvas.dataset.points = String(data.length);
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, SPARK_W, SPARK_H);
  const path = sparkPath(data, SPARK_W, SPARK_H, maxSlots);
  if (path.length === 0) return;
  ctx.beginPath();
  path.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
  ctx.lineWidth = 1.25;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = color;
  ctx.stroke();
  ctx.lineTo(SPARK_W, SPARK_H);
  ctx.lineTo(path[0][0], SPARK_H);
  ctx.closePath();
  ctx.globalAlpha = 0.14;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
}
