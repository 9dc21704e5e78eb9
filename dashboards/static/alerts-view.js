// utizmon dashboard: the Alerts page's lists (firing, pending, silenced, silences,
// history) as tables. The lists are short and change only when an alert or a silence
// does, so each is rebuilt whole; texts come from alerts-model.js and reach the DOM via
// textContent. Each row carries data-* (alertname, host, state, severity, silenced,
// silence-id) and each list data-count, for tests and tools.

import { byId, el, setText } from './dom.js';
import { activeText, groupAlerts, historyRows, objectText, silenceTarget, silenceTimes } from './alerts-model.js';
import { formatTime } from './format.js';

/** Most history rows drawn; the rest are counted below the table. */
const HISTORY_ROWS = 200;

function hostLink(host) {
  const a = el('a', null, host);
  a.href = `/hosts/${encodeURIComponent(host)}`;
  return a;
}

function alertCell(alertname, object) {
  const td = el('td', 'c-alert');
  td.append(el('strong', null, alertname));
  if (object) td.append(el('span', 'sub', object));
  return td;
}

function button(text, onClick) {
  const b = el('button', 'button small', text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

/** Replaces `box`'s content with a table of `rows` (or the `empty` sentence). */
function fill(box, headers, rows, empty) {
  box.textContent = '';
  box.dataset.count = String(rows.length);
  if (rows.length === 0) {
    box.append(el('p', 'sub', empty));
    return;
  }
  const table = el('table', 'list');
  const head = el('tr');
  for (const h of headers) {
    const th = el('th', null, h);
    th.scope = 'col';
    head.append(th);
  }
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  tbody.append(...rows);
  table.append(thead, tbody);
  box.append(table);
}

/**
 * The page's lists. `onSilence(alert)` is called by an alert's "Silence…" button,
 * `onEnd(silence)` by a silence's "End" button.
 */
export class AlertsView {
  constructor(onSilence, onEnd) {
    this.onSilence = onSilence;
    this.onEnd = onEnd;
    this.active = null;
    this.silences = [];
    this.history = null;
    this.historyFailed = false;
  }

  /** New active alerts and silences (from a message), drawn at server time `now`. */
  setAlerts(active, silences, now) {
    this.active = active;
    this.silences = silences;
    byId('alerts-connecting').hidden = true;
    this.renderAlerts(now);
  }

  /** A history answer (or `null` with `failed`), drawn at server time `now`. */
  setHistory(list, failed, now) {
    if (!failed) this.history = list;
    this.historyFailed = failed;
    this.renderHistory(now);
  }

  /** Redraws what ages ("firing for 3m", "ends in 1h") without new data. */
  tick(now) {
    if (this.active) this.renderAlerts(now);
    if (this.history) this.renderHistory(now);
  }

  renderAlerts(now) {
    const groups = groupAlerts(this.active);
    setText(byId('count-firing'), String(groups.firing.length));
    setText(byId('count-pending'), String(groups.pending.length));
    setText(byId('count-silenced'), String(groups.silenced.length));
    const headers = ['Severity', 'Alert', 'Host', 'Summary', 'Since', ''];
    fill(byId('alerts-firing'), headers, groups.firing.map((a) => this.alertRow(a, now)), 'Nothing is firing.');
    fill(byId('alerts-pending'), headers, groups.pending.map((a) => this.alertRow(a, now)), 'Nothing is pending.');
    fill(byId('alerts-silenced'), headers, groups.silenced.map((a) => this.alertRow(a, now)), 'No firing alert is silenced.');
    const rows = this.silences.map((s) => this.silenceRow(s, now));
    fill(byId('silences'), ['Mutes', 'Comment', 'Created', 'Until', ''], rows, 'No silence is running.');
  }

  alertRow(a, now) {
    const tr = el('tr', `sev-${a.severity}`);
    tr.dataset.alertname = a.alertname;
    tr.dataset.host = a.host;
    tr.dataset.state = a.state;
    tr.dataset.severity = a.severity;
    tr.dataset.silenced = a.silenced ? 'true' : 'false';
    const hostTd = el('td');
    hostTd.append(hostLink(a.host));
    const since = el('td', 'sub', activeText(a, now));
    since.title = formatTime(a.active_since_ms);
    const action = el('td', 'c-action');
    action.append(button('Silence\u2026', () => this.onSilence(a)));
    const sev = el('td');
    sev.append(el('span', 'sev-tag', a.severity));
    tr.append(sev, alertCell(a.alertname, objectText(a)), hostTd, el('td', 'c-summary', a.summary || ''), since, action);
    return tr;
  }

  silenceRow(s, now) {
    const tr = el('tr');
    tr.dataset.silenceId = String(s.id);
    tr.dataset.host = s.host || '';
    tr.dataset.alertname = s.alertname || '';
    const action = el('td', 'c-action');
    action.append(button('End', () => this.onEnd(s)));
    const until = el('td', 'sub', silenceTimes(s, now));
    until.title = formatTime(s.ends_ms);
    tr.append(el('td', null, silenceTarget(s)), el('td', 'c-summary', s.comment || ''), el('td', 'sub', formatTime(s.created_ms)), until, action);
    return tr;
  }

  renderHistory(now) {
    const box = byId('alerts-history');
    if (!this.history) {
      box.dataset.state = this.historyFailed ? 'failed' : 'loading';
      setText(box, this.historyFailed ? 'Could not load the history.' : 'Loading\u2026');
      return;
    }
    box.dataset.state = this.historyFailed ? 'stale' : 'ok';
    const rows = historyRows(this.history, now);
    const shown = rows.slice(0, HISTORY_ROWS).map((r) => {
      const h = r.entry;
      const tr = el('tr', `sev-${h.severity}`);
      tr.dataset.alertname = h.alertname;
      tr.dataset.host = h.host;
      tr.dataset.state = r.state;
      const state = el('td');
      state.append(el('span', `state-tag ${r.state}`, r.state));
      const hostTd = el('td');
      hostTd.append(hostLink(h.host));
      const when = el('td', 'sub', r.when);
      when.title = formatTime(h.fired_at_ms);
      const summary = el('td', 'c-summary', h.summary || '');
      if (h.description) summary.title = h.description;
      tr.append(state, alertCell(h.alertname, r.object), hostTd, summary, when, el('td', 'sub', r.lasted));
      return tr;
    });
    fill(box, ['State', 'Alert', 'Host', 'Summary', 'Fired', 'Duration'], shown, 'No alert fired in the last 24 hours.');
    box.dataset.count = String(rows.length);
    if (rows.length > HISTORY_ROWS) box.append(el('p', 'sub', `and ${rows.length - HISTORY_ROWS} older alerts`));
  }
}
