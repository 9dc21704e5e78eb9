// utizmon Alerts page (/alerts): firing, pending and silenced alerts and the running
// silences, live from the `alerts` of /ws/dashboard messages; the history of the last
// 24 hours from GET /api/v1/alerts/history, read again (at most every HISTORY_REFRESH_MS)
// whenever the alerts change; and the silence form. This module wires them.

import { historyUrl, readAlerts } from './alerts-model.js';
import { AlertsView } from './alerts-view.js';
import { connectionBanner } from './banner.js';
import { byId } from './dom.js';
import { LiveSocket } from './live-socket.js';
import { endSilence, SilenceForm } from './silence-form.js';
import { initThemeToggle } from './theme-toggle.js';

const HISTORY_RANGE_MS = 24 * 3600 * 1000;
const HISTORY_REFRESH_MS = 2000;
const AGE_TICK_MS = 5000;

const form = new SilenceForm();
const view = new AlertsView(
  (alert) => form.prefill(alert),
  async (silence) => {
    const failed = await endSilence(silence);
    if (failed) form.showError(`Silence not ended: ${failed}`);
  }
);
const hosts = new Set();
const alertnames = new Set();
const history = { loading: false, again: false, lastAt: 0 };

const socket = new LiveSocket('/ws/dashboard', (msg) => {
  if (msg.type === 'snapshot') hosts.clear();
  if (Array.isArray(msg.hosts)) for (const h of msg.hosts) if (h && typeof h.host === 'string') hosts.add(h.host);
  const alerts = readAlerts(msg);
  if (alerts) {
    for (const a of alerts.active) alertnames.add(a.alertname);
    view.setAlerts(alerts.active, alerts.silences, socket.serverNow());
    loadHistory();
  }
  form.suggest([...hosts], [...alertnames]);
});

/** Reads the history; a request while one is on its way (or too soon) runs after it. */
async function loadHistory() {
  const wait = history.lastAt + HISTORY_REFRESH_MS - Date.now();
  if (history.loading || wait > 0) {
    if (!history.again) {
      history.again = true;
      setTimeout(() => {
        history.again = false;
        loadHistory();
      }, Math.max(wait, 250));
    }
    return;
  }
  history.loading = true;
  history.lastAt = Date.now();
  let list = null;
  try {
    const res = await fetch(historyUrl(socket.serverNow(), HISTORY_RANGE_MS), { headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (res.ok) list = await res.json();
  } catch {
    // Shown as failed below; the next alert change tries again.
  }
  history.loading = false;
  const failed = !Array.isArray(list);
  view.setHistory(failed ? null : list, failed, socket.serverNow());
  if (!failed) for (const h of list) if (h && typeof h.alertname === 'string') alertnames.add(h.alertname);
}

setInterval(() => view.tick(socket.serverNow()), AGE_TICK_MS);
byId('alerts-history').dataset.state = 'loading';
initThemeToggle();
connectionBanner(socket);
socket.start();
