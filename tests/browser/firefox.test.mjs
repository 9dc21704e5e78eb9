// Firefox smoke test of the dashboard over WebDriver BiDi, which Firefox speaks natively
// (playwright-core needs its own patched Firefox build, which we cannot download).
// Runs when /usr/bin/firefox-esr (Debian package firefox-esr) is installed, skips otherwise.
// Needs a global WebSocket: Node 20 with --experimental-websocket (make browser passes it).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';

import { removeDir, startEdge, startServer, tempDir, waitFor } from './harness.mjs';

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
const PREFIX = '<img src=x onerror=alert(1)>"\\';
const HOSTS = [1, 2, 3].map((i) => `${PREFIX}-${String(i).padStart(4, '0')}`);
const skip = !fs.existsSync(FIREFOX)
  ? `${FIREFOX} is not installed`
  : typeof WebSocket !== 'function'
    ? 'no global WebSocket (run node with --experimental-websocket)'
    : false;

/** A minimal WebDriver BiDi client: commands with ids, events collected in a list. */
class Bidi {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.next = 0;
    this.pending = new Map();
    this.events = [];
    this.ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        this.pending.get(msg.id)(msg);
        this.pending.delete(msg.id);
      } else if (msg.type === 'event') {
        this.events.push(msg);
      }
    };
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error('cannot connect to Firefox'));
    });
  }

  async send(method, params = {}) {
    const id = ++this.next;
    const msg = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no answer within 30 s`)), 30000);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
    if (msg.type === 'error') throw new Error(`${method}: ${msg.error}: ${msg.message}`);
    return msg.result;
  }
}

describe('dashboard in Firefox', { skip, timeout: 120000 }, () => {
  let server;
  let dataDir;
  let edge;
  let firefox;
  let firefoxExited;
  let profile;
  let bidi;
  let context;

  const evaluate = async (expression) => {
    const res = await bidi.send('script.evaluate', { expression, target: { context }, awaitPromise: true });
    if (res.type === 'exception') throw new Error(`${expression}: ${res.exceptionDetails.text}`);
    return res.result.value;
  };
  const navigate = (url) => bidi.send('browsingContext.navigate', { context, url, wait: 'complete' });

  before(async () => {
    dataDir = tempDir('firefox-test');
    server = await startServer(0, dataDir);
    edge = startEdge(server.addr, ['--simulate', String(HOSTS.length), '--simulate-prefix', PREFIX], 'edge-sim');
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'utizmon-firefox-'));
    firefox = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    firefoxExited = new Promise((resolve) => firefox.once('exit', resolve));
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Firefox did not start its BiDi server within 60 s')), 60000);
      readline.createInterface({ input: firefox.stderr }).on('line', (line) => {
        const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(`${m[1].replace(/\/$/, '')}/session`);
        }
      });
      firefox.on('exit', () => reject(new Error('Firefox exited at start')));
    });
    bidi = new Bidi(url);
    await bidi.open();
    await bidi.send('session.new', { capabilities: {} });
    await bidi.send('session.subscribe', { events: ['log.entryAdded', 'browsingContext.userPromptOpened'] });
    context = (await bidi.send('browsingContext.getTree', {})).contexts[0].context;
    await bidi.send('browsingContext.setViewport', { context, viewport: { width: 1400, height: 900 } });
    await bidi.send('script.addPreloadScript', {
      functionDeclaration: `() => { window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective)); }`,
    });
  });

  after(async () => {
    if (bidi) await bidi.send('browser.close', {}).catch(() => {});
    if (firefox) {
      // browser.close normally ends it; otherwise it is killed by PID after 5 s.
      const late = setTimeout(() => {
        if (firefox.exitCode === null && firefox.signalCode === null) firefox.kill('SIGKILL');
      }, 5000);
      await firefoxExited;
      clearTimeout(late);
    }
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    if (edge) await edge.stop('SIGTERM', 3000);
    if (server) await server.stop('SIGTERM', 5000);
    removeDir(dataDir);
  });

  test('overview lists hosts as text, sorts, and stays inert', async () => {
    await navigate(`http://${server.addr}/`);
    await waitFor('rows in Firefox', async () => (await evaluate("document.querySelectorAll('#fleet-body tr').length")) === HOSTS.length, 20000);
    const names = await evaluate("JSON.stringify(Array.from(document.querySelectorAll('#fleet-body td.host a.host-link')).map((a) => a.textContent))");
    assert.deepEqual(JSON.parse(names).sort(), HOSTS.slice().sort());
    assert.equal(await evaluate("document.querySelectorAll('main img').length"), 0);
    assert.equal(await evaluate('document.title'), 'Fleet · utizmon');
    await evaluate(`document.querySelector('th[data-key="cpu"] button').click()`);
    await waitFor('aria-sort in Firefox', async () => (await evaluate(`document.querySelector('th[data-key="cpu"]').getAttribute('aria-sort')`)) === 'descending', 5000);
    assert.deepEqual(await evaluate('JSON.stringify(window.__csp)'), '[]');
  });

  test('host page draws charts', async () => {
    await navigate(`http://${server.addr}/hosts/${encodeURIComponent(HOSTS[0])}`);
    assert.equal(await evaluate("document.getElementById('host-name').textContent"), HOSTS[0]);
    await waitFor(
      'charts in Firefox',
      () => evaluate("Number(document.getElementById('chart-cpu').dataset.points || 0) >= 2 && document.querySelector('#chart-cpu canvas')?.width > 0"),
      20000
    );
    assert.deepEqual(await evaluate('JSON.stringify(window.__csp)'), '[]');
  });

  test('no dialogs, no errors in the console', () => {
    const prompts = bidi.events.filter((e) => e.method === 'browsingContext.userPromptOpened');
    assert.deepEqual(prompts, []);
    const errors = bidi.events
      .filter((e) => e.method === 'log.entryAdded' && e.params.level === 'error')
      .map((e) => e.params.text);
    assert.deepEqual(errors, []);
  });
});
