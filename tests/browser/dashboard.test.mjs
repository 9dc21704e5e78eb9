// Browser tests of the dashboard: headless Chromium against the real utizmon-server with
// one real edge, one simulated fleet and edges with hostile host names, all on 127.0.0.1.
// The tests run in order and share the processes: later ones kill an edge and restart the
// server. Screenshots of the overview and a host page go to docs/screenshots/.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, removeDir, ROOT, startEdge, startServer, tempDir, waitFor, SuiteReport } from './harness.mjs';

const REAL = 'browser-real';
const SIM_PREFIX = 'bt-sim';
const SIM_COUNT = 5;
const SIM_HOSTS = Array.from({ length: SIM_COUNT }, (_, i) => `${SIM_PREFIX}-${String(i + 1).padStart(4, '0')}`);
const HOSTILE = ['<img src=x onerror=alert(1)>', `q"uo't\\back\\\\slash`, '<script>alert(2)</script>'];
const ALL_HOSTS = [REAL, ...SIM_HOSTS, ...HOSTILE];
const SHOTS = path.join(ROOT, 'docs', 'screenshots');

let server;
let dataDir;
let realEdge;
let simEdge;
const hostileEdges = [];
let browser;
let overview; // { page, seen } of the overview page, kept open across tests
const report = new SuiteReport();

function base() {
  return `http://${server.addr}`;
}

async function rowsOf(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('#fleet-body tr')).map((tr) => ({
      host: tr.dataset.host,
      link: tr.querySelector('td.host a').textContent,
      href: tr.querySelector('td.host a').getAttribute('href'),
      hidden: tr.hidden,
      status: tr.querySelector('.status-text').textContent,
      cpu: tr.querySelector('td.c-cpu .val').textContent,
    }))
  );
}

/** What the host page's CPU chart shows, from the data attributes of #chart-cpu. */
async function cpuChart(page) {
  return page.evaluate(() => {
    const box = document.getElementById('chart-cpu');
    const canvas = box.querySelector('canvas');
    const legend = box.querySelector('.u-legend .u-series:nth-child(2) .u-value');
    return {
      points: Number(box.dataset.points || 0),
      lastTs: Number(box.dataset.lastTs || 0),
      drawn: !!canvas && canvas.width > 0,
      value: legend ? legend.textContent : '',
    };
  });
}

function logs() {
  return [server, realEdge, simEdge, ...hostileEdges]
    .filter(Boolean)
    .map((p) => p.tail(25))
    .join('\n');
}

