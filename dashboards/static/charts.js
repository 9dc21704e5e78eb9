// utizmon dashboard: the host page's uPlot charts. Given the points and the context, each
// `#chart-NAME` box gets its chart (built once, then fed new data; rebuilt when its set of
// series changes or the theme does), a message while there is nothing to draw, and its width
// from a ResizeObserver. Redraws happen at most once per animation frame.
// Each box tells what it shows in data attributes: data-points (how many points) and
// data-last-ts (the newest point's ts_ms), e.g. for the browser tests.
// uPlot (vendor/uPlot.iife.min.js, a classic script loaded before the modules) sets legend
// labels with textContent, so edge-supplied interface names stay text.

import { chartDef } from './chart-defs.js';
import { el, setText, cssVar } from './dom.js';
import { DASH, formatTime, isNum } from './format.js';
import { onThemeChange } from './theme-toggle.js';

const HEIGHT = 220;
const MIN_WIDTH = 200;
const PALETTE = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'];

/** Without a cursor on the chart, the legend shows the newest values instead of dashes. */
function showLatest(u) {
  const n = u.data && u.data[0] ? u.data[0].length : 0;
  if (n > 0) u.setLegend({ idx: n - 1 });
}

function options(def, width) {
  const axis = cssVar('--muted');
  const grid = cssVar('--border');
  const series = [{ value: (u, ts) => (isNum(ts) ? formatTime(ts * 1000) : DASH) }];
  for (const s of def.series) {
    series.push({
      label: s.label,
      stroke: s.stroke,
      fill: s.fill,
      width: s.width,
      dash: s.dash,
      value: s.value,
      points: { show: false },
      spanGaps: false,
    });
  }
  const lines = { stroke: grid, width: 1 };
  return {
    width,
    height: HEIGHT,
    hooks: {
      ready: [showLatest],
      setCursor: [
        (u) => {
          if (u.cursor.idx === null || u.cursor.idx === undefined) showLatest(u);
        },
      ],
    },
    cursor: { sync: { key: 'utz-host' }, drag: { x: false, y: false } },
    legend: { show: def.legend !== false, live: true },
    scales: { x: { time: true }, y: { range: def.yRange } },
    axes: [
      { stroke: axis, grid: lines, ticks: lines },
      { stroke: axis, grid: lines, ticks: lines, size: def.axisSize || 50, values: (u, splits) => splits.map(def.axisFmt) },
    ],
    series,
    bands: def.bands,
  };
}

/**
 * A group of charts of one host page: `names` (chart-defs.js) over the same points;
 * `state()` returns { points, loading, bucketed, cores, empty } (`empty`: what a chart
 * without points says).
 */
export class Charts {
  constructor(names, state) {
    this.state = state;
    this.plots = new Map();
    this.scheduled = false;
    this.boxes = new Map();
    for (const name of names) {
      const box = document.getElementById(`chart-${name}`);
      if (box) this.boxes.set(name, box);
    }
    const ro = new ResizeObserver((records) => {
      for (const r of records) {
        const c = this.plots.get(r.target.id.replace('chart-', ''));
        const width = Math.max(MIN_WIDTH, Math.floor(r.contentRect.width));
        if (c && c.plot.width !== width) c.plot.setSize({ width, height: HEIGHT });
      }
    });
    for (const box of this.boxes.values()) ro.observe(box);
    onThemeChange(() => this.rebuild());
  }

  /** Redraws on the next animation frame (once, however often it is called before). */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.draw());
  }

  /** Destroys every chart so the next draw builds them with the current theme's colours. */
  rebuild() {
    for (const c of this.plots.values()) c.plot.destroy();
    this.plots.clear();
    this.schedule();
  }

  draw() {
    this.scheduled = false;
    if (typeof window.uPlot !== 'function') return;
    const { points, loading, bucketed, cores, empty } = this.state();
    const ctx = { palette: PALETTE.map((n) => cssVar(n) || '#888888'), faint: cssVar('--faint'), bucketed, cores };
    for (const [name, box] of this.boxes) {
      box.dataset.points = String(points.length);
      box.dataset.lastTs = points.length ? String(points[points.length - 1].ts_ms) : '';
      if (points.length === 0) this.showMessage(name, box, loading ? 'Loading\u2026' : empty || 'No data in this range yet.');
      else this.plot(name, box, chartDef(name, points, ctx));
    }
  }

  showMessage(name, box, text) {
    const c = this.plots.get(name);
    if (c) {
      c.plot.destroy();
      this.plots.delete(name);
    }
    const msg = box.firstChild;
    if (msg && msg.classList && msg.classList.contains('chart-message')) {
      setText(msg, text);
    } else {
      box.textContent = '';
      box.appendChild(el('p', 'chart-message', text));
    }
  }

  plot(name, box, def) {
    const c = this.plots.get(name);
    if (c && c.shape === def.shape) {
      c.plot.setData(def.data);
      if (c.plot.cursor.idx === null || c.plot.cursor.idx === undefined) showLatest(c.plot);
      return;
    }
    if (c) c.plot.destroy();
    else box.textContent = ''; // The message, if any.
    const plot = new window.uPlot(options(def, Math.max(MIN_WIDTH, box.clientWidth)), def.data, box);
    this.plots.set(name, { plot, shape: def.shape });
  }
}
