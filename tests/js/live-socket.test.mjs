// Unit tests of dashboards/static/live-socket.js and the banner text: reconnect timing,
// message parsing and the reconnect loop against a fake WebSocket with mocked timers.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';

import { bannerText } from '../../dashboards/static/banner.js';
import { BASE_MS, CAP_MS, LiveSocket, parseMessage, reconnectDelay } from '../../dashboards/static/live-socket.js';

test('the reconnect delay doubles up to the cap, jittered to 50..100 %', () => {
  assert.equal(reconnectDelay(0, () => 0), BASE_MS / 2);
  assert.equal(reconnectDelay(0, () => 1), BASE_MS);
  assert.equal(reconnectDelay(3, () => 1), BASE_MS * 8);
  assert.equal(reconnectDelay(30, () => 1), CAP_MS);
  assert.equal(reconnectDelay(30, () => 0), CAP_MS / 2);
});

test('only JSON objects are messages', () => {
  assert.deepEqual(parseMessage('{"type":"update"}'), { type: 'update' });
  for (const bad of ['nope', '[1]', 'null', '3', new ArrayBuffer(2)]) assert.equal(parseMessage(bad), null);
});

test('the banner counts down, then says it is reconnecting', () => {
  assert.equal(bannerText(10000, 7100, false), 'Connection to the server lost. Reconnecting in 3 s\u2026');
  assert.equal(bannerText(10000, 10500, false), 'Connection to the server lost. Reconnecting\u2026');
  assert.equal(bannerText(10000, 7000, true), 'Connection to the server lost. Reconnecting\u2026');
});

/** A WebSocket stand-in that records every instance. */
class FakeWebSocket {
  static made = [];
  constructor(url) {
    this.url = url;
    FakeWebSocket.made.push(this);
  }
}

beforeEach(() => {
  FakeWebSocket.made = [];
  globalThis.WebSocket = FakeWebSocket;
  globalThis.window = { location: { protocol: 'https:', host: 'example.test:5000' }, addEventListener() {} };
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
});

afterEach(() => {
  mock.timers.reset();
  delete globalThis.WebSocket;
  delete globalThis.window;
});

test('a lost connection retries with backoff, and a snapshot resets it', () => {
  const got = [];
  const s = new LiveSocket('/ws/dashboard?host=a%20b', (m) => got.push(m));
  const seen = [];
  s.onChange(() => seen.push(s.stale));
  s.start();
  assert.equal(FakeWebSocket.made.length, 1);
  assert.equal(FakeWebSocket.made[0].url, 'wss://example.test:5000/ws/dashboard?host=a%20b');

  FakeWebSocket.made[0].onclose();
  assert.equal(s.stale, true);
  assert.ok(s.retryAt - Date.now() <= BASE_MS);
  mock.timers.tick(BASE_MS);
  assert.equal(FakeWebSocket.made.length, 2, 'reconnected after the delay');
  FakeWebSocket.made[1].onclose();
  assert.equal(s.attempt, 2);
  mock.timers.tick(2 * BASE_MS);
  const ws = FakeWebSocket.made[2];
  ws.onopen();
  ws.onmessage({ data: JSON.stringify({ type: 'snapshot', server_time_ms: Date.now() + 60000, hosts: [] }) });
  assert.equal(s.stale, false);
  assert.equal(s.attempt, 0);
  assert.ok(Math.abs(s.serverNow() - (Date.now() + 60000)) < 5, 'the server clock is tracked');
  ws.onmessage({ data: 'garbage' });
  assert.equal(got.length, 1);
  assert.equal(s.messages, 2, 'every text frame counts');
  assert.equal(seen.at(-1), false);

  // A close of an old socket after a newer one exists changes nothing.
  FakeWebSocket.made[1].onclose();
  assert.equal(s.stale, false);
});

test('a failing handler does not break the socket', () => {
  const warn = mock.method(console, 'warn', () => {});
  const s = new LiveSocket('/ws/dashboard', () => {
    throw new Error('boom');
  });
  s.start();
  FakeWebSocket.made[0].onmessage({ data: '{"type":"update","hosts":[]}' });
  FakeWebSocket.made[0].onmessage({ data: '{"type":"update","hosts":[]}' });
  assert.equal(s.messages, 2);
  assert.equal(warn.mock.callCount(), 2);
  warn.mock.restore();
});

test('retry now connects at once instead of waiting', () => {
  const s = new LiveSocket('/ws/dashboard', () => {});
  s.start();
  FakeWebSocket.made[0].onclose();
  s.retryNow();
  assert.equal(FakeWebSocket.made.length, 2);
  s.retryNow();
  assert.equal(FakeWebSocket.made.length, 2, 'not while a connection is open or opening');
  mock.timers.tick(CAP_MS);
  assert.equal(FakeWebSocket.made.length, 2, 'the pending backoff timer was cancelled');
});
