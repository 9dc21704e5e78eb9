// utizmon fleet overview: keeps the host table live from /ws/dashboard.
// Messages update an in-memory model at once (so no CPU point is lost); the DOM is
// updated in place (Map host -> row, each cell written only when its text changed) from
// requestAnimationFrame, at most FLUSH_MS apart, and only for rows on screen (an
// IntersectionObserver tracks them), so 500 hosts updating every second cost a few small
// DOM batches per second.
'use strict';

(function () {
  var U = window.Utz;
  var FLUSH_MS = 250;
  var HISTORY = 120;
  var AGO_TICK_MS = 5000;
  var SPARK_W = 96;
  var SPARK_H = 26;
  var SPARK_MIN_SLOTS = 30;

  /** host -> { s: HostSummary, history: number[], row: Row | null, dirty, sparkDirty } */
  var hosts = new Map();
  /** Server clock minus browser clock, from the latest message. */
  var clockOffset = 0;
  var haveSnapshot = false;
  var sortKey = 'host';
  var sortDir = 1;
  var filterText = '';
  /** '' (all), 'online' or 'offline': the pressed status chip. */
  var statusFilter = '';
  var orderDirty = true;
  var flushScheduled = false;
  var lastFlush = 0;
  var visible = new Set();
  var observer = null;
  var sparkColors = null;

  var tbody, emptyBox, emptyConnecting, emptyNone, emptyFilter, foot;
  var countTotal, countOnline, countOffline;

  // ---------- sort keys ----------

  function loadPerCore(s) {
    if (!U.isNum(s.load1)) return null;
    return s.cores > 0 ? s.load1 / s.cores : s.load1;
  }

  var SORT = {
    status: function (s) {
      return s.status === 'online' ? 0 : 1;
    },
    host: function (s) {
      return s.host;
    },
    os: function (s) {
      return s.os || '';
    },
    uptime: function (s) {
      return s.uptime_seconds;
    },
    cpu: function (s) {
      return s.cpu_ratio;
    },
    mem: function (s) {
      return s.mem_ratio;
    },
    swap: function (s) {
      return s.swap_ratio;
    },
    load: loadPerCore,
    disk: function (s) {
      return s.fs_max_ratio;
    },
    rx: function (s) {
      return s.rx_bytes_per_second;
    },
    tx: function (s) {
      return s.tx_bytes_per_second;
    },
  };

  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  function compareEntries(a, b) {
    var get = SORT[sortKey];
    var va = get(a.s);
    var vb = get(b.s);
    var aNull = va === null || va === undefined || (typeof va === 'number' && !isFinite(va));
    var bNull = vb === null || vb === undefined || (typeof vb === 'number' && !isFinite(vb));
    var c = 0;
    // Unknown values go last whichever the direction.
    if (aNull && !bNull) return 1;
    if (bNull && !aNull) return -1;
    if (!aNull && !bNull) {
      if (typeof va === 'string' || typeof vb === 'string') c = collator.compare(String(va), String(vb));
      else c = va < vb ? -1 : va > vb ? 1 : 0;
    }
    if (c !== 0) return c * sortDir;
    return collator.compare(a.s.host, b.s.host);
  }

  // ---------- model ----------

  function upsert(summary, fromSnapshot) {
    if (!summary || typeof summary.host !== 'string') return;
    var name = summary.host;
    var entry = hosts.get(name);
    if (!entry) {
      entry = { s: summary, history: [], row: null, dirty: true, sparkDirty: true };
      hosts.set(name, entry);
      orderDirty = true;
    } else {
      var prev = entry.s;
      if (!fromSnapshot && U.isNum(summary.cpu_ratio) && summary.last_seen_ms !== prev.last_seen_ms) {
        entry.history.push(summary.cpu_ratio);
        if (entry.history.length > HISTORY) entry.history.splice(0, entry.history.length - HISTORY);
        entry.sparkDirty = true;
      }
      entry.s = summary;
      entry.dirty = true;
      if (sortKey !== 'host') orderDirty = true;
    }
    if (fromSnapshot) {
      var h = Array.isArray(summary.cpu_history) ? summary.cpu_history.filter(U.isNum) : [];
      if (h.length === 0 && U.isNum(summary.cpu_ratio)) h = [summary.cpu_ratio];
      entry.history = h.slice(-HISTORY);
      entry.sparkDirty = true;
    }
  }

  function onMessage(msg) {
    if (U.isNum(msg.server_time_ms)) clockOffset = msg.server_time_ms - Date.now();
    if (!Array.isArray(msg.hosts)) return;
    if (msg.type === 'snapshot') {
      haveSnapshot = true;
      var present = new Set();
      for (var i = 0; i < msg.hosts.length; i++) {
        if (msg.hosts[i] && typeof msg.hosts[i].host === 'string') present.add(msg.hosts[i].host);
      }
      // The snapshot is the whole truth: forget hosts the server no longer knows.
      hosts.forEach(function (entry, name) {
        if (!present.has(name)) {
          if (entry.row) {
            if (observer) observer.unobserve(entry.row.tr);
            visible.delete(entry.row.tr);
            entry.row.tr.remove();
          }
          hosts.delete(name);
          orderDirty = true;
        }
      });
      for (var j = 0; j < msg.hosts.length; j++) upsert(msg.hosts[j], true);
      orderDirty = true;
    } else if (msg.type === 'update') {
      for (var k = 0; k < msg.hosts.length; k++) upsert(msg.hosts[k], false);
    } else {
      return;
    }
    scheduleFlush();
  }

  // ---------- DOM ----------

  function metricCell(td) {
    var wrap = U.el('div', 'metric');
    var val = U.el('span', 'val', U.DASH);
    var bar = U.el('div', 'bar');
    var fill = U.el('div', 'fill');
    bar.appendChild(fill);
    wrap.appendChild(val);
    wrap.appendChild(bar);
    td.appendChild(wrap);
    return { td: td, val: val, fill: fill };
  }

  function makeRow(name) {
    var tr = U.el('tr');
    var r = { tr: tr };

    var tdStatus = U.el('td', 'c-status');
    var cell = U.el('div', 'status-cell');
    r.dot = U.el('span', 'dot');
    var texts = U.el('div');
    r.statusText = U.el('span', 'status-text');
    r.seen = U.el('span', 'sub');
    texts.appendChild(r.statusText);
    texts.appendChild(r.seen);
    cell.appendChild(r.dot);
    cell.appendChild(texts);
    tdStatus.appendChild(cell);

    var tdHost = U.el('td', 'c-host host');
    var link = U.el('a');
    link.href = '/hosts/' + encodeURIComponent(name);
    link.textContent = name;
    link.title = name;
    tdHost.appendChild(link);
    r.link = link;
    r.os = U.el('span', 'sub os');
    tdHost.appendChild(r.os);

    r.uptime = U.el('td', 'c-uptime num');
    r.cpu = metricCell(U.el('td', 'c-cpu'));
    var tdSpark = U.el('td', 'c-spark');
    r.spark = U.el('canvas', 'spark');
    r.spark.setAttribute('aria-hidden', 'true');
    r.spark.__utzHost = name;
    tdSpark.appendChild(r.spark);
    r.mem = metricCell(U.el('td', 'c-mem'));
    r.swap = metricCell(U.el('td', 'c-swap'));
    r.load = metricCell(U.el('td', 'c-load'));
    r.disk = metricCell(U.el('td', 'c-disk disk'));
    r.mount = U.el('span', 'sub');
    r.disk.td.firstChild.appendChild(r.mount);
    r.rx = U.el('td', 'c-rx num');
    r.tx = U.el('td', 'c-tx num');

    tr.appendChild(tdStatus);
    tr.appendChild(tdHost);
    tr.appendChild(r.uptime);
    tr.appendChild(r.cpu.td);
    tr.appendChild(tdSpark);
    tr.appendChild(r.mem.td);
    tr.appendChild(r.swap.td);
    tr.appendChild(r.load.td);
    tr.appendChild(r.disk.td);
    tr.appendChild(r.rx);
    tr.appendChild(r.tx);
    tr.dataset.host = name;
    if (observer) observer.observe(tr);
    else visible.add(tr);
    return r;
  }

  function setMetric(m, ratio, text, title) {
    U.setText(m.val, text);
    var scale = U.isNum(ratio) ? Math.max(0, Math.min(1, ratio)) : 0;
    var t = 'scaleX(' + scale.toFixed(3) + ')';
    if (m.fill.__utzT !== t) {
      m.fill.style.transform = t;
      m.fill.__utzT = t;
    }
    U.setLevel(m.td, U.level(ratio));
    if (title !== undefined && m.td.__utzTitle !== title) {
      m.td.title = title;
      m.td.__utzTitle = title;
    }
  }

  function statusSeen(s) {
    if (s.status === 'online') return '';
    return 'last seen ' + U.formatAgo(Date.now() + clockOffset - s.last_seen_ms);
  }

  function renderRow(entry) {
    var s = entry.s;
    var r = entry.row;
    var online = s.status === 'online';
    if (r.tr.__utzOnline !== online) {
      r.tr.classList.toggle('is-offline', !online);
      r.dot.classList.toggle('online', online);
      r.dot.classList.toggle('offline', !online);
      r.tr.__utzOnline = online;
    }
    U.setText(r.statusText, online ? 'online' : 'offline');
    U.setText(r.seen, statusSeen(s));
    U.setText(r.os, s.os || U.DASH);
    if (s.os && r.os.__utzTitle !== s.os) {
      r.os.title = s.os;
      r.os.__utzTitle = s.os;
    }
    U.setText(r.uptime, U.formatDuration(s.uptime_seconds));
    setMetric(r.cpu, s.cpu_ratio, U.formatPercent(s.cpu_ratio));
    setMetric(r.mem, s.mem_ratio, U.formatPercent(s.mem_ratio));
    setMetric(r.swap, s.swap_ratio, U.formatPercent(s.swap_ratio));
    var perCore = loadPerCore(s);
    setMetric(
      r.load,
      perCore,
      U.formatNumber(s.load1, 2),
      U.isNum(s.load1) ? 'load ' + s.load1.toFixed(2) + ' on ' + s.cores + ' cores (' + U.formatPercent(perCore) + ' per core)' : ''
    );
    setMetric(r.disk, s.fs_max_ratio, U.formatPercent(s.fs_max_ratio));
    U.setText(r.mount, s.fs_max_mountpoint || '');
    U.setText(r.rx, U.formatRate(s.rx_bytes_per_second));
    U.setText(r.tx, U.formatRate(s.tx_bytes_per_second));
  }

  function themeColors() {
    sparkColors = {
      line: U.cssVar('--accent') || '#2f6fde',
      warn: U.cssVar('--warn') || '#b25e00',
      crit: U.cssVar('--crit') || '#cf222e',
      off: U.cssVar('--offline') || '#888',
    };
  }

  function drawSpark(entry) {
    var canvas = entry.row.spark;
    var dpr = window.devicePixelRatio || 1;
    // The CSS size is fixed (canvas.spark); reading clientWidth here would force a layout
    // per row in the middle of the flush's DOM writes.
    var w = SPARK_W;
    var h = SPARK_H;
    var pw = Math.round(w * dpr);
    var ph = Math.round(h * dpr);
    if (canvas.width !== pw) canvas.width = pw;
    if (canvas.height !== ph) canvas.height = ph;
    var ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var data = entry.history;
    entry.sparkDirty = false;
    if (data.length < 2) return;
    if (!sparkColors) themeColors();
    var last = data[data.length - 1];
    var color =
      entry.s.status !== 'online' ? sparkColors.off : last >= 0.9 ? sparkColors.crit : last >= 0.75 ? sparkColors.warn : sparkColors.line;
    // Spread short histories (a fresh server) over the width once there are enough points
    // to show a trend; from SPARK_MIN_SLOTS on, one slot per sample, newest on the right.
    var step = w / (Math.max(SPARK_MIN_SLOTS, Math.min(HISTORY, data.length)) - 1);
    var x0 = w - (data.length - 1) * step;
    var pad = 2;
    ctx.beginPath();
    for (var i = 0; i < data.length; i++) {
      var v = Math.max(0, Math.min(1, data[i]));
      var x = x0 + i * step;
      var y = pad + (1 - v) * (h - 2 * pad);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.lineWidth = 1.25;
    ctx.lineJoin = 'round';
    ctx.strokeStyle = color;
    ctx.stroke();
    ctx.lineTo(w, h);
    ctx.lineTo(x0, h);
    ctx.closePath();
    ctx.globalAlpha = 0.14;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }

  function matches(name, summary) {
    if (statusFilter === 'online' && summary.status !== 'online') return false;
    if (statusFilter === 'offline' && summary.status === 'online') return false;
    return filterText === '' || name.toLowerCase().indexOf(filterText) !== -1;
  }

  function scheduleFlush() {
    if (flushScheduled) return;
    flushScheduled = true;
    var wait = Math.max(0, lastFlush + FLUSH_MS - Date.now());
    setTimeout(function () {
      requestAnimationFrame(flush);
    }, wait);
  }

  function flush() {
    flushScheduled = false;
    lastFlush = Date.now();
    var online = 0;
    var shown = 0;
    var sparks = [];
    var total = hosts.size;
    hosts.forEach(function (entry, name) {
      if (entry.s.status === 'online') online++;
      if (!entry.row) {
        entry.row = makeRow(name);
        renderRow(entry); // Once, so a row never shows empty cells while it scrolls in.
        entry.dirty = false;
        orderDirty = true;
      }
      // Rows off screen keep their dirty flag and are written when they scroll into view:
      // with 500 hosts only the few dozen visible rows cost DOM work per flush.
      var onScreen = visible.has(entry.row.tr);
      if (entry.dirty && onScreen) {
        renderRow(entry);
        entry.dirty = false;
      }
      var show = matches(name, entry.s);
      if (entry.row.tr.hidden === show) entry.row.tr.hidden = !show;
      if (show) shown++;
      if (entry.sparkDirty && onScreen) sparks.push(entry);
    });
    // Canvas drawing needs no layout; done after every DOM write of this flush.
    for (var k = 0; k < sparks.length; k++) drawSpark(sparks[k]);

    if (orderDirty) {
      orderDirty = false;
      var entries = Array.from(hosts.values());
      entries.sort(compareEntries);
      // Move rows only when the order actually changed.
      var current = tbody.children;
      var same = current.length === entries.length;
      for (var i = 0; same && i < entries.length; i++) {
        if (current[i] !== entries[i].row.tr) same = false;
      }
      if (!same) {
        var frag = document.createDocumentFragment();
        for (var j = 0; j < entries.length; j++) frag.appendChild(entries[j].row.tr);
        tbody.appendChild(frag);
      }
    }

    U.setText(countTotal, String(total));
    U.setText(countOnline, String(online));
    U.setText(countOffline, String(total - online));
    emptyBox.hidden = shown > 0;
    emptyConnecting.hidden = haveSnapshot;
    emptyNone.hidden = !haveSnapshot || total > 0;
    emptyFilter.hidden = !haveSnapshot || total === 0 || shown > 0;
    if ((filterText || statusFilter) && shown > 0) {
      foot.hidden = false;
      U.setText(foot, 'Showing ' + shown + ' of ' + total + ' hosts');
    } else {
      foot.hidden = true;
    }
  }

  // ---------- sorting and filtering ----------

  function applySortHeaders() {
    var ths = document.querySelectorAll('#fleet th[data-key]');
    for (var i = 0; i < ths.length; i++) {
      var key = ths[i].getAttribute('data-key');
      ths[i].setAttribute('aria-sort', key === sortKey ? (sortDir === 1 ? 'ascending' : 'descending') : 'none');
    }
  }

  function onSortClick(ev) {
    var th = ev.currentTarget.closest('th');
    var key = th && th.getAttribute('data-key');
    if (!key || !SORT[key]) return;
    if (key === sortKey) {
      sortDir = -sortDir;
    } else {
      sortKey = key;
      // Names read best A..Z; numbers are most useful largest first.
      sortDir = key === 'host' || key === 'os' || key === 'status' ? 1 : -1;
    }
    applySortHeaders();
    orderDirty = true;
    scheduleFlush();
  }

  function init() {
    tbody = document.getElementById('fleet-body');
    emptyBox = document.getElementById('fleet-empty');
    emptyConnecting = document.getElementById('empty-connecting');
    emptyNone = document.getElementById('empty-none');
    emptyFilter = document.getElementById('empty-filter');
    foot = document.getElementById('fleet-foot');
    countTotal = document.getElementById('count-total');
    countOnline = document.getElementById('count-online');
    countOffline = document.getElementById('count-offline');
    if (!tbody) return;

    var buttons = document.querySelectorAll('#fleet th[data-key] .sort');
    for (var i = 0; i < buttons.length; i++) buttons[i].addEventListener('click', onSortClick);
    applySortHeaders();

    var filter = document.getElementById('filter');
    filter.addEventListener('input', function () {
      filterText = filter.value.trim().toLowerCase();
      scheduleFlush();
    });
    filterText = filter.value.trim().toLowerCase();

    var chips = document.querySelectorAll('.counts button[data-status]');
    for (var c = 0; c < chips.length; c++) {
      chips[c].addEventListener('click', function (ev) {
        var wanted = ev.currentTarget.getAttribute('data-status') || '';
        // Pressing the active status chip again shows every host.
        statusFilter = wanted === statusFilter ? '' : wanted;
        for (var k = 0; k < chips.length; k++) {
          var mine = (chips[k].getAttribute('data-status') || '') === statusFilter;
          chips[k].setAttribute('aria-pressed', mine ? 'true' : 'false');
        }
        scheduleFlush();
      });
    }

    if ('IntersectionObserver' in window) {
      // Tracks which rows are on screen (with a margin), so only those are kept current.
      observer = new IntersectionObserver(function (records) {
        var redraw = false;
        for (var i = 0; i < records.length; i++) {
          if (records[i].isIntersecting) {
            visible.add(records[i].target);
            redraw = true;
          } else {
            visible.delete(records[i].target);
          }
        }
        if (redraw) scheduleFlush();
      }, { rootMargin: '200px 0px' });
    }

    window.addEventListener('utz-theme', function () {
      themeColors();
      hosts.forEach(function (entry) {
        entry.sparkDirty = true;
      });
      scheduleFlush();
    });

    // "last seen N min ago" ages without messages; refresh offline rows now and then.
    setInterval(function () {
      var any = false;
      hosts.forEach(function (entry) {
        if (entry.s.status !== 'online') {
          entry.dirty = true;
          any = true;
        }
      });
      if (any) scheduleFlush();
    }, AGO_TICK_MS);

    var socket = new U.LiveSocket('/ws/dashboard', onMessage);
    window.utzOverview = { socket: socket, hosts: hosts };
    socket.start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
