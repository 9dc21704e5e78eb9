// utizmon dashboard: the light/dark toggle in the top bar.
// theme.js (a classic script in <head>) applies the stored choice before the first paint;
// this module keeps it current afterwards: the toggle button, changes of the system theme,
// and listeners (canvases that must repaint in the new colours).
// "light" or "dark" in localStorage overrides prefers-color-scheme; absent means follow the system.

const KEY = 'utizmon-theme';
const listeners = [];
let darkQuery = null;
/** The choice for this page view when localStorage is unavailable (privacy modes). */
let memoryTheme = null;

function storedTheme() {
  try {
    const t = window.localStorage.getItem(KEY);
    return t === 'light' || t === 'dark' ? t : null;
  } catch {
    return memoryTheme;
  }
}

function systemTheme() {
  return darkQuery && darkQuery.matches ? 'dark' : 'light';
}

/** 'light' or 'dark': the stored choice, else the system's. */
export function effectiveTheme() {
  return storedTheme() || systemTheme();
}

/** Calls `fn(theme)` after every theme change (the root's attributes are already set). */
export function onThemeChange(fn) {
  listeners.push(fn);
}

function apply() {
  const root = document.documentElement;
  const stored = storedTheme();
  if (stored) root.setAttribute('data-theme', stored);
  else root.removeAttribute('data-theme');
  const theme = effectiveTheme();
  root.setAttribute('data-effective-theme', theme);
  const button = document.getElementById('theme-toggle');
  if (button) {
    const label = `Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`;
    button.setAttribute('aria-label', label);
    button.setAttribute('title', label);
  }
  for (const fn of listeners) fn(theme);
}

function toggle() {
  const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
  // Choosing the system's own theme again means "follow the system".
  memoryTheme = next === systemTheme() ? null : next;
  try {
    if (memoryTheme) window.localStorage.setItem(KEY, memoryTheme);
    else window.localStorage.removeItem(KEY);
  } catch {
    // Remembered for this page view only.
  }
  apply();
}

/** Wires the toggle button and follows the system theme while nothing is stored. */
export function initThemeToggle() {
  darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
  const button = document.getElementById('theme-toggle');
  if (button) button.addEventListener('click', toggle);
  darkQuery.addEventListener('change', () => {
    if (!storedTheme()) apply();
  });
  apply();
}
