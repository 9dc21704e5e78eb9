// utizmon dashboard: silences from the Alerts page. The form mutes a host, an alert or
// both for a duration (POST /api/v1/silences); `endSilence` ends one (DELETE
// /api/v1/silences/{id}). The server's answer arrives back over /ws/dashboard like any
// other change, so this module only sends, and shows the server's refusal text if any.

import { byId, setText } from './dom.js';
import { silenceBody, suggestions } from './alerts-model.js';

/** The error text of a refused request: the API's `{"error": ...}` or the status. */
async function refusal(res) {
  try {
    const body = await res.json();
    if (body && typeof body.error === 'string') return body.error;
  } catch {
    // Not JSON: fall through to the status.
  }
  return `HTTP ${res.status}`;
}

/** Sends one silence request; resolves to null on success, else the error text. */
async function send(method, url, body) {
  try {
    const init = { method, headers: { Accept: 'application/json' }, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    return res.ok ? null : await refusal(res);
  } catch (e) {
    return `the server did not answer (${e.message})`;
  }
}

function fillList(datalist, values) {
  const wanted = suggestions(values);
  const have = Array.from(datalist.options, (o) => o.value);
  if (wanted.length === have.length && wanted.every((v, i) => v === have[i])) return;
  datalist.textContent = '';
  for (const v of wanted) {
    const option = document.createElement('option');
    option.value = v;
    datalist.append(option);
  }
}

/** The silence form of the Alerts page. */
export class SilenceForm {
  constructor() {
    this.form = byId('silence-form');
    this.host = byId('silence-host');
    this.alertname = byId('silence-alertname');
    this.duration = byId('silence-duration');
    this.comment = byId('silence-comment');
    this.submit = byId('silence-submit');
    this.error = byId('silence-error');
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.create();
    });
  }

  /** Suggestions for the host and alert fields. */
  suggest(hosts, alertnames) {
    fillList(byId('silence-hosts'), hosts);
    fillList(byId('silence-alertnames'), alertnames);
  }

  /** Prefills the form to silence `alert` (an alert row's "Silence…" button). */
  prefill(alert) {
    this.host.value = alert.host;
    this.alertname.value = alert.alertname;
    this.showError('');
    this.comment.focus();
  }

  showError(text) {
    setText(this.error, text);
    this.error.hidden = text === '';
    this.form.dataset.state = text ? 'error' : 'idle';
  }

  async create() {
    const { body, error } = silenceBody({
      host: this.host.value,
      alertname: this.alertname.value,
      duration: this.duration.value,
      comment: this.comment.value,
    });
    if (error) {
      this.showError(error);
      return;
    }
    this.submit.disabled = true;
    this.form.dataset.state = 'sending';
    const failed = await send('POST', '/api/v1/silences', body);
    this.submit.disabled = false;
    if (failed) {
      this.showError(`Not silenced: ${failed}`);
      return;
    }
    this.showError('');
    this.form.reset();
  }
}

/** Ends silence `s` now; resolves to null, or the error text. */
export function endSilence(s) {
  return send('DELETE', `/api/v1/silences/${encodeURIComponent(String(s.id))}`);
}
