// utizmon: applies the stored theme before the first paint (loaded synchronously in <head>).
// "light" or "dark" in localStorage overrides prefers-color-scheme; absent means follow the system.
'use strict';
(function () {
  var root = document.documentElement;
  var stored = null;
  try {
    stored = window.localStorage.getItem('utizmon-theme');
  } catch (e) {
    stored = null; // Storage can be disabled; then the system preference decides.
  }
  if (stored === 'light' || stored === 'dark') {
    root.setAttribute('data-theme', stored);
  }
  var dark = stored ? stored === 'dark' : window.matchMedia('(prefers-color-scheme: dark)').matches;
  root.setAttribute('data-effective-theme', dark ? 'dark' : 'light');
})();
