// utizmon dashboard: small DOM helpers that write only when something changed.
// Edge-supplied text (host names, OS strings, mountpoints, interfaces) reaches the DOM
// through textContent only; nothing here builds HTML from strings. Styles are set through
// CSSOM properties, which the Content-Security-Policy allows (style attributes it does not).

import { clamp01 } from './format.js';

/** What was last written per node and kind, so unchanged values cost no DOM write. */
const written = new WeakMap();

function changed(node, kind, value) {
  let seen = written.get(node);
  if (!seen) {
    seen = {};
    written.set(node, seen);
  }
  if (seen[kind] === value) return false;
  seen[kind] = value;
  return true;
}

/** The element with this id, or null. */
export function byId(id) {
  return document.getElementById(id);
}

/** Creates an element with an optional class and text (text set via textContent). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Sets textContent only when it changed (DOM writes are the expensive part). */
export function setText(node, text) {
  if (changed(node, 'text', text)) node.textContent = text;
}

/** Sets the title (tooltip) only when it changed. */
export function setTitle(node, title) {
  if (changed(node, 'title', title)) node.title = title;
}

/** Replaces one threshold class (see `levelClass`) on a node, touching the DOM only on change. */
export function setLevel(node, cls) {
  const seen = written.get(node);
  const prev = seen ? seen.level : undefined;
  if (!changed(node, 'level', cls)) return;
  if (prev) node.classList.remove(prev);
  if (cls) node.classList.add(cls);
}

/** Fills a bar (`.bar > .fill`) to a 0..1 ratio; unknown is empty. */
export function setFill(fill, ratio) {
  const t = `scaleX(${clamp01(ratio).toFixed(3)})`;
  if (changed(fill, 'fill', t)) fill.style.transform = t;
}

/** Reads a CSS custom property of the root element (theme colours for canvases). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
