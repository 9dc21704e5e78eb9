// utizmon dashboard: what the overview and host pages share.
// Number formatting, the theme toggle, and LiveSocket: the /ws/dashboard client that
// reconnects with jittered exponential backoff and shows the connection banner.
// Everything an edge sent (host names, OS strings, mountpoints, interfaces) reaches the DOM
// through textContent only; nothing here builds HTML from strings.
'use strict';

(function () {
  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  var DASH = '\u2013';

  function isNum(x) {
    return typeof x === 'number' && isFinite(x);
  }

  /** Bytes with binary units: "0 B", "512 B", "1.2 KiB", "34.5 MiB". */
  function formatBytes(n) {
    if (!isNum(n)) return DASH;
    var neg = n < 0;
    var v = Math.abs(n);
    var i = 0;
    while (v >= 1024 && i < UNITS.length - 1) {
      v /= 1024;
      i++;
    }
    var digits = i === 0 ? 0 : v >= 100 ? 0 : 1;
    return (neg ? '-' : '') + v.toFixed(digits) + '\u00a0' + UNITS[i];
  }

  /** Bytes per second: "1.2 KiB/s". */
  function formatRate(n) {
    if (!isNum(n)) return DASH;
    return formatBytes(n) + '/s';
  }

  /** A 0..1 ratio as a percentage with one decimal: "12.3%". */
  function formatPercent(ratio) {
    if (!isNum(ratio)) return DASH;
    return (ratio * 100).toFixed(1) + '%';
  }

  /** A duration in seconds, two most significant units: "3d 4h", "5h 12m", "12m", "40s". */
  function formatDuration(seconds) {
    if (!isNum(seconds) || seconds < 0) return DASH;
    var s = Math.floor(seconds);
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm';
    return s + 's';
  }

  /** How long ago, for "last seen": "just now", "40 s ago", "2 min ago", "3 h ago", "5 d ago". */
  function formatAgo(ms) {
    if (!isNum(ms)) return 'never';
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  /** A plain number with fixed decimals, or a dash. */
  function formatNumber(x, digits) {
    if (!isNum(x)) return DASH;
    return x.toFixed(digits);
  }

  /** Threshold class for a 0..1 ratio: >= 0.9 critical, >= 0.75 warning. */
  function level(ratio) {
    if (!isNum(ratio)) return '';
    if (ratio >= 0.9) return 'lvl-crit';
    if (ratio >= 0.75) return 'lvl-warn';
    return '';
  }

  /** Sets textContent only when it changed (DOM writes are the expensive part). */
  function setText(el, text) {
    if (el.__utzText !== text) {
      el.textContent = text;
      el.__utzText = text;
    }
  }

  /** Replaces one threshold class on an element, touching the DOM only on change. */
  function setLevel(el, cls) {
    if (el.__utzLevel === cls) return;
    if (el.__utzLevel) el.classList.remove(el.__utzLevel);
    if (cls) el.classList.add(cls);
    el.__utzLevel = cls;
  }

  /** Creates an element with an optional class and text (text set via textContent). */
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** Reads a CSS custom property of the root element (theme colours for canvases). */
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // ---------- theme ----------

  var THEME_KEY = 'utizmon-theme';
  var darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
  /** The choice for this page view when localStorage is unavailable (privacy modes). */
  var memoryTheme = null;

  function storedTheme() {
    try {
      var t = window.localStorage.getItem(THEME_KEY);
      return t === 'light' || t === 'dark' ? t : null;
    } catch (e) {
      return memoryTheme;
    }
  }

  function effectiveTheme() {
    return storedTheme() || (darkQuery.matches ? 'dark' : 'light');
  }

  function applyTheme() {
    var root = document.documentElement;
    var stored = storedTheme();
    if (stored) root.setAttribute('data-theme', stored);
    else root.removeAttribute('data-theme');
    var eff = effectiveTheme();
    root.setAttribute('data-effective-theme', eff);
    var button = document.getElementById('theme-toggle');
    if (button) {
      var next = eff === 'dark' ? 'light' : 'dark';
      button.setAttribute('aria-label', 'Switch to ' + next + ' theme');
      button.setAttribute('title', 'Switch to ' + next + ' theme');
    }
    window.dispatchEvent(new CustomEvent('utz-theme', { detail: eff }));
  }

  function initTheme() {
    var button = document.getElementById('theme-toggle');
    if (button) {
      button.addEventListener('click', function () {
        var next = effectiveTheme() === 'dark' ? 'light' : 'dark';
        // Choosing the system's own theme again means "follow the system".
        var system = darkQuery.matches ? 'dark' : 'light';
        memoryTheme = next === system ? null : next;
        try {
          if (memoryTheme) window.localStorage.setItem(THEME_KEY, memoryTheme);
          else window.localStorage.removeItem(THEME_KEY);
        } catch (e) {
          // Remembered for this page view only.
        }
        applyTheme();
      });
    }
    var onSystemChange = function () {
      if (!storedTheme()) applyTheme();
    };
    if (darkQuery.addEventListener) darkQuery.addEventListener('change', onSystemChange);
    applyTheme();
  }

  // ---------- connection banner ----------

  var banner = {
    node: null,
    text: null,
    button: null,
    timer: null,
    init: function () {
      this.node = document.getElementById('conn-banner');
      if (!this.node) return;
      this.text = el('span', 'banner-text');
      this.button = el('button', null, 'Retry now');
      this.button.type = 'button';
      this.node.appendChild(this.text);
      this.node.appendChild(this.button);
    },
    show: function (socket) {
      if (!this.node) return;
      var self = this;
      this.button.onclick = function () {
        socket.retryNow();
      };
      var render = function () {
        var wait = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
        var msg = 'Connection to the server lost.';
        msg += socket.connecting || wait === 0 ? ' Reconnecting\u2026' : ' Reconnecting in ' + wait + ' s\u2026';
        setText(self.text, msg);
      };
      render();
      if (!this.timer) this.timer = setInterval(render, 500);
      this.node.hidden = false;
      document.body.classList.add('is-stale');
    },
    hide: function () {
      if (!this.node) return;
      if (this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
      this.node.hidden = true;
      document.body.classList.remove('is-stale');
    },
  };

  // ---------- LiveSocket ----------

  /**
   * A /ws/dashboard connection that never gives up: on close it waits a jittered,
   * exponentially growing delay (0.5 s doubling to 15 s, each randomised to 50..100 %)
   * and connects again. The server starts every connection with a snapshot, so
   * handlers resynchronise from it; the backoff resets once a snapshot arrives.
   */
  function LiveSocket(path, onMessage) {
    this.path = path;
    this.onMessage = onMessage;
    this.ws = null;
    this.attempt = 0;
    this.retryAt = 0;
    this.timer = null;
    this.connecting = false;
    this.leaving = false;
    this.messages = 0;
    this.bytes = 0;
    var self = this;
    window.addEventListener('pagehide', function () {
      self.leaving = true;
    });
    window.addEventListener('online', function () {
      if (!self.ws) self.retryNow();
    });
  }

  LiveSocket.BASE_MS = 500;
  LiveSocket.CAP_MS = 15000;

  LiveSocket.prototype.url = function () {
    var scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + window.location.host + this.path;
  };

  LiveSocket.prototype.start = function () {
    this.connect();
  };

  LiveSocket.prototype.connect = function () {
    var self = this;
    this.timer = null;
    this.connecting = true;
    var ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.connecting = false;
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = function () {
      self.connecting = false;
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== 'string') return;
      self.messages++;
      self.bytes += ev.data.length;
      var msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return; // Not ours to fix; the next snapshot or update replaces it.
      }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'snapshot') {
        self.attempt = 0;
        banner.hide();
      }
      try {
        self.onMessage(msg);
      } catch (e) {
        if (window.console) console.warn('utizmon: handling a dashboard message failed', e);
      }
    };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self.ws = null;
      self.connecting = false;
      if (self.leaving) return;
      self.scheduleReconnect();
    };
    ws.onerror = function () {
      // onclose follows and schedules the retry.
    };
  };

  LiveSocket.prototype.scheduleReconnect = function () {
    var exp = Math.min(LiveSocket.CAP_MS, LiveSocket.BASE_MS * Math.pow(2, this.attempt));
    var delay = exp / 2 + Math.random() * (exp / 2);
    this.attempt = Math.min(this.attempt + 1, 30);
    this.retryAt = Date.now() + delay;
    var self = this;
    this.timer = setTimeout(function () {
      self.connect();
    }, delay);
    banner.show(this);
  };

  LiveSocket.prototype.retryNow = function () {
    if (this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.retryAt = Date.now();
    this.connect();
    banner.show(this);
  };

  /** True while a connection is open. */
  LiveSocket.prototype.isOpen = function () {
    return !!this.ws && this.ws.readyState === 1;
  };

  function init() {
    banner.init();
    initTheme();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();

  window.Utz = {
    DASH: DASH,
    isNum: isNum,
    formatBytes: formatBytes,
    formatRate: formatRate,
    formatPercent: formatPercent,
    formatDuration: formatDuration,
    formatAgo: formatAgo,
    formatNumber: formatNumber,
    level: level,
    setText: setText,
    setLevel: setLevel,
    el: el,
    cssVar: cssVar,
    effectiveTheme: effectiveTheme,
    LiveSocket: LiveSocket,
  };
})();
