// Browser test of the host page's protocol minor-1 sections (disk I/O, pressure,
// temperatures, network errors, kernel activity, tasks, file handles, inodes, top processes,
// services and containers, failed units) and the overview's disk I/O and hottest-sensor
// columns: headless Chromium against the real utizmon-server with
// - a real utizmon-edge with every collector on (what this machine has: disks, PSI,
//   processes, packet counters; this box has no sensors, cgroup v2 or systemd),
// - a scripted minor-1 edge speaking the real protocol over a real WebSocket, for the
//   sections this machine cannot produce (temperatures, cgroups, failed units),
// - a simulated edge (minor-0 data), whose host page must hide every minor-1 section.
// Each section is checked against what /api/v1/hosts/{host} says the host reports.
// A last test restarts a server on a store that already holds a host's history (and no edge
// connects): the detail charts must be filled from GET .../details as soon as the page loads.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, removeDir, startEdge, startServer, tempDir, waitFor, SuiteReport } from './harness.mjs';

const REAL = 'sections-real';
const FIXTURE = 'sections-fixture';
const SIM = 'sections-sim-0001';

let server;
let dataDir;
let realEdge;
let simEdge;
let fixture;
let browser;
const report = new SuiteReport();

function base() {
  return `http://${server.addr}`;
}

/**
 * Sample `seq` of the scripted minor-1 edge, taken at `t0 + seq` seconds: two sensors, two
 * cgroups (counters growing), one failed unit, one disk, kernel counters, file handles and
 * a filesystem with inodes.
 */
function fixtureSample(seq, t0) {
  return {
    type: 'sample',
    seq,
    ts_ms: t0 + seq * 1000,
    cpu: { usage_ratio: 0.25, cores: [0.25], seconds: { user: seq, nice: 0, system: 0, idle: 10 * seq, iowait: 0, irq: 0, softirq: 0, steal: 0 } },
    memory: { total_bytes: 4e9, used_bytes: 1e9, available_bytes: 3e9, swap_total_bytes: 0, swap_used_bytes: 0 },
    load: { load1: 0.5, load5: 0.4, load15: 0.3 },
    uptime_seconds: 1000 + seq,
    filesystems: [{ mountpoint: '/', fstype: 'ext4', size_bytes: 1e10, avail_bytes: 5e9, device: '/dev/vda1', files: 1000, files_free: 750 }],
    networks: [{ device: 'eth0', rx_bytes: 1000 * seq, tx_bytes: 500 * seq, rx_packets: 10 * seq, tx_packets: 5 * seq, rx_errors: seq, rx_dropped: 2 * seq }],
    disks: [{ device: 'vdb', reads: seq, reads_merged: 0, read_bytes: 4096 * seq, read_seconds: 0, writes: seq, writes_merged: 0, written_bytes: 8192 * seq, write_seconds: 0, io_now: 0, io_seconds: 0.1 * seq, io_weighted_seconds: 0 }],
    temperatures: [
      { kind: 'hwmon', chip: 'platform_coretemp_0', sensor: 'temp1', label: 'Package id 0', celsius: 61.5 },
      { kind: 'thermal_zone', chip: 'acpitz', sensor: '0', celsius: 40 + (seq % 3) },
    ],
    failed_units: ['backup.service'],
    cgroups: [
      { name: 'system.slice/postgresql.service', cpu_seconds: 0.5 * seq, memory_bytes: 400e6, io_read_bytes: 1024 * seq, io_written_bytes: 4096 * seq },
      { name: 'system.slice/nginx.service', cpu_seconds: 0.1 * seq, memory_bytes: 20e6, io_read_bytes: 0, io_written_bytes: 0 },
    ],
    kernel: { context_switches: 3000 * seq, interrupts: 1000 * seq, forks: seq, procs_running: 2, procs_blocked: 1 },
    file_handles: { allocated: 2000 + seq, maximum: 100000 },
  };
}

function fixtureHello(host) {
  return {
    type: 'hello',
    version: 1,
    minor: 1,
    run_id: `fixture${Date.now()}`,
    interval_ms: 1000,
    host: { host_name: host, os_name: 'Test OS', os_version: '1', kernel: '6.1.0', arch: 'x86_64', cpu_model: 'Test CPU', cores: 1, agent_version: 'script', boot_time: 1700000000 },
  };
}

/**
 * An edge that speaks protocol minor 1 from a script: a hello, then one `fixtureSample` a
 * second. Acks are read and ignored. `stop()` closes it.
 */
