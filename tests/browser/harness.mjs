// Test harness for the browser tests: starts the real utizmon-server and utizmon-edge
// binaries on 127.0.0.1, launches Debian's Chromium through playwright-core, and cleans up.
// Every process is killed by its own PID; every wait polls with a deadline.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');

/** Where the binaries are: `UTIZMON_BIN_DIR`, else the debug build of `cargo build --workspace`. */
const BIN_DIR = process.env.UTIZMON_BIN_DIR ? path.resolve(ROOT, process.env.UTIZMON_BIN_DIR) : path.join(TARGET, 'debug');

/** Path of one of our binaries. */
export function bin(name) {
  return path.join(BIN_DIR, name);
}

const running = new Set();

function killAllSync() {
  for (const p of running) {
    try {
      process.kill(p.child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
process.on('exit', killAllSync);

/** A child process we started, with its stderr kept (last lines) for failure messages. */
export class Proc {
  constructor(name, file, args) {
    this.name = name;
    this.log = [];
    this.exited = false;
    this.exitCode = null;
    this.child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
    });
    running.add(this);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code ?? signal;
        running.delete(this);
        resolve(this.exitCode);
      });
      this.child.on('error', (err) => {
        this.log.push(`spawn error: ${err.message}`);
        this.exited = true;
        running.delete(this);
        resolve(-1);
      });
    });
    const keep = (line) => {
      this.log.push(line);
      if (this.log.length > 200) this.log.shift();
    };
    readline.createInterface({ input: this.child.stderr }).on('line', keep);
    this.lines = readline.createInterface({ input: this.child.stdout });
    this.firstLinePromise = new Promise((resolve) => {
      let first = true;
      this.lines.on('line', (line) => {
        if (first) {
          first = false;
          resolve(line);
        } else {
          keep(line);
        }
      });
      this.lines.on('close', () => resolve(null));
    });
  }

  /** First stdout line, or throws after `ms`. */
  async firstLine(ms = 10000) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name}: no stdout line within ${ms} ms\n${this.tail()}`)), ms);
    });
    try {
      const line = await Promise.race([this.firstLinePromise, timeout]);
      if (line === null) throw new Error(`${this.name} exited before printing a line\n${this.tail()}`);
      return line;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal`, then SIGKILL if it is still running after `graceMs`. */
  async stop(signal = 'SIGTERM', graceMs = 5000) {
    if (this.exited) return this.exitCode;
    try {
      process.kill(this.child.pid, signal);
    } catch {
      return this.exitCode;
    }
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(resolve, graceMs, 'late');
    });
    const res = await Promise.race([this.exitPromise, late]);
    clearTimeout(timer);
    if (res === 'late') {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
      return this.exitPromise;
    }
    return res;
  }

  tail(n = 40) {
    return this.log.slice(-n).map((l) => `  [${this.name}] ${l}`).join('\n');
  }
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `ms`. */
export async function waitFor(what, fn, ms = 15000, everyMs = 100) {
  const deadline = Date.now() + ms;
  let lastErr = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A fresh directory for a server's history database; remove it with `removeDir`. */
export function tempDir(what) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `utizmon-${what}-`));
}

/** Removes a directory made by `tempDir`. */
export function removeDir(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Starts utizmon-server on 127.0.0.1 (`port` 0 = ephemeral) with its database in `dataDir`
 * (never the user's default data directory) and returns it with `addr` taken from its
 * first stdout line `listening on ADDR`. Retries a busy fixed port briefly (a restart on
 * the same port may race the old socket's release).
 */
export async function startServer(port, dataDir, extra = []) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const args = ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...extra];
    const proc = new Proc('server', bin('utizmon-server'), args);
    try {
      const line = await proc.firstLine(10000);
      const m = /^listening on (\S+)$/.exec(line.trim());
      if (!m) throw new Error(`unexpected first line from the server: ${JSON.stringify(line)}`);
      proc.addr = m[1];
      return proc;
    } catch (e) {
      await proc.stop('SIGKILL', 1000);
      if (port === 0 || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Starts utizmon-edge streaming to `addr` every second with the given extra flags. */
export function startEdge(addr, extra, name = 'edge') {
  return new Proc(name, bin('utizmon-edge'), ['--master', `ws://${addr}/ws/edge`, '--interval', '1s', ...extra]);
}

/**
 * Launches headless Chromium with a fresh profile; returns { context, close }. `options`
 * are added to the context's (e.g. `extraHTTPHeaders`, `ignoreHTTPSErrors`).
 */
export async function launchBrowser(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'utizmon-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30000,
    ...options,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens a page that records console errors, page errors, dialogs (dismissed at once) and
 * Content-Security-Policy violations (via the securitypolicyviolation event).
 */
export async function openPage(context) {
  const page = await context.newPage();
  const seen = { console: [], errors: [], dialogs: [], csp: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') seen.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.errors.push(e.message));
  page.on('dialog', (d) => {
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.exposeFunction('__utzCsp', (v) => seen.csp.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__utzCsp(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return { page, seen };
}

/**
 * What a browser suite reports when it ends: the pages it opened (their CSP violations,
 * page errors and console errors are printed) and, if any guarded test failed, the tails
 * of its processes' logs.
 */
export class SuiteReport {
  constructor() {
    this.pages = [];
    this.failed = false;
  }

  /** Opens a recording page (see `openPage`) and keeps it for the report. */
  async page(context) {
    const opened = await openPage(context);
    this.pages.push(opened);
    return opened;
  }

  /** Runs a test body; a failure marks the suite so `print` shows the process logs. */
  async guarded(fn) {
    try {
      await fn();
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  /** Prints page problems, and `logs()` when a guarded test failed. */
  print(logs = () => '') {
    if (this.failed) console.error(`--- process logs ---\n${logs()}`);
    for (const p of this.pages) {
      if (p.seen.csp.length || p.seen.errors.length || p.seen.console.length) console.error('page problems:', JSON.stringify(p.seen));
    }
  }
}
