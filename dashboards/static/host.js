// utizmon host detail: stat cards, uPlot charts, filesystems and host info for one host.
// History for the chosen range comes from GET /api/v1/hosts/{host}/samples; live points are
// appended from /ws/dashboard?host=NAME (a full HostView per change). On every snapshot
// (first connect or reconnect) the history is loaded again, so a reconnect resynchronises.
// Edge-provided strings go to the DOM via textContent; uPlot sets legend labels the same way.
'use strict';

(function () {
  var U = window.Utz;
  var CHART_HEIGHT = 220;
  var MAX_CORE_SERIES = 64;
  var MAX_INTERFACES = 8;

  var host = '';
  var rangeMs = 300000;
  var stepMs = 0;
  var intervalMs = 1000;
  /** History points, oldest first, in the api.md HistoryPoint shape (plus live points). */
  var points = [];
  var loading = false;
  var pendingLive = [];
  var loadGen = 0;
  var clockOffset = 0;
  var view = null;
  var charts = {};
  var redrawScheduled = false;
  var fsRows = new Map();

  function $(id) {
    return document.getElementById(id);
  }

  function nowServer() {
    return Date.now() + clockOffset;
  }

  // ---------- colours ----------

  function palette() {
    var names = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'];
    return names.map(function (n) {
      return U.cssVar(n) || '#888888';
    });
  }

  function withAlpha(color, a) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
    if (!m) return color;
    return 'rgba(' + parseInt(m[1], 16) + ',' + parseInt(m[2], 16) + ',' + parseInt(m[3], 16) + ',' + a + ')';
  }

  // ---------- chart definitions ----------
  // Each definition turns `points` into uPlot series + columnar data. `shape` is a string
  // that changes when the set of series changes (cores, interfaces): then the chart is rebuilt.

  function pctValue(u, v) {
    return U.isNum(v) ? v.toFixed(1) + '%' : U.DASH;
  }

  function bytesValue(u, v) {
    return U.formatBytes(v);
  }

  function rateValue(u, v) {
    return U.formatRate(v);
  }

  function numValue(u, v) {
    return U.formatNumber(v, 2);
  }

  function tsColumn() {
    var xs = new Array(points.length);
    for (var i = 0; i < points.length; i++) xs[i] = points[i].ts_ms / 1000;
    return xs;
  }

  function column(fn) {
    var out = new Array(points.length);
    for (var i = 0; i < points.length; i++) {
      var v = fn(points[i]);
      out[i] = U.isNum(v) ? v : null;
    }
    return out;
  }

  var DEFS = {
    cpu: function (pal) {
      var pct = function (field) {
        return column(function (p) {
          return U.isNum(p[field]) ? p[field] * 100 : null;
        });
      };
      var def = {
        shape: 'cpu',
        yRange: [0, 100],
        axisFmt: function (v) {
          return v + '%';
        },
        series: [{ label: 'CPU', stroke: pal[0], fill: withAlpha(pal[0], 0.15), width: 1.5, value: pctValue }],
        data: [tsColumn(), pct('cpu_ratio')],
      };
      // Bucketed ranges average each bucket; a min..max band shows the spikes it hides.
      if (stepMs > intervalMs) {
        def.shape = 'cpu:band';
        def.series.push({ label: 'max', stroke: withAlpha(pal[0], 0.45), width: 1, value: pctValue });
        def.series.push({ label: 'min', stroke: withAlpha(pal[0], 0.45), width: 1, value: pctValue });
        def.data.push(pct('cpu_ratio_max'), pct('cpu_ratio_min'));
        def.bands = [{ series: [2, 3], fill: withAlpha(pal[0], 0.12) }];
        def.series[0].fill = undefined;
      }
      return def;
    },
    cores: function (pal) {
      var n = 0;
      for (var i = 0; i < points.length; i++) {
        if (Array.isArray(points[i].cores)) n = Math.max(n, points[i].cores.length);
      }
      n = Math.min(n, MAX_CORE_SERIES);
      var series = [];
      var data = [tsColumn()];
      for (var c = 0; c < n; c++) {
        series.push({ label: 'core ' + c, stroke: pal[c % pal.length], width: 1, value: pctValue });
        data.push(
          column(
            (function (idx) {
              return function (p) {
                return Array.isArray(p.cores) && U.isNum(p.cores[idx]) ? p.cores[idx] * 100 : null;
              };
            })(c)
          )
        );
      }
      return {
        shape: 'cores:' + n,
        yRange: [0, 100],
        legend: n <= 16,
        axisFmt: function (v) {
          return v + '%';
        },
        series: series,
        data: data,
      };
    },
    mem: function (pal) {
      var total = 0;
      for (var i = 0; i < points.length; i++) {
        total = Math.max(total, points[i].mem_total_bytes || 0, points[i].swap_total_bytes || 0);
      }
      return {
        shape: 'mem',
        yRange: function (u, min, max) {
          return [0, Math.max(total, max || 0, 1)];
        },
        axisFmt: U.formatBytes,
        axisSize: 72,
        series: [
          { label: 'memory used', stroke: pal[0], fill: withAlpha(pal[0], 0.15), width: 1.5, value: bytesValue },
          { label: 'swap used', stroke: pal[2], fill: withAlpha(pal[2], 0.1), width: 1.5, value: bytesValue },
        ],
        data: [
          tsColumn(),
          column(function (p) {
            return p.mem_used_bytes;
          }),
          column(function (p) {
            return p.swap_used_bytes;
          }),
        ],
      };
    },
    load: function (pal) {
      var cores = view && view.info && view.info.cores ? view.info.cores : null;
      var series = [
        { label: 'load 1', stroke: pal[0], width: 1.5, value: numValue },
        { label: 'load 5', stroke: pal[1], width: 1.5, value: numValue },
        { label: 'load 15', stroke: pal[3], width: 1.5, value: numValue },
      ];
      var data = [
        tsColumn(),
        column(function (p) {
          return p.load1;
        }),
        column(function (p) {
          return p.load5;
        }),
        column(function (p) {
          return p.load15;
        }),
      ];
      if (cores) {
        series.push({ label: 'cores', stroke: U.cssVar('--faint'), width: 1, dash: [4, 4], value: numValue });
        data.push(
          column(function () {
            return cores;
          })
        );
      }
      return {
        shape: 'load:' + (cores ? 1 : 0),
        yRange: function (u, min, max) {
          return [0, Math.max(1, (max || 0) * 1.1)];
        },
        axisFmt: function (v) {
          return String(v);
        },
        series: series,
        data: data,
      };
    },
    net: function (pal) {
      var devs = new Set();
      for (var i = 0; i < points.length; i++) {
        var nets = points[i].networks;
        if (!Array.isArray(nets)) continue;
        for (var j = 0; j < nets.length; j++) {
          if (nets[j] && typeof nets[j].device === 'string') devs.add(nets[j].device);
        }
      }
      var names = Array.from(devs).sort().slice(0, MAX_INTERFACES);
      var series = [];
      var data = [tsColumn()];
      names.forEach(function (dev, k) {
        var color = pal[k % pal.length];
        var pick = function (field) {
          return function (p) {
            if (!Array.isArray(p.networks)) return null;
            for (var q = 0; q < p.networks.length; q++) {
              if (p.networks[q] && p.networks[q].device === dev) return p.networks[q][field];
            }
            return null;
          };
        };
        series.push({ label: dev + ' in', stroke: color, width: 1.5, value: rateValue });
        series.push({ label: dev + ' out', stroke: color, width: 1.5, dash: [5, 3], value: rateValue });
        data.push(column(pick('rx_bytes_per_second')));
        data.push(column(pick('tx_bytes_per_second')));
      });
      return {
        shape: 'net:' + JSON.stringify(names),
        yRange: function (u, min, max) {
          return [0, Math.max(1024, (max || 0) * 1.1)];
        },
        axisFmt: function (v) {
          return U.formatRate(v);
        },
        axisSize: 84,
        series: series,
        data: data,
      };
    },
  };

  // ---------- uPlot plumbing ----------

  function chartOptions(def, width) {
    var axisColor = U.cssVar('--muted');
    var gridColor = U.cssVar('--border');
    var series = [
      {
        value: function (u, ts) {
          return U.isNum(ts) ? new Date(ts * 1000).toLocaleString() : U.DASH;
        },
      },
    ];
    for (var i = 0; i < def.series.length; i++) {
      var s = def.series[i];
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
    return {
      width: width,
      height: CHART_HEIGHT,
      hooks: {
        ready: [showLatest],
        setCursor: [
          function (u) {
            if (u.cursor.idx === null || u.cursor.idx === undefined) showLatest(u);
          },
        ],
      },
      cursor: { sync: { key: 'utz-host' }, drag: { x: false, y: false } },
      legend: { show: def.legend !== false, live: true },
      scales: { x: { time: true }, y: { range: def.yRange } },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor, width: 1 },
          size: def.axisSize || 50,
          values: function (u, splits) {
            return splits.map(def.axisFmt);
          },
        },
      ],
      series: series,
      bands: def.bands,
    };
  }

  /** Without a cursor on the chart, the legend shows the newest values instead of dashes. */
  function showLatest(u) {
    var n = u.data && u.data[0] ? u.data[0].length : 0;
    if (n > 0) u.setLegend({ idx: n - 1 });
  }

  function drawCharts() {
    redrawScheduled = false;
    if (typeof window.uPlot !== 'function') return;
    var pal = palette();
    Object.keys(DEFS).forEach(function (name) {
      var box = $('chart-' + name);
      if (!box) return;
      var def = DEFS[name](pal);
      var c = charts[name];
      var width = Math.max(200, box.clientWidth);
      if (points.length === 0) {
        if (c) {
          c.plot.destroy();
          delete charts[name];
        }
        if (!box.__utzMsg) {
          box.textContent = '';
          box.appendChild(U.el('p', 'chart-message', loading ? 'Loading\u2026' : 'No data in this range yet.'));
          box.__utzMsg = true;
        } else {
          U.setText(box.firstChild, loading ? 'Loading\u2026' : 'No data in this range yet.');
        }
        return;
      }
      if (box.__utzMsg) {
        box.textContent = '';
        box.__utzMsg = false;
      }
      if (c && c.shape === def.shape) {
        c.plot.setData(def.data);
        if (c.plot.cursor.idx === null || c.plot.cursor.idx === undefined) showLatest(c.plot);
        return;
      }
      if (c) c.plot.destroy();
      var plot = new window.uPlot(chartOptions(def, width), def.data, box);
      charts[name] = { plot: plot, shape: def.shape };
    });
  }

  function scheduleRedraw() {
    if (redrawScheduled) return;
    redrawScheduled = true;
    requestAnimationFrame(drawCharts);
  }

  function rebuildCharts() {
    Object.keys(charts).forEach(function (name) {
      charts[name].plot.destroy();
    });
    charts = {};
    scheduleRedraw();
  }

  // ---------- history and live points ----------

  function pointFromView(v) {
    var l = v && v.latest;
    if (!l || !U.isNum(l.ts_ms)) return null;
    var cpu = l.cpu || {};
    var mem = l.memory || {};
    var load = l.load || {};
    return {
      ts_ms: l.ts_ms,
      cpu_ratio: cpu.usage_ratio,
      cpu_ratio_min: cpu.usage_ratio,
      cpu_ratio_max: cpu.usage_ratio,
      cores: Array.isArray(cpu.cores) ? cpu.cores : [],
      mem_used_bytes: mem.used_bytes,
      mem_total_bytes: mem.total_bytes,
      swap_used_bytes: mem.swap_used_bytes,
      swap_total_bytes: mem.swap_total_bytes,
      load1: load.load1,
      load5: load.load5,
      load15: load.load15,
      networks: v.rates && Array.isArray(v.rates.networks) ? v.rates.networks : [],
      __n: 1,
    };
  }

  function mergeInto(bucket, p) {
    // Running average, so a bucketed range stays one point per step while live.
    var n = bucket.__n || 1;
    var avg = function (a, b) {
      return U.isNum(a) && U.isNum(b) ? (a * n + b) / (n + 1) : U.isNum(b) ? b : a;
    };
    ['cpu_ratio', 'mem_used_bytes', 'mem_total_bytes', 'swap_used_bytes', 'swap_total_bytes', 'load1', 'load5', 'load15'].forEach(
      function (k) {
        bucket[k] = avg(bucket[k], p[k]);
      }
    );
    if (U.isNum(p.cpu_ratio)) {
      bucket.cpu_ratio_max = U.isNum(bucket.cpu_ratio_max) ? Math.max(bucket.cpu_ratio_max, p.cpu_ratio) : p.cpu_ratio;
      bucket.cpu_ratio_min = U.isNum(bucket.cpu_ratio_min) ? Math.min(bucket.cpu_ratio_min, p.cpu_ratio) : p.cpu_ratio;
    }
    if (Array.isArray(p.cores)) {
      var cores = Array.isArray(bucket.cores) ? bucket.cores.slice() : [];
      for (var i = 0; i < p.cores.length; i++) cores[i] = avg(cores[i], p.cores[i]);
      bucket.cores = cores;
    }
    bucket.networks = p.networks;
    bucket.__n = n + 1;
  }

  function appendLive(p) {
    var last = points[points.length - 1];
    if (last && p.ts_ms <= last.ts_ms) return false;
    var bucketed = stepMs > intervalMs;
    if (last && bucketed && p.ts_ms < last.ts_ms + stepMs) {
      mergeInto(last, p);
    } else {
      if (last && bucketed) {
        p.ts_ms = last.ts_ms + Math.floor((p.ts_ms - last.ts_ms) / stepMs) * stepMs;
      }
      points.push(p);
    }
    var cutoff = nowServer() - rangeMs;
    var drop = 0;
    while (drop < points.length - 1 && points[drop].ts_ms < cutoff) drop++;
    if (drop > 0) points.splice(0, drop);
    return true;
  }

  function updateRangeNote(fromMs) {
    var note = $('range-note');
    if (!note) return;
    if (loading) {
      U.setText(note, 'Loading\u2026');
    } else if (points.length === 0) {
      U.setText(note, 'No history in this range yet');
    } else if (points[0].ts_ms > fromMs + Math.max(stepMs, intervalMs) * 3) {
      U.setText(note, 'History available since ' + new Date(points[0].ts_ms).toLocaleString());
    } else {
      U.setText(note, '');
    }
  }

  function loadHistory() {
    var gen = ++loadGen;
    var to = nowServer();
    var from = to - rangeMs;
    var step = Math.max(1, Math.floor(rangeMs / 600));
    loading = true;
    pendingLive = [];
    updateRangeNote(from);
    var url =
      '/api/v1/hosts/' +
      encodeURIComponent(host) +
      '/samples?from=' +
      Math.floor(from) +
      '&to=' +
      Math.floor(to) +
      '&step=' +
      step;
    fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' })
      .then(function (res) {
        if (res.status === 404) return { points: [], step_ms: step };
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .catch(function () {
        return { points: [], step_ms: step, failed: true };
      })
      .then(function (body) {
        if (gen !== loadGen) return; // A newer range or snapshot superseded this load.
        loading = false;
        stepMs = U.isNum(body.step_ms) ? body.step_ms : step;
        points = Array.isArray(body.points)
          ? body.points.filter(function (p) {
              return p && U.isNum(p.ts_ms);
            })
          : [];
        var live = pendingLive;
        pendingLive = [];
        for (var i = 0; i < live.length; i++) appendLive(live[i]);
        var last = pointFromView(view);
        if (last) appendLive(last);
        updateRangeNote(from);
        if (body.failed) U.setText($('range-note'), 'Could not load history; showing live data only');
        scheduleRedraw();
      });
  }

  // ---------- stat cards, info, filesystems ----------

  function setStat(id, value, sub, ratio) {
    var card = $(id);
    if (!card) return;
    U.setText(card.querySelector('.stat-value'), value);
    var subEl = card.querySelector('.sub');
    if (subEl) U.setText(subEl, sub);
    var fill = card.querySelector('.fill');
    if (fill) fill.style.transform = 'scaleX(' + (U.isNum(ratio) ? Math.max(0, Math.min(1, ratio)) : 0).toFixed(3) + ')';
    U.setLevel(card, U.level(ratio));
  }

  function setInfo(field, text) {
    var dd = document.querySelector('#host-info dd[data-field="' + field + '"]');
    if (dd) U.setText(dd, text === '' || text === null || text === undefined ? U.DASH : String(text));
  }

  function ratioOf(used, total) {
    return U.isNum(used) && U.isNum(total) && total > 0 ? used / total : null;
  }

  function renderView() {
    var v = view;
    var online = v && v.status === 'online';
    var dot = $('host-dot');
    dot.classList.toggle('online', !!online);
    dot.classList.toggle('offline', !online);
    U.setText($('host-status-text'), v ? (online ? 'online' : 'offline') : 'unknown');
    U.setText($('host-seen'), v && U.isNum(v.last_seen_ms) ? 'last sample ' + U.formatAgo(nowServer() - v.last_seen_ms) : '');
    $('host-missing').hidden = !!v;
    if (!v) return;

    var info = v.info || {};
    var l = v.latest;
    var cpu = l && l.cpu ? l.cpu.usage_ratio : null;
    setStat('stat-cpu', U.formatPercent(cpu), '', cpu);
    var mem = l && l.memory ? l.memory : {};
    var memRatio = ratioOf(mem.used_bytes, mem.total_bytes);
    setStat('stat-mem', U.formatPercent(memRatio), U.formatBytes(mem.used_bytes) + ' of ' + U.formatBytes(mem.total_bytes), memRatio);
    if (mem.swap_total_bytes === 0) {
      setStat('stat-swap', 'none', 'no swap configured', null);
    } else {
      var swapRatio = ratioOf(mem.swap_used_bytes, mem.swap_total_bytes);
      setStat('stat-swap', U.formatPercent(swapRatio), U.formatBytes(mem.swap_used_bytes) + ' of ' + U.formatBytes(mem.swap_total_bytes), swapRatio);
    }
    var load = l && l.load ? l.load : {};
    var cores = info.cores || 0;
    setStat(
      'stat-load',
      U.formatNumber(load.load1, 2),
      '5 min ' + U.formatNumber(load.load5, 2) + ' \u00b7 15 min ' + U.formatNumber(load.load15, 2) + (cores ? ' \u00b7 ' + cores + (cores === 1 ? ' core' : ' cores') : ''),
      cores && U.isNum(load.load1) ? load.load1 / cores : null
    );
    var rates = v.rates || {};
    setStat('stat-net', '\u2193 ' + U.formatRate(rates.rx_bytes_per_second), '\u2191 ' + U.formatRate(rates.tx_bytes_per_second), null);
    setStat(
      'stat-uptime',
      U.formatDuration(l ? l.uptime_seconds : null),
      info.boot_time ? 'since ' + new Date(info.boot_time * 1000).toLocaleString() : '',
      null
    );

    setInfo('os', [info.os_name, info.os_version].filter(Boolean).join(' '));
    setInfo('kernel', info.kernel);
    setInfo('arch', info.arch);
    setInfo('cpu_model', info.cpu_model);
    setInfo('cores', info.cores);
    setInfo('agent_version', info.agent_version);
    setInfo('boot_time', info.boot_time ? new Date(info.boot_time * 1000).toLocaleString() : '');
    var edge = v.edge || {};
    setInfo('run_id', edge.run_id);
    if (U.isNum(edge.received)) {
      setInfo('samples', edge.received + ' received, ' + (edge.gaps || 0) + ' missing, ' + (edge.duplicates || 0) + ' duplicates');
    }
    if (U.isNum(edge.interval_ms) && edge.interval_ms > 0) intervalMs = edge.interval_ms;

    renderFilesystems(l && Array.isArray(l.filesystems) ? l.filesystems : []);
  }

  function renderFilesystems(list) {
    var box = $('fs-list');
    var sorted = list
      .filter(function (f) {
        return f && typeof f.mountpoint === 'string';
      })
      .slice()
      .sort(function (a, b) {
        return a.mountpoint < b.mountpoint ? -1 : a.mountpoint > b.mountpoint ? 1 : 0;
      });
    var keys = sorted.map(function (f) {
      return f.mountpoint + '\u0000' + f.fstype;
    });
    var same = keys.length === fsRows.size && keys.every(function (k) {
      return fsRows.has(k);
    });
    if (!same) {
      box.textContent = '';
      fsRows = new Map();
      if (sorted.length === 0) box.appendChild(U.el('p', 'sub', 'No filesystems reported.'));
      sorted.forEach(function (f, i) {
        var row = U.el('div', 'fs-row');
        var head = U.el('div', 'fs-head');
        head.appendChild(U.el('span', 'fs-mount', f.mountpoint));
        head.appendChild(U.el('span', 'fs-type', f.fstype));
        var pct = U.el('span', 'fs-pct');
        head.appendChild(pct);
        var bar = U.el('div', 'bar');
        var fill = U.el('div', 'fill');
        bar.appendChild(fill);
        var detail = U.el('div', 'fs-detail');
        row.appendChild(head);
        row.appendChild(bar);
        row.appendChild(detail);
        box.appendChild(row);
        fsRows.set(keys[i], { row: row, pct: pct, fill: fill, detail: detail });
      });
    }
    sorted.forEach(function (f, i) {
      var r = fsRows.get(keys[i]);
      var used = U.isNum(f.size_bytes) && U.isNum(f.avail_bytes) ? Math.max(0, f.size_bytes - f.avail_bytes) : null;
      var ratio = ratioOf(used, f.size_bytes);
      U.setText(r.pct, U.formatPercent(ratio));
      U.setText(r.detail, U.formatBytes(used) + ' used of ' + U.formatBytes(f.size_bytes) + ', ' + U.formatBytes(f.avail_bytes) + ' free');
      r.fill.style.transform = 'scaleX(' + (U.isNum(ratio) ? ratio : 0).toFixed(3) + ')';
      U.setLevel(r.row, U.level(ratio));
    });
  }

  // ---------- messages ----------

  function onMessage(msg) {
    if (U.isNum(msg.server_time_ms)) clockOffset = msg.server_time_ms - Date.now();
    if (!Array.isArray(msg.hosts)) return;
    var next = null;
    for (var i = 0; i < msg.hosts.length; i++) {
      if (msg.hosts[i] && msg.hosts[i].host === host) next = msg.hosts[i];
    }
    if (msg.type === 'snapshot') {
      view = next;
      renderView();
      loadHistory(); // Resynchronise: whatever happened while disconnected is in the history.
      return;
    }
    if (msg.type !== 'update' || !next) return;
    view = next;
    renderView();
    var p = pointFromView(next);
    if (!p) return;
    if (loading) {
      pendingLive.push(p);
      return;
    }
    if (appendLive(p)) scheduleRedraw();
  }

  function init() {
    var main = $('main');
    host = main ? main.getAttribute('data-host') || '' : '';
    if (!host) return;

    var radios = document.querySelectorAll('#range input[name="range"]');
    for (var i = 0; i < radios.length; i++) {
      radios[i].addEventListener('change', function (ev) {
        var v = Number(ev.target.value);
        if (!isFinite(v) || v <= 0) return;
        rangeMs = v;
        points = [];
        scheduleRedraw();
        loadHistory();
      });
      if (radios[i].checked) rangeMs = Number(radios[i].value) || rangeMs;
    }

    if ('ResizeObserver' in window) {
      var ro = new ResizeObserver(function (records) {
        records.forEach(function (r) {
          var name = r.target.id.replace('chart-', '');
          var c = charts[name];
          var w = Math.max(200, Math.floor(r.contentRect.width));
          if (c && c.plot.width !== w) c.plot.setSize({ width: w, height: CHART_HEIGHT });
        });
      });
      Object.keys(DEFS).forEach(function (name) {
        var box = $('chart-' + name);
        if (box) ro.observe(box);
      });
    }

    window.addEventListener('utz-theme', rebuildCharts);
    setInterval(function () {
      if (view) U.setText($('host-seen'), U.isNum(view.last_seen_ms) ? 'last sample ' + U.formatAgo(nowServer() - view.last_seen_ms) : '');
    }, 5000);

    var socket = new U.LiveSocket('/ws/dashboard?host=' + encodeURIComponent(host), onMessage);
    window.utzHost = {
      socket: socket,
      points: function () {
        return points;
      },
      charts: function () {
        return charts;
      },
    };
    scheduleRedraw();
    socket.start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
