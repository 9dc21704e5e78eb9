// Browser test of alerts in the dashboard: headless Chromium against the real
// utizmon-server and utizmon-edge on 127.0.0.1, with a rules file whose threshold every
// host crosses at once, and a webhook receiver run by this test on 127.0.0.1.
// The alert shows on the Alerts page, as the overview row's badge and as the host page's
// banner; a silence created from the page shows as silenced and holds the notifications
// of a new alert back (the webhook receives nothing) until the page's "End" button ends
// it, when the held notification is sent.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, removeDir, ROOT, startEdge, startServer, tempDir, waitFor, SuiteReport } from './harness.mjs';

const HOST = 'alerts-real';
// Memory in use is never below 1 % on a running host: the alert fires with the first sample.
const RULES = `rules:
  - alert: MemoryBusy
    metric: memory_used_ratio
    above: 0.01
    severity: critical
    summary: "Memory on {{ host }} at {{ value | percent }}"
  - alert: HostDown
    metric: host_down
    severity: critical
    summary: "{{ host }} has sent no sample for {{ value | duration }}"
`;

/** A webhook receiver on 127.0.0.1: every POST body, parsed, in arrival order. */
function startWebhook() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      try {
        received.push(JSON.parse(body));
      } catch {
        received.push({ unparsable: body });
      }
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, received, url: `http://127.0.0.1:${server.address().port}/hook` }));
  });
}

/** `status alertname` of every notification received, in order. */
function notices(received) {
  return received.map((b) => `${b.status} ${b.alerts && b.alerts[0] ? b.alerts[0].labels.alertname : '?'}`);
}

let server;
let dataDir;
let edge;
let hook;
let browser;
let alertsPage;
const report = new SuiteReport();

function base() {
  return `http://${server.addr}`;
}

/** The rows of one list of the Alerts page as { alertname, host, state, silenced }. */
function listRows(page, id) {
  return page.evaluate(
    (listId) =>
      Array.from(document.querySelectorAll(`#${listId} tbody tr`)).map((tr) => ({
        alertname: tr.dataset.alertname,
        host: tr.dataset.host,
        state: tr.dataset.state,
        silenced: tr.dataset.silenced,
        id: tr.dataset.silenceId,
      })),
    id
  );
}

