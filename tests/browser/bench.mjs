// Dashboard benchmark (not part of `make test`; scripts/bench.sh may run it):
// the real server with N simulated edges (default 500) at 1 Hz, one headless Chromium
// on the overview page and one on a host page. Prints, over a measuring window:
//   - browser main-thread CPU: CDP Performance.getMetrics TaskDuration delta / wall time
//   - frame time: requestAnimationFrame intervals (p50, p95, max) and long tasks (> 50 ms)
//   - WebSocket bytes/s and messages/s received per client, counted by the page's own
//     LiveSocket and shown on #conn-banner as data-bytes and data-messages (text length
//     of each frame; the JSON is ASCII unless host names are not).
//     CDP's Network domain would count the same but adds its own main-thread work.
// Usage: node bench.mjs [--hosts 500] [--seconds 30] [--json] [--attach HOST:PORT --prefix NAME]
// Binaries: UTIZMON_BIN_DIR (e.g. target/release), else target/debug.

import { launchBrowser, removeDir, startEdge, startServer, tempDir, waitFor } from './harness.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}
const HOSTS = Number(arg('hosts', 500));
const SECONDS = Number(arg('seconds', 30));
const JSON_OUT = process.argv.includes('--json');

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function measure(context, url, ready) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await page.goto(url);
  await waitFor('the page to be ready', () => page.evaluate(ready), 60000, 250);
  // Let the first snapshot settle before measuring.
  await page.waitForTimeout(2000);
  await page.evaluate(() => {
    window.__frames = [];
    window.__longTasks = [];
    let last = performance.now();
    const loop = (t) => {
      window.__frames.push(t - last);
      last = t;
      if (window.__frames.length < 100000) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longTasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: false });
    } catch {
      // longtask is Chromium-only; fine to miss.
    }
  });
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const wsCount = () =>
    page.evaluate(() => {
      const d = document.getElementById('conn-banner').dataset;
      return { bytes: Number(d.bytes), messages: Number(d.messages) };
    });
  const m0 = await metrics();
  const w0 = await wsCount();
  const t0 = Date.now();
  await page.waitForTimeout(SECONDS * 1000);
  const m1 = await metrics();
  const w1 = await wsCount();
  const bytes = w1.bytes - w0.bytes;
  const messages = w1.messages - w0.messages;
  const wall = (Date.now() - t0) / 1000;
  const { frames, longTasks } = await page.evaluate(() => ({ frames: window.__frames.slice(1), longTasks: window.__longTasks }));
  const sorted = frames.slice().sort((a, b) => a - b);
  await page.close();
  const d = (k) => (m1[k] || 0) - (m0[k] || 0);
  return {
    url,
    seconds: wall,
    cpu_percent: (100 * d('TaskDuration')) / wall,
    script_percent: (100 * d('ScriptDuration')) / wall,
    layout_style_percent: (100 * (d('LayoutDuration') + d('RecalcStyleDuration'))) / wall,
    frames: frames.length,
    frame_p50_ms: quantile(sorted, 0.5),
    frame_p95_ms: quantile(sorted, 0.95),
    frame_max_ms: sorted.length ? sorted[sorted.length - 1] : NaN,
    long_tasks: longTasks.length,
    long_task_max_ms: longTasks.length ? Math.max(...longTasks) : 0,
    ws_bytes_per_second: bytes / wall,
    ws_messages_per_second: messages / wall,
  };
}

// --attach ADDR measures an already running server (with its own edges) instead.
const ATTACH = arg('attach', null);
const PREFIX = arg('prefix', 'bench');
const dataDir = ATTACH ? null : tempDir('bench');
const server = ATTACH ? null : await startServer(0, dataDir);
const edge = ATTACH ? null : startEdge(server.addr, ['--simulate', String(HOSTS), '--simulate-prefix', PREFIX], 'edge-sim');
const browser = await launchBrowser();
let results;
try {
  const base = `http://${ATTACH || server.addr}`;
  await waitFor(
    `${HOSTS} hosts online`,
    async () => {
      const res = await fetch(`${base}/api/v1/hosts`);
      const body = await res.json();
      return body.hosts.filter((h) => h.status === 'online').length >= HOSTS;
    },
    120000,
    500
  );
  const overview = await measure(
    browser.context,
    `${base}/`,
    `document.querySelectorAll('#fleet-body tr').length >= ${HOSTS}`
  );
  const host = await measure(
    browser.context,
    `${base}/hosts/${PREFIX}-0001`,
    "!!document.querySelector('#chart-cpu canvas')"
  );
  results = { hosts: HOSTS, overview, host };
} finally {
  await browser.close();
  if (edge) await edge.stop('SIGTERM', 5000);
  if (server) await server.stop('SIGTERM', 5000);
  removeDir(dataDir);
}

if (JSON_OUT) {
  console.log(JSON.stringify(results, null, 2));
} else {
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  console.log(`dashboard with ${HOSTS} simulated hosts at 1 Hz, ${SECONDS} s per page`);
  console.log('| page | browser CPU % | script % | layout+style % | frame p50 / p95 / max ms | long tasks | WS KiB/s | WS msg/s |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, r] of [['overview', results.overview], ['host detail', results.host]]) {
    console.log(
      `| ${name} | ${f(r.cpu_percent)} | ${f(r.script_percent)} | ${f(r.layout_style_percent)} | ${f(r.frame_p50_ms)} / ${f(r.frame_p95_ms)} / ${f(r.frame_max_ms)} | ${r.long_tasks} | ${f(r.ws_bytes_per_second / 1024)} | ${f(r.ws_messages_per_second)} |`
    );
  }
}
