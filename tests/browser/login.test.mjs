// The login page in headless Chromium: a server with a users file (made by the real
// `utizmon-server user add`) and one real edge on 127.0.0.1. A wrong password shows an
// error and no session; the right one reaches the overview with live rows; logging out
// returns to /login and the overview asks for a login again.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { bin, launchBrowser, openPage, removeDir, startEdge, startServer, tempDir, waitFor } from './harness.mjs';

const USER = 'alice';
const PASSWORD = 'correct horse battery';
const HOST = 'login-edge';

let server;
let edge;
let dataDir;
let browser;

function base() {
  return `http://${server.addr}`;
}

/** Adds a user with the server's own subcommand, the password on stdin. */
function addUser(usersFile, name, password) {
  const res = spawnSync(bin('utizmon-server'), ['user', 'add', name, '--users-file', usersFile], {
    input: `${password}\n`,
    encoding: 'utf8',
    timeout: 20000,
  });
  assert.equal(res.status, 0, `user add failed: ${res.stderr}`);
}

describe('login page in headless Chromium', { timeout: 120000 }, () => {
  before(async () => {
    dataDir = tempDir('login-test');
    const usersFile = path.join(dataDir, 'users');
    addUser(usersFile, USER, PASSWORD);
    server = await startServer(0, dataDir, ['--users-file', usersFile]);
    edge = startEdge(server.addr, ['--host-name', HOST], 'edge-login');
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    await edge?.stop('SIGTERM', 3000);
    await server?.stop('SIGTERM', 5000);
    removeDir(dataDir);
  });

  test('wrong password shows an error, the right one reaches the overview, logout returns to /login', async () => {
    try {
      const { page, seen } = await openPage(browser.context);

      // Not logged in: the overview sends the browser to the login page.
      await page.goto(`${base()}/`);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.equal(await page.title(), 'Log in · utizmon');
      assert.equal(await page.isVisible('.login-error'), false);

      // A wrong password: the page comes back with an error and no session cookie.
      await page.fill('#login-user', USER);
      await page.fill('#login-password', 'not the password');
      const [wrong] = await Promise.all([page.waitForNavigation(), page.click('.login-submit')]);
      assert.equal(wrong.status(), 401);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.match(await page.textContent('.login-error'), /Wrong user name or password/);
      assert.deepEqual(await browser.context.cookies(base()), []);

      // The right password: straight to the overview, which streams the edge's host.
      await page.fill('#login-user', USER);
      await page.fill('#login-password', PASSWORD);
      await Promise.all([page.waitForNavigation(), page.click('.login-submit')]);
      assert.equal(new URL(page.url()).pathname, '/');
      assert.equal(await page.title(), 'Fleet · utizmon');
      const [cookie] = await browser.context.cookies(base());
      assert.equal(cookie.name, 'utizmon_session');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      await waitFor(
        'the edge host as a row of the live overview',
        () => page.evaluate((host) => !!document.querySelector(`#fleet-body tr[data-host="${host}"]`), HOST),
        20000
      );

      // Log out: back to the login page, the cookie is gone and / asks for a login again.
      await Promise.all([page.waitForNavigation(), page.click('.logout-form button')]);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.deepEqual(await browser.context.cookies(base()), []);
      await page.goto(`${base()}/hosts/${HOST}`);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.equal(new URL(page.url()).searchParams.get('next'), `/hosts/${HOST}`);

      assert.deepEqual(seen.errors, []);
      assert.deepEqual(seen.csp, []);
      assert.deepEqual(seen.dialogs, []);
      await page.close();
    } catch (e) {
      // The processes' last log lines say why.
      console.error([server, edge].map((p) => p.tail(25)).join('\n'));
      throw e;
    }
  });
});
