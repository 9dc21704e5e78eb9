// utizmon fleet overview (/): one table row per host, kept live from /ws/dashboard.
// This module wires the page: the socket feeds a FleetModel (fleet-model.js), which a
// FleetTable (fleet-table.js) draws; the column headers sort it, the search box and the
// status chips filter it. The messages' alerts become each row's firing-alert badge.

import { hostBadges, readAlerts } from './alerts-model.js';
import { connectionBanner } from './banner.js';
import { FleetModel, initialDirection, SORT_KEYS } from './fleet-model.js';
import { FleetTable } from './fleet-table.js';
import { LiveSocket } from './live-socket.js';
import { initThemeToggle, onThemeChange } from './theme-toggle.js';

/** How often offline rows refresh their "last seen … ago". */
const AGO_TICK_MS = 5000;

const model = new FleetModel();
const socket = new LiveSocket('/ws/dashboard', (msg) => {
  const result = model.apply(msg);
  if (result) table.changed(result);
  const alerts = readAlerts(msg);
  if (alerts) table.setBadges(hostBadges(alerts.active));
});
const table = new FleetTable(model, () => socket.serverNow());

const headers = document.querySelectorAll('#fleet th[data-key]');
const filter = document.getElementById('filter');
const chips = document.querySelectorAll('.counts button[data-status]');
let status = '';

function showSort() {
  for (const th of headers) {
    const key = th.dataset.key;
    const dir = table.sortDir === 1 ? 'ascending' : 'descending';
    th.setAttribute('aria-sort', key === table.sortKey ? dir : 'none');
  }
}

for (const th of headers) {
  th.querySelector('.sort').addEventListener('click', () => {
    const key = th.dataset.key;
    if (!SORT_KEYS[key]) return;
    table.sortBy(key, key === table.sortKey ? -table.sortDir : initialDirection(key));
    showSort();
  });
}

filter.addEventListener('input', () => table.filter(filter.value, status));
for (const chip of chips) {
  chip.addEventListener('click', () => {
    const wanted = chip.dataset.status || '';
    // Pressing the active status chip again shows every host.
    status = wanted === status ? '' : wanted;
    for (const c of chips) c.setAttribute('aria-pressed', (c.dataset.status || '') === status ? 'true' : 'false');
    table.filter(filter.value, status);
  });
}

onThemeChange(() => table.themeChanged());
setInterval(() => table.tick(), AGO_TICK_MS);
showSort();
table.filter(filter.value, status);
initThemeToggle();
connectionBanner(socket);
socket.start();
