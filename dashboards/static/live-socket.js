// utizmon dashboard: LiveSocket, the /ws/dashboard client every page uses.
// It never gives up: on close it waits a jittered, exponentially growing delay and connects
// again. The server starts every connection with a snapshot, so pages resynchronise from it;
// the backoff resets once a snapshot arrives. It also tracks the server's clock, since the
// ages a page shows ("last seen 2 min ago") must not depend on the browser's clock.

/** First reconnect delay before jitter; it doubles per failed attempt... */
export const BASE_MS = 500;
/** ...up to this cap. */
export const CAP_MS = 15000;

/**
 * Delay before reconnect attempt number `attempt` (0-based): BASE_MS doubling to CAP_MS,
 * randomised to 50..100 % so that a restarted server is not hit by every browser at once.
 */
export function reconnectDelay(attempt, random = Math.random) {
  const exp = Math.min(CAP_MS, BASE_MS * 2 ** attempt);
  return exp / 2 + random() * (exp / 2);
}

/** Parses one text frame into a message object, or null when it is not one. */
export function parseMessage(data) {
  if (typeof data !== 'string') return null;
  try {
    const msg = JSON.parse(data);
    return msg && typeof msg === 'object' && !Array.isArray(msg) ? msg : null;
  } catch {
    return null; // Not ours to fix; the next snapshot or update replaces it.
  }
}

/** A /ws/dashboard connection; `onMessage(msg)` gets every parsed message. */
export class LiveSocket {
  constructor(path, onMessage) {
    this.path = path;
    this.onMessage = onMessage;
    this.ws = null;
    this.attempt = 0;
    /** When the next attempt starts (Date.now() milliseconds), while waiting. */
    this.retryAt = 0;
    this.timer = null;
    this.connecting = false;
    /** True from a lost connection until the next snapshot: the page shows old data. */
    this.stale = false;
    this.leaving = false;
    /** Text frames and their characters received, for the page's connection status. */
    this.messages = 0;
    this.bytes = 0;
    /** Server clock minus browser clock, from the latest message. */
    this.clockOffset = 0;
    this.listeners = [];
  }

  /** Calls `fn(socket)` whenever the connection state or the counters change. */
  onChange(fn) {
    this.listeners.push(fn);
  }

  /** The server's current time in Unix milliseconds, as far as the messages tell. */
  serverNow() {
    return Date.now() + this.clockOffset;
  }

  /** Connects, and reconnects when the network comes back; stops when the page goes away. */
  start() {
    window.addEventListener('pagehide', () => {
      this.leaving = true;
    });
    window.addEventListener('online', () => {
      if (!this.ws) this.retryNow();
    });
    this.connect();
  }

  url() {
    const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${window.location.host}${this.path}`;
  }

  notify() {
    for (const fn of this.listeners) fn(this);
  }

  connect() {
    this.timer = null;
    this.connecting = true;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.connecting = false;
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.notify();
    ws.onopen = () => {
      this.connecting = false;
      this.notify();
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connecting = false;
      if (!this.leaving) this.scheduleReconnect();
    };
    // onerror is always followed by onclose, which schedules the retry.
  }

  receive(data) {
    if (typeof data !== 'string') return;
    this.messages++;
    this.bytes += data.length;
    const msg = parseMessage(data);
    if (!msg) return;
    if (typeof msg.server_time_ms === 'number' && Number.isFinite(msg.server_time_ms)) {
      this.clockOffset = msg.server_time_ms - Date.now();
    }
    if (msg.type === 'snapshot') {
      this.attempt = 0;
      this.stale = false;
    }
    try {
      this.onMessage(msg);
    } catch (e) {
      console.warn('utizmon: handling a dashboard message failed', e);
    }
    this.notify();
  }

  scheduleReconnect() {
    const delay = reconnectDelay(this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    this.retryAt = Date.now() + delay;
    this.stale = true;
    this.timer = setTimeout(() => this.connect(), delay);
    this.notify();
  }

  /** Connects at once instead of waiting for the backoff (the banner's "Retry now"). */
  retryNow() {
    if (this.ws) return;
    if (this.timer) clearTimeout(this.timer);
    this.retryAt = Date.now();
    this.stale = true;
    this.connect();
  }
}