function scriptedEdge(addr, host) {
  const ws = new WebSocket(`ws://${addr}/ws/edge`);
  let seq = 0;
  let timer = null;
  // The edge clock advances exactly a second per sample, so the server's rates are exact.
  const t0 = Date.now();
  const errors = [];
  const sample = () => fixtureSample(++seq, t0);
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify(fixtureHello(host)));
    ws.send(JSON.stringify(sample()));
    timer = setInterval(() => ws.send(JSON.stringify(sample())), 1000);
  });
  ws.addEventListener('error', (e) => errors.push(String(e.message || e.type)));
  ws.addEventListener('close', (e) => {
    clearInterval(timer);
    if (e.code !== 1000 && e.code !== 1005) errors.push(`closed ${e.code} ${e.reason}`);
  });
  return {
    errors,
    stop() {
      clearInterval(timer);
      ws.close(1000);
    },
  };
}

/**
 * Sends `n` fixture samples of the last `n` seconds at once, waits until the server
 * acknowledged (stored) the last one, and closes: a host with history and no edge.
 */
function pastHistory(addr, host, n) {
  const ws = new WebSocket(`ws://${addr}/ws/edge`);
  const t0 = Date.now() - (n + 1) * 1000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ack for the history')), 20000);
    ws.addEventListener('open', () => {
      ws.send(JSON.stringify(fixtureHello(host)));
      for (let seq = 1; seq <= n; seq++) ws.send(JSON.stringify(fixtureSample(seq, t0)));
    });
    ws.addEventListener('message', (e) => {
      const frame = JSON.parse(String(e.data));
      if (frame.type === 'ack' && frame.seq === n) {
        clearTimeout(timer);
        ws.close(1000);
        resolve();
      }
    });
    ws.addEventListener('close', (e) => {
      if (e.code !== 1000 && e.code !== 1005) reject(new Error(`closed ${e.code} ${e.reason}`));
    });
  });
}

/** A new tab on `path` of the server, checked for CSP violations and errors at the end. */
async function open(path) {
  const opened = await report.page(browser.context);
  await opened.page.goto(`${base()}${path}`);
  return opened;
}

async function hostJson(host) {
  const res = await fetch(`${base()}/api/v1/hosts/${encodeURIComponent(host)}`, { headers: { Accept: 'application/json' } });
  return res.ok ? res.json() : null;
}

/** Per minor-1 section of the host page: visible?, and what it shows (data-* and text). */
async function sectionsOf(page) {
  return page.evaluate(() => {
    const out = {};
    for (const sec of document.querySelectorAll('[data-section]')) {
      const name = sec.dataset.section;
      const chart = sec.querySelector('.chart');
      const body = sec.querySelector('tbody');
      const canvas = chart && chart.querySelector('canvas');
      const entry = out[name] || { visible: false, points: 0, drawn: false, rows: [], legend: [], text: '' };
      entry.visible = entry.visible || (!sec.hidden && sec.getBoundingClientRect().height > 0);
      if (chart) {
        entry.points = Number(chart.dataset.points || 0);
        entry.drawn = !!canvas && canvas.width > 0 && canvas.getBoundingClientRect().width > 100;
        entry.legend = Array.from(chart.querySelectorAll('.u-legend .u-series th')).map((th) => th.textContent.trim());
      }
      if (body) {
        entry.rows.push(...Array.from(body.rows, (tr) => Array.from(tr.cells, (td) => td.textContent)));
        entry.dataRows = (entry.dataRows || 0) + Number(body.dataset.rows || 0);
      }
      if (!chart && !body) entry.text = sec.querySelector('p').textContent;
      out[name] = entry;
    }
    return out;
  });
}

/** What the overview row of `host` shows in the disk I/O and temperature columns. */
async function overviewCells(page, host) {
  return page.evaluate((h) => {
    const tr = Array.from(document.querySelectorAll('#fleet-body tr')).find((r) => r.dataset.host === h);
    if (!tr) return null;
    return {
      diskio: tr.querySelector('td.c-diskio').textContent,
      diskTitle: tr.querySelector('td.c-diskio').title,
      temp: tr.querySelector('td.c-temp .val').textContent,
      sensor: tr.querySelector('td.c-temp .sub').textContent,
    };
  }, host);
}

const CHARTS = ['disk', 'pressure', 'temp', 'neterr', 'kernel', 'tasks', 'filefd', 'inodes'];

