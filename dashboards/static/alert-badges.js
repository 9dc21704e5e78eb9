// utizmon dashboard: a host's firing alerts where the host is shown, not on the Alerts
// page: the badge in the overview's host cell and the banner on the host page. What they
// say comes from alerts-model.js; this module only writes the DOM (text via textContent,
// state as data-* for tests: data-count, data-severity, data-silenced).

import { el, setText, setTitle } from './dom.js';
import { bannerAlerts } from './alerts-model.js';

/** A hidden badge element for a host row; `setBadge` fills it. */
export function makeBadge() {
  const badge = el('a', 'alert-badge');
  badge.href = '/alerts';
  badge.hidden = true;
  badge.dataset.count = '0';
  return badge;
}

/** Shows `info` (one value of `hostBadges`) on `badge`, or hides it when undefined. */
export function setBadge(badge, info) {
  if (!info) {
    if (!badge.hidden) {
      badge.hidden = true;
      badge.dataset.count = '0';
    }
    return;
  }
  setText(badge, `\u26a0 ${info.count}`);
  setTitle(badge, info.title);
  badge.setAttribute('aria-label', info.title);
  badge.dataset.count = String(info.count);
  badge.dataset.severity = info.severity;
  badge.dataset.silenced = info.silenced ? 'true' : 'false';
  badge.hidden = false;
}

/** The host page's banner (`node`, a `#host-alerts` box) naming `host`'s firing alerts. */
export function renderBanner(node, active, host) {
  const firing = bannerAlerts(active, host);
  node.dataset.count = String(firing.length);
  node.textContent = '';
  node.hidden = firing.length === 0;
  if (firing.length === 0) return;
  node.dataset.severity = firing[0].severity;
  const head = el('div', 'alert-banner-head');
  head.append(el('strong', null, `${firing.length} firing alert${firing.length === 1 ? '' : 's'}`));
  const link = el('a', null, 'Alerts page');
  link.href = '/alerts';
  head.append(' \u00b7 ', link);
  const list = el('ul', 'alert-banner-list');
  for (const a of firing) {
    const li = el('li', `sev-${a.severity}`);
    li.dataset.alertname = a.alertname;
    li.dataset.silenced = a.silenced ? 'true' : 'false';
    li.append(el('span', 'sev-tag', a.severity), el('strong', null, a.alertname), ' ', el('span', null, a.summary || ''));
    if (a.silenced) li.append(' ', el('span', 'muted-tag', 'silenced'));
    list.append(li);
  }
  node.append(head, list);
}
