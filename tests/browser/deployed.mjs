// Checks a deployed dashboard (not one this harness started): opens URL in headless
// Chromium and waits (bounded) until every host named on the command line has a row whose
// status is "online" and whose latest sample keeps advancing, i.e. the edge is live. Used by the Vagrant
// flow test (deploy/vagrant-lab.sh) through the master's forwarded port.
// Usage: node deployed.mjs URL HOST...   (exit 0 when all are live, 1 otherwise)
// A deployment with logins (site.yml's default) needs UTIZMON_PASSWORD_FILE (the admin's
// password from .secrets/admin-password; user UTIZMON_USER, default admin): every request
// then carries HTTP Basic credentials. An https URL is served with the deployment's own CA,
// which this throwaway browser profile does not know: certificate errors are ignored.

import fs from 'node:fs';
import { launchBrowser, waitFor } from './harness.mjs';

const [url, ...hosts] = process.argv.slice(2);
if (!url || hosts.length === 0) {
  console.error('usage: node deployed.mjs URL HOST...');
  process.exit(2);
}

function rows(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('#fleet-body tr')).map((tr) => ({
      host: tr.dataset.host,
      status: tr.querySelector('.status-text')?.textContent,
      cpu: tr.querySelector('td.c-cpu .val')?.textContent,
    }))
  );
}

const options = { ignoreHTTPSErrors: url.startsWith('https:') };
if (process.env.UTIZMON_PASSWORD_FILE) {
  const password = fs.readFileSync(process.env.UTIZMON_PASSWORD_FILE, 'utf8').trim();
  const user = process.env.UTIZMON_USER || 'admin';
  options.extraHTTPHeaders = { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}
const browser = await launchBrowser(options);
let code = 1;
try {
  const page = await browser.context.newPage();
  await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  const online = async () => {
    const r = await rows(page);
    return hosts.every((h) => r.find((x) => x.host === h)?.status === 'online') ? r : null;
  };
  await waitFor(`rows of ${hosts.join(', ')} online at ${url}`, online, 60000, 500);
  // live: every host's latest sequence number advances (asked from the page, same origin)
  const seqs = () =>
    page.evaluate(async () => {
      const body = await (await fetch('/api/v1/hosts', { cache: 'no-store' })).json();
      return Object.fromEntries(body.hosts.map((h) => [h.host, h.latest?.seq ?? -1]));
    });
  const before = await seqs();
  await waitFor(
    'new samples from every host',
    async () => {
      const now = await seqs();
      const r = await rows(page);
      return hosts.every((h) => now[h] > before[h] && r.find((x) => x.host === h)?.status === 'online');
    },
    60000,
    500
  );
  console.log(`dashboard ${url}: ${hosts.join(', ')} online and live`);
  code = 0;
} catch (err) {
  console.error(`dashboard check failed: ${err.message}`);
} finally {
  await browser.close();
}
process.exit(code);