describe('host page sections of protocol minor 1 in headless Chromium', { timeout: 180000 }, () => {
  before(async () => {
    dataDir = tempDir('browser-sections');
    server = await startServer(0, dataDir, ['--offline-after', '3s']);
    realEdge = startEdge(server.addr, ['--host-name', REAL], 'edge-real');
    simEdge = startEdge(server.addr, ['--simulate', '1', '--simulate-prefix', 'sections-sim'], 'edge-sim');
    fixture = scriptedEdge(server.addr, FIXTURE);
    browser = await launchBrowser();
  });

  after(async () => {
    report.print();
    if (fixture) fixture.stop();
    if (browser) await browser.close();
    await Promise.all([realEdge, simEdge].filter(Boolean).map((p) => p.stop('SIGTERM', 3000)));
    if (server) await server.stop('SIGTERM', 5000);
    removeDir(dataDir);
  });

  test('the real edge: every section this machine reports is drawn with data, the rest hidden', async () => {
    const opened = await open(`/hosts/${REAL}`);
    const { page } = opened;
    // Rates need two samples, process CPU shares two scans (5 s apart).
    const view = await waitFor('two samples of the real edge', async () => {
      const v = await hostJson(REAL);
      return v && v.rates && v.rates.disks && v.latest.top_processes ? v : null;
    }, 30000);
    const l = view.latest;
    // What this machine has, read independently of the edge.
    if (fs.existsSync('/proc/pressure/cpu')) assert.ok(l.pressure && l.pressure.cpu, 'PSI is on this kernel, so the edge sends it');
    assert.ok(l.disks.length > 0, 'a whole disk in /proc/diskstats');
    assert.ok(l.networks.some((n) => n.rx_packets > 0), 'packet counters');
    assert.ok(l.kernel && l.file_handles, '/proc/stat and /proc/sys/fs/file-nr');
    const expected = {
      disk: l.disks.length > 0,
      pressure: !!l.pressure,
      temp: (l.temperatures || []).length > 0,
      neterr: true,
      kernel: !!l.kernel,
      tasks: !!l.kernel,
      filefd: !!l.file_handles,
      inodes: l.filesystems.some((f) => f.files > 0),
      procs: l.top_processes.length > 0,
      cgroups: (l.cgroups || []).length > 0,
      units: Array.isArray(l.failed_units),
    };
    const s = await waitFor('each reported chart with two live points', async () => {
      const got = await sectionsOf(page);
      const ready = CHARTS.every((c) => !expected[c] || (got[c].visible && got[c].points >= 2 && got[c].drawn));
      return ready ? got : null;
    }, 20000);
    for (const [name, want] of Object.entries(expected)) assert.equal(s[name].visible, want, `section ${name}`);
    // Disk I/O: one read and one write series per device the API lists.
    for (const d of view.rates.disks) {
      assert.ok(s.disk.legend.includes(`${d.device} read`), JSON.stringify(s.disk.legend));
      assert.ok(s.disk.legend.includes(`${d.device} write`));
    }
    if (expected.pressure) assert.ok(s.pressure.legend.includes('cpu some'), JSON.stringify(s.pressure.legend));
    assert.ok(s.neterr.legend.some((x) => / errors$/.test(x)), JSON.stringify(s.neterr.legend));
    assert.deepEqual(s.kernel.legend.slice(1), ['context switches', 'interrupts']);
    assert.deepEqual(s.tasks.legend.slice(1), ['running', 'blocked']);
    assert.deepEqual(s.filefd.legend.slice(1), ['open', 'maximum']);
    // Top processes: by CPU and by memory, up to ten rows each, pid/name/user/CPU/RSS.
    assert.ok(s.procs.dataRows >= 2 && s.procs.dataRows <= 20, String(s.procs.dataRows));
    for (const row of s.procs.rows) {
      assert.match(row[0], /^\d+$/, 'pid');
      assert.ok(row[1].length > 0, 'name');
      assert.match(row[3], /^\d+\.\d%$/, 'CPU share');
      assert.match(row[4], /\d\u00a0(B|KiB|MiB|GiB)$/, 'RSS');
    }
    // The edge rescans every 5 s: compare the table with the API at about the same moment.
    await waitFor('every row a process the edge sent', async () => {
      const pids = new Set((await hostJson(REAL)).latest.top_processes.map((p) => String(p.pid)));
      return (await sectionsOf(page)).procs.rows.every((row) => pids.has(row[0]));
    }, 15000);
    assert.deepEqual(opened.seen.csp, []);
    assert.deepEqual(opened.seen.errors, []);
    await page.close();
  });

  test('a scripted minor-1 edge: temperatures, containers and failed units', async () => {
    const opened = await open(`/hosts/${FIXTURE}`);
    const { page } = opened;
    const s = await waitFor('every section with data', async () => {
      const got = await sectionsOf(page);
      const charts = ['disk', 'temp', 'neterr', 'kernel', 'tasks', 'filefd', 'inodes'].every((c) => got[c].visible && got[c].points >= 2 && got[c].drawn);
      // Cgroup rates need two distinct readings after the first.
      const cpu = got.cgroups.rows.length > 0 && got.cgroups.rows[0][1] !== '\u2013';
      return charts && cpu ? got : null;
    }, 30000);
    assert.deepEqual(s.temp.legend.slice(1), ['acpitz 0', 'Package id 0'], 'sensor labels, else chip and sensor');
    assert.deepEqual(
      s.cgroups.rows.map((r) => r[0]),
      ['system.slice/postgresql.service', 'system.slice/nginx.service'],
      'heaviest memory first'
    );
    // 0.5 CPU seconds per second on a 1-core host: 50 %; 4 KiB written per second.
    assert.equal(s.cgroups.rows[0][1], '50.0%');
    assert.equal(s.cgroups.rows[0][4], '4.0\u00a0KiB/s');
    assert.equal(s.pressure.visible, false, 'no pressure sent: hidden');
    assert.equal(s.units.visible, true);
    assert.equal(s.units.text, 'backup.service');
    assert.deepEqual(s.neterr.legend.slice(1), ['eth0 errors', 'eth0 drops']);
    assert.deepEqual(s.inodes.legend.slice(1), ['/']);
    assert.deepEqual(fixture.errors, []);
    assert.deepEqual(opened.seen.csp, []);
    await page.close();
  });

  test('a host without minor-1 sections hides all of them', async () => {
    const opened = await open(`/hosts/${SIM}`);
    const { page } = opened;
    await waitFor('the simulated host online', async () => (await page.textContent('#host-status-text')) === 'online', 15000);
    await waitFor('history charts drawn', async () => Number(await page.getAttribute('#chart-cpu', 'data-points')) >= 2, 15000);
    const s = await sectionsOf(page);
    for (const [name, entry] of Object.entries(s)) assert.equal(entry.visible, false, `section ${name} hidden`);
    await page.close();
  });

  test('the overview shows disk I/O and the hottest sensor', async () => {
    const opened = await open(`/`);
    const { page } = opened;
    const real = await waitFor('disk I/O of the real host', async () => {
      const c = await overviewCells(page, REAL);
      return c && /\/s$/.test(c.diskio) ? c : null;
    }, 20000);
    assert.match(real.diskTitle, /^read .+\/s, written .+\/s$/);
    const fx = await waitFor('the fixture host\'s hottest sensor', async () => {
      const c = await overviewCells(page, FIXTURE);
      return c && c.temp !== '\u2013' ? c : null;
    }, 20000);
    assert.equal(fx.temp, '61.5\u00a0\u00b0C');
    assert.equal(fx.sensor, 'Package id 0');
    assert.equal(fx.diskio, '12.0\u00a0KiB/s', '4 KiB read + 8 KiB written per second');
    const sim = await overviewCells(page, SIM);
    assert.equal(sim.temp, '\u2013');
    assert.equal(sim.diskio, '\u2013');
    // Sorting by the new columns: hosts without the value go last.
    await page.click('th[data-key="temp"] .sort');
    const order = await page.evaluate(() => Array.from(document.querySelectorAll('#fleet-body tr'), (tr) => tr.dataset.host));
    assert.equal(order[0], FIXTURE);
    assert.deepEqual(opened.seen.csp, []);
    await page.close();
  });
});