describe('dashboard in headless Chromium', { timeout: 240000 }, () => {
  before(async () => {
    dataDir = tempDir('browser-test');
    server = await startServer(0, dataDir, ['--offline-after', '3s']);
    realEdge = startEdge(server.addr, ['--host-name', REAL], 'edge-real');
    simEdge = startEdge(server.addr, ['--simulate', String(SIM_COUNT), '--simulate-prefix', SIM_PREFIX], 'edge-sim');
    HOSTILE.forEach((name, i) => hostileEdges.push(startEdge(server.addr, ['--host-name', name], `edge-hostile-${i}`)));
    browser = await launchBrowser();
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    report.print(logs);
    if (browser) await browser.close();
    await Promise.all([realEdge, simEdge, ...hostileEdges].filter(Boolean).map((p) => p.stop('SIGTERM', 3000)));
    if (server) await server.stop('SIGTERM', 5000);
    removeDir(dataDir);
  });

  test('overview lists every host', () =>
    report.guarded(async () => {
      overview = await report.page(browser.context);
      const { page } = overview;
      await page.goto(`${base()}/`);
      assert.equal(await page.title(), 'Fleet · utizmon');
      await page.evaluate(() => {
        window.__utzNoReload = 'still here';
      });
      await waitFor(
        'every host as a row',
        async () => {
          const names = (await rowsOf(page)).map((r) => r.host);
          return ALL_HOSTS.every((h) => names.includes(h));
        },
        20000
      );
      const rows = await rowsOf(page);
      for (const h of ALL_HOSTS) {
        const row = rows.find((r) => r.host === h);
        assert.equal(row.link, h, 'the host name is shown as literal text');
        assert.equal(row.href, `/hosts/${encodeURIComponent(h)}`);
      }
      const total = await page.textContent('#count-total');
      assert.equal(Number(total), rows.length);
      // The page's modules keep their state to themselves: no globals for tests or tools.
      assert.deepEqual(await page.evaluate(() => Object.keys(window).filter((k) => /^utz/i.test(k))), []);
    }));

  test('a value changes without reload', () =>
    report.guarded(async () => {
      const { page } = overview;
      const before = new Map((await rowsOf(page)).map((r) => [r.host, r.cpu]));
      await waitFor(
        'a CPU value to change',
        async () => (await rowsOf(page)).some((r) => SIM_HOSTS.includes(r.host) && before.get(r.host) !== r.cpu),
        15000
      );
      assert.equal(await page.evaluate(() => window.__utzNoReload), 'still here');
    }));

  test('sorting by a column works, by mouse and keyboard', () =>
    report.guarded(async () => {
      const { page } = overview;
      const cpuHeader = page.locator('th[data-key="cpu"]');
      await cpuHeader.locator('button').click();
      await waitFor('aria-sort descending', async () => (await cpuHeader.getAttribute('aria-sort')) === 'descending', 5000);
      const sortedBy = async (dir) => {
        // Read the whole column in one synchronous evaluation, after a flush has run.
        const vals = await page.evaluate(() =>
          Array.from(document.querySelectorAll('#fleet-body tr')).map((tr) => {
            const t = tr.querySelector('td.c-cpu .val').textContent;
            return t.endsWith('%') ? parseFloat(t) : null;
          })
        );
        const nums = vals.filter((v) => v !== null);
        // Unknown values sort last in both directions.
        const firstNull = vals.indexOf(null);
        if (firstNull !== -1 && vals.slice(firstNull).some((v) => v !== null)) return false;
        return nums.every((v, i) => i === 0 || (dir < 0 ? nums[i - 1] >= v : nums[i - 1] <= v));
      };
      await waitFor('rows sorted by CPU, largest first', () => sortedBy(-1), 5000);

      await cpuHeader.locator('button').focus();
      await page.keyboard.press('Enter');
      await waitFor('aria-sort ascending', async () => (await cpuHeader.getAttribute('aria-sort')) === 'ascending', 5000);
      await waitFor('rows sorted by CPU, smallest first', () => sortedBy(1), 5000);

      const hostHeader = page.locator('th[data-key="host"]');
      await hostHeader.locator('button').click();
      await waitFor('aria-sort on host', async () => (await hostHeader.getAttribute('aria-sort')) === 'ascending', 5000);
      assert.equal(await cpuHeader.getAttribute('aria-sort'), 'none');
      await waitFor(
        'rows sorted by name',
        async () =>
          page.evaluate(() => {
            const c = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
            const names = Array.from(document.querySelectorAll('#fleet-body tr')).map((tr) => tr.dataset.host);
            return names.every((n, i) => i === 0 || c.compare(names[i - 1], n) <= 0);
          }),
        5000
      );
    }));

  test('filtering by name works', () =>
    report.guarded(async () => {
      const { page } = overview;
      await page.fill('#filter', SIM_PREFIX);
      await waitFor(
        'only the simulated hosts visible',
        async () => {
          const visible = (await rowsOf(page)).filter((r) => !r.hidden).map((r) => r.host);
          return visible.length === SIM_COUNT && visible.every((h) => SIM_HOSTS.includes(h));
        },
        5000
      );
      await page.fill('#filter', 'no-such-host-anywhere');
      await waitFor('the no-match message', () => page.isVisible('#empty-filter'), 5000);
      await page.fill('#filter', '');
      await waitFor(
        'all hosts visible again',
        async () => (await rowsOf(page)).filter((r) => !r.hidden).length === ALL_HOSTS.length,
        5000
      );
    }));

  test('hostile host names stay inert text', () =>
    report.guarded(async () => {
      const { page, seen } = overview;
      const found = await page.evaluate(() => ({
        imgs: document.querySelectorAll('main img').length,
        scripts: Array.from(document.querySelectorAll('script')).map((s) => s.getAttribute('src')),
        title: document.title,
      }));
      assert.equal(found.imgs, 0);
      assert.ok(found.scripts.every((s) => s && s.startsWith('/static/')), `unexpected scripts ${found.scripts}`);
      assert.equal(found.title, 'Fleet · utizmon');
      for (const name of HOSTILE) {
        const detail = await report.page(browser.context);
        await detail.page.goto(`${base()}/hosts/${encodeURIComponent(name)}`);
        assert.equal(await detail.page.textContent('#host-name'), name);
        assert.equal(await detail.page.title(), `${name} · utizmon`);
        await waitFor('the host info of the hostile host', async () => (await detail.page.textContent('dd[data-field="agent_version"]')) !== '\u2013', 10000);
        // History and live points arrive under the encoded name too (e.g. `/` as %2F).
        await waitFor('chart points of the hostile host', async () => (await cpuChart(detail.page)).points >= 2, 10000);
        assert.equal(await detail.page.evaluate(() => document.querySelectorAll('main img, main script').length), 0);
        assert.deepEqual(detail.seen.dialogs, []);
        await detail.page.close();
      }
      assert.deepEqual(seen.dialogs, []);
    }));

  test('the host page draws live charts', () =>
    report.guarded(async () => {
      const detail = await report.page(browser.context);
      const { page } = detail;
      await page.goto(`${base()}/hosts/${encodeURIComponent(REAL)}`);
      assert.equal(await page.textContent('#host-name'), REAL);
      for (const id of ['chart-cpu', 'chart-cores', 'chart-mem', 'chart-load', 'chart-net']) {
        await waitFor(
          `a drawn canvas in #${id}`,
          () =>
            page.evaluate((sel) => {
              const c = document.querySelector(`#${sel} canvas`);
              return !!c && c.width > 0 && c.height > 0 && c.getBoundingClientRect().width > 100;
            }, id),
          20000
        );
      }
      const first = await cpuChart(page);
      await waitFor(
        'live points appended',
        async () => {
          const now = await cpuChart(page);
          return now.points >= Math.max(first.points + 2, 3) && now.lastTs >= first.lastTs + 2000;
        },
        15000
      );
      // Without a cursor the legend shows the newest CPU value.
      assert.match((await cpuChart(page)).value, /^\d+\.\d%$/);
      const status = await page.textContent('#host-status-text');
      assert.equal(status, 'online');
      assert.notEqual(await page.textContent('dd[data-field="kernel"]'), '\u2013');

      // A longer range loads from the history API and keeps drawing: the server picks a
      // 6 s step for 1 h, and the page re-reads the newest buckets as they fill.
      await page.click('label[for="range-1h"]');
      // Bucketed ranges draw a min..max band: CPU, max and min in the legend.
      await waitFor('1 h history loaded', async () => {
        const c = await cpuChart(page);
        return c.points >= 1 && c.drawn && (await page.isVisible('#chart-cpu .u-legend .u-series:nth-child(4)'));
      }, 10000);
      const bucketed = await cpuChart(page);
      await waitFor('a new bucket from the re-read tail', async () => (await cpuChart(page)).lastTs > bucketed.lastTs, 20000);
      assert.equal(((await cpuChart(page)).lastTs - bucketed.lastTs) % 6000, 0, 'bucket starts are whole steps apart');

      await page.click('label[for="range-5m"]');
      await waitFor('5 min history loaded', async () => (await cpuChart(page)).points >= 3, 10000);
      assert.deepEqual(detail.seen.dialogs, []);
      await page.close();
    }));

  test('screenshots for the README, in both themes', () =>
    report.guarded(async () => {
      // Half a minute of data makes charts and sparklines worth looking at.
      const { page } = overview;
      await page.locator('#filter').blur();
      await waitFor(
        'half a minute of CPU history',
        () =>
          page.evaluate(
            (h) => Number(Array.from(document.querySelectorAll('#fleet-body tr')).find((tr) => tr.dataset.host === h)?.querySelector('canvas.spark').dataset.points || 0) >= 30,
            SIM_HOSTS[0]
          ),
        60000,
        500
      );
      const snap = async (p, name, fullPage) => {
        for (const scheme of ['dark', 'light']) {
          await p.emulateMedia({ colorScheme: scheme });
          // Theme changes repaint canvases on the next frames; wait for two of them.
          await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
          await p.waitForTimeout(300);
          await p.screenshot({ path: path.join(SHOTS, `${name}${scheme === 'dark' ? '' : '-light'}.png`), fullPage });
        }
      };
      await snap(page, 'overview', false);
      const detail = await report.page(browser.context);
      await detail.page.goto(`${base()}/hosts/${encodeURIComponent(REAL)}`);
      await waitFor('the CPU chart', async () => {
        const c = await cpuChart(detail.page);
        return c.drawn && c.points >= 20;
      }, 20000);
      await snap(detail.page, 'host', true);
      await detail.page.close();
    }));

  test('killing an edge turns its row offline', () =>
    report.guarded(async () => {
      const { page } = overview;
      await realEdge.stop('SIGKILL', 2000);
      await waitFor(
        `${REAL} offline`,
        async () => (await rowsOf(page)).find((r) => r.host === REAL)?.status === 'offline',
        15000
      );
      const sub = await page.evaluate(
        (h) => Array.from(document.querySelectorAll('#fleet-body tr')).find((tr) => tr.dataset.host === h).querySelector('.status-cell .sub').textContent,
        REAL
      );
      assert.match(sub, /^last seen /);
      assert.equal(await page.textContent('#count-offline'), '1');

      // The offline chip shows only offline hosts; pressing it again shows all.
      await page.click('button[data-status="offline"]');
      assert.equal(await page.getAttribute('button[data-status="offline"]', 'aria-pressed'), 'true');
      await waitFor(
        'only the offline host visible',
        async () => {
          const visible = (await rowsOf(page)).filter((r) => !r.hidden).map((r) => r.host);
          return visible.length === 1 && visible[0] === REAL;
        },
        5000
      );
      await page.click('button[data-status="offline"]');
      await waitFor('every host visible again', async () => (await rowsOf(page)).filter((r) => !r.hidden).length === ALL_HOSTS.length, 5000);
    }));

  test('restarting the server shows the banner, then live data again', () =>
    report.guarded(async () => {
      const { page } = overview;
      const detail = await report.page(browser.context);
      await detail.page.goto(`${base()}/hosts/${encodeURIComponent(SIM_HOSTS[0])}`);
      await waitFor('the detail CPU chart', async () => (await cpuChart(detail.page)).drawn, 20000);

      const port = server.addr.split(':').pop();
      await server.stop('SIGTERM', 5000);
      const stoppedAt = Date.now();
      await waitFor('the connection banner', () => page.isVisible('#conn-banner'), 10000);
      const text = await page.textContent('#conn-banner');
      assert.match(text, /Connection to the server lost/);
      await waitFor('the banner on the host page', () => detail.page.isVisible('#conn-banner'), 10000);

      // Same port and database: the page reconnects to the same address and finds history.
      server = await startServer(Number(port), dataDir, ['--offline-after', '3s']);
      await waitFor('the banner to go away', async () => !(await page.isVisible('#conn-banner')), 30000);
      // Edges reconnect by themselves; the page shows their data again without a reload.
      await waitFor(
        'simulated hosts online again',
        async () => {
          const rows = await rowsOf(page);
          return SIM_HOSTS.every((h) => rows.find((r) => r.host === h)?.status === 'online');
        },
        40000
      );
      const before = new Map((await rowsOf(page)).map((r) => [r.host, r.cpu]));
      await waitFor(
        'a CPU value to change after the restart',
        async () => (await rowsOf(page)).some((r) => SIM_HOSTS.includes(r.host) && before.get(r.host) !== r.cpu),
        15000
      );
      assert.equal(await page.evaluate(() => window.__utzNoReload), 'still here');

      // The host page resynchronised too: no banner, and new live points after the restart.
      await waitFor('the host page banner to go away', async () => !(await detail.page.isVisible('#conn-banner')), 30000);
      // Two distinct points newer than the restart: the live stream appends again.
      let afterRestart = 0;
      await waitFor(
        'host page points from after the restart',
        async () => {
          const { lastTs } = await cpuChart(detail.page);
          if (lastTs > stoppedAt && afterRestart === 0) afterRestart = lastTs;
          return afterRestart > 0 && lastTs > afterRestart;
        },
        20000
      );
      assert.equal(await detail.page.textContent('#host-status-text'), 'online');
      await detail.page.close();
    }));

  test('a host page for a host nobody reported says so', () =>
    report.guarded(async () => {
      const missing = await report.page(browser.context);
      await missing.page.goto(`${base()}/hosts/no-such-host`);
      await waitFor('the missing-host notice', () => missing.page.isVisible('#host-missing'), 10000);
      assert.equal(await missing.page.textContent('#host-name'), 'no-such-host');
      await missing.page.close();
    }));

  test('phone-width layout and light theme', () =>
    report.guarded(async () => {
      const phone = await report.page(browser.context);
      await phone.page.setViewportSize({ width: 390, height: 844 });
      await phone.page.emulateMedia({ colorScheme: 'light' });
      await phone.page.goto(`${base()}/`);
      await waitFor('rows on the phone page', async () => (await rowsOf(phone.page)).length >= SIM_COUNT, 15000);
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone screen`);
      // The theme toggle flips to dark and is remembered across a reload.
      await phone.page.click('#theme-toggle');
      assert.equal(await phone.page.getAttribute('html', 'data-effective-theme'), 'dark');
      await phone.page.reload();
      assert.equal(await phone.page.getAttribute('html', 'data-effective-theme'), 'dark');
      await phone.page.click('#theme-toggle');
      assert.equal(await phone.page.getAttribute('html', 'data-effective-theme'), 'light');
      await waitFor('rows after reload', async () => (await rowsOf(phone.page)).length >= SIM_COUNT, 15000);
      await phone.page.screenshot({ path: path.join(SHOTS, 'overview-phone.png') });
      await phone.page.close();
    }));

  test('no CSP violations, page errors or dialogs on any page', () =>
    report.guarded(async () => {
      for (const p of report.pages) {
        assert.deepEqual(p.seen.csp, [], 'CSP violations');
        assert.deepEqual(
          p.seen.console.filter((m) => /Content.Security.Policy|Refused to/i.test(m)),
          [],
          'CSP messages in the console'
        );
        assert.deepEqual(p.seen.errors, [], 'uncaught page errors');
        assert.deepEqual(p.seen.dialogs, [], 'dialogs');
      }
    }));
});