describe('alerts in headless Chromium', { timeout: 120000 }, () => {
  before(async () => {
    dataDir = tempDir('browser-alerts');
    const rules = path.join(dataDir, 'rules.yml');
    fs.writeFileSync(rules, RULES);
    hook = await startWebhook();
    server = await startServer(0, dataDir, ['--offline-after', '2s', '--alert-rules', rules, '--alert-webhook-url', hook.url]);
    edge = startEdge(server.addr, ['--host-name', HOST], 'edge-alerts');
    browser = await launchBrowser();
  });

  after(async () => {
    report.print(() => [server, edge].filter(Boolean).map((p) => p.tail(30)).join('\n'));
    if (browser) await browser.close();
    if (edge) await edge.stop('SIGTERM', 3000);
    if (server) await server.stop('SIGTERM', 5000);
    if (hook) hook.server.close();
    removeDir(dataDir);
  });

  test('a firing alert is on the Alerts page, the overview badge and the host banner', () =>
    report.guarded(async () => {
      await waitFor('the webhook to hear MemoryBusy fire', () => notices(hook.received).includes('firing MemoryBusy'), 20000);

      alertsPage = await report.page(browser.context);
      const { page } = alertsPage;
      await page.goto(`${base()}/alerts`);
      assert.equal(await page.title(), 'Alerts · utizmon');
      assert.equal(await page.getAttribute('.topnav a[href="/alerts"]', 'aria-current'), 'page');
      await waitFor(
        'MemoryBusy in the firing list',
        async () => (await listRows(page, 'alerts-firing')).some((r) => r.alertname === 'MemoryBusy' && r.host === HOST && r.state === 'firing'),
        10000
      );
      assert.equal(await page.textContent('#count-firing'), '1');
      const summary = await page.textContent(`#alerts-firing tr[data-alertname="MemoryBusy"] .c-summary`);
      assert.match(summary, new RegExp(`^Memory on ${HOST} at \\d+\\.\\d%$`));
      await waitFor('the history to list it as firing', async () => (await listRows(page, 'alerts-history')).some((r) => r.alertname === 'MemoryBusy' && r.state === 'firing'), 10000);

      const overview = await report.page(browser.context);
      await overview.page.goto(`${base()}/`);
      const badge = overview.page.locator(`#fleet-body tr[data-host="${HOST}"] .alert-badge`);
      await waitFor('the overview badge', async () => (await badge.getAttribute('data-count')) === '1' && (await badge.isVisible()), 10000);
      assert.equal(await badge.getAttribute('data-severity'), 'critical');
      assert.equal(await badge.getAttribute('title'), '1 firing alert: MemoryBusy');
      await overview.page.close();

      const host = await report.page(browser.context);
      await host.page.goto(`${base()}/hosts/${encodeURIComponent(HOST)}`);
      await waitFor('the host banner', async () => (await host.page.getAttribute('#host-alerts', 'data-count')) === '1', 10000);
      assert.ok(await host.page.isVisible('#host-alerts li[data-alertname="MemoryBusy"]'));
      assert.match(await host.page.textContent('#host-alerts li[data-alertname="MemoryBusy"]'), /Memory on alerts-real at/);
      await host.page.close();
    }));

  test('the form refuses a silence of nothing, without asking the server', () =>
    report.guarded(async () => {
      const { page } = alertsPage;
      await page.fill('#silence-host', '');
      await page.fill('#silence-alertname', '');
      await page.click('#silence-submit');
      await waitFor('the form error', () => page.isVisible('#silence-error'), 5000);
      assert.equal(await page.textContent('#silence-error'), 'Name a host, an alert or both.');
      assert.equal(await page.getAttribute('#silences', 'data-count'), '0');
    }));

  test('a silence from the page mutes the host: shown as silenced, notifications held until it ends', () =>
    report.guarded(async () => {
      const { page } = alertsPage;
      // "Silence…" on the alert's row fills the form in; this silence mutes the whole host.
      await page.click(`#alerts-firing tr[data-alertname="MemoryBusy"] button`);
      assert.equal(await page.inputValue('#silence-host'), HOST);
      assert.equal(await page.inputValue('#silence-alertname'), 'MemoryBusy');
      await page.fill('#silence-alertname', '');
      await page.selectOption('#silence-duration', '1h');
      await page.fill('#silence-comment', 'maintenance');
      await page.click('#silence-submit');
      await waitFor('the silence listed', async () => (await listRows(page, 'silences')).length === 1, 10000);
      assert.ok(await page.isHidden('#silence-error'));
      assert.match(await page.textContent('#silences tbody tr'), /every alert on alerts-real/);
      await waitFor(
        'MemoryBusy shown as silenced',
        async () => (await listRows(page, 'alerts-silenced')).some((r) => r.alertname === 'MemoryBusy' && r.silenced === 'true'),
        10000
      );
      assert.equal(await page.textContent('#count-firing'), '0');

      // A new alert while silenced: HostDown fires, but the webhook hears nothing of it.
      const heard = hook.received.length;
      await edge.stop('SIGKILL', 1000);
      await waitFor(
        'HostDown shown as silenced',
        async () => (await listRows(page, 'alerts-silenced')).some((r) => r.alertname === 'HostDown' && r.host === HOST),
        15000
      );
      const api = await (await fetch(`${base()}/api/v1/alerts`)).json();
      assert.ok(api.some((a) => a.alertname === 'HostDown' && a.state === 'firing'), JSON.stringify(api));
      // The notifier had a few ticks to send; it must not have.
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(notices(hook.received.slice(heard)), []);

      // "End": the silence goes, and the held HostDown notification is sent.
      await page.click('#silences tbody tr button');
      await waitFor('the silence gone', async () => (await listRows(page, 'silences')).length === 0, 10000);
      await waitFor('HostDown firing again in the list', async () => (await listRows(page, 'alerts-firing')).some((r) => r.alertname === 'HostDown'), 10000);
      await waitFor('the held notification', () => notices(hook.received.slice(heard)).includes('firing HostDown'), 10000);
      assert.deepEqual(alertsPage.seen.csp, []);
      assert.deepEqual(alertsPage.seen.errors, []);
      const shots = path.join(ROOT, 'docs', 'screenshots');
      fs.mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, 'alerts.png'), fullPage: true });
    }));
});