describe('detail charts filled from history after a restart', { timeout: 120000 }, () => {
  const HOST = 'sections-history';
  const N = 40;
  let restarted;
  let dir;
  let chromium;

  before(async () => {
    dir = tempDir('browser-sections-history');
    const first = await startServer(0, dir, []);
    await pastHistory(first.addr, HOST, N);
    await first.stop('SIGTERM', 5000);
    // The same store, and no edge: only the history can fill the charts.
    restarted = await startServer(0, dir, []);
    chromium = await launchBrowser();
  });

  after(async () => {
    if (chromium) await chromium.close();
    if (restarted) await restarted.stop('SIGTERM', 5000);
    removeDir(dir);
  });

  test('every detail chart has its stored points right after the page loads', async () => {
    const opened = await report.page(chromium.context);
    const { page } = opened;
    await page.goto(`http://${restarted.addr}/hosts/${HOST}`);
    const charts = ['disk', 'temp', 'neterr', 'kernel', 'tasks', 'filefd', 'inodes'];
    const s = await waitFor('the detail charts drawn from history', async () => {
      const got = await sectionsOf(page);
      return charts.every((c) => got[c].visible && got[c].points >= N - 5 && got[c].drawn) ? got : null;
    }, 20000);
    assert.equal(await page.textContent('#host-status-text'), 'offline', 'no edge: nothing live');
    // The same points as the API serves, and the rates the fixture's counters give.
    const res = await fetch(`http://${restarted.addr}/api/v1/hosts/${HOST}/details?from=${Date.now() - 300000}&to=${Date.now()}`);
    const body = await res.json();
    assert.equal(s.kernel.points, body.points.length);
    const last = body.points[body.points.length - 1];
    assert.equal(last.kernel.context_switches_per_second, 3000);
    assert.equal(last.disks[0].read_bytes_per_second, 4096);
    assert.deepEqual(s.temp.legend.slice(1), ['acpitz 0', 'Package id 0']);
    assert.deepEqual(opened.seen.csp, []);
    assert.deepEqual(opened.seen.errors, []);
    await page.close();
  });
});
