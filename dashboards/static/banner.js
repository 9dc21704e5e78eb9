// utizmon dashboard: the connection banner ("Connection to the server lost. Reconnecting in
// 3 s…" with a "Retry now" button), shown while a LiveSocket has lost its connection and
// has not had a new snapshot yet; the page is dimmed (body.is-stale) meanwhile.
// The banner element also carries the socket's state as data attributes
// (data-state = connecting | open | waiting, data-messages, data-bytes) for tools that
// measure a page, such as tests/browser/bench.mjs.

import { el, setText } from './dom.js';

/** The banner's sentence for a socket that retries at `retryAt` (ms), seen at `now`. */
export function bannerText(retryAt, now, connecting) {
  const wait = Math.max(0, Math.ceil((retryAt - now) / 1000));
  const when = connecting || wait === 0 ? 'Reconnecting\u2026' : `Reconnecting in ${wait} s\u2026`;
  return `Connection to the server lost. ${when}`;
}

/** Shows `socket`'s state in #conn-banner from now on. */
export function connectionBanner(socket) {
  const node = document.getElementById('conn-banner');
  if (!node) return;
  const text = el('span', 'banner-text');
  const button = el('button', null, 'Retry now');
  button.type = 'button';
  button.addEventListener('click', () => socket.retryNow());
  node.append(text, button);
  let timer = null;

  const render = () => {
    const state = socket.ws && !socket.connecting ? 'open' : socket.ws ? 'connecting' : 'waiting';
    node.dataset.state = state;
    node.dataset.messages = String(socket.messages);
    node.dataset.bytes = String(socket.bytes);
    if (socket.stale) {
      setText(text, bannerText(socket.retryAt, Date.now(), socket.connecting));
      // The countdown ticks without socket events.
      if (!timer) timer = setInterval(render, 500);
      node.hidden = false;
      document.body.classList.add('is-stale');
    } else if (!node.hidden || timer) {
      clearInterval(timer);
      timer = null;
      node.hidden = true;
      document.body.classList.remove('is-stale');
    }
  };
  socket.onChange(render);
  render();
}
