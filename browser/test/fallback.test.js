'use strict';
// A browser without WebSockets: the official client falls back to Server-Sent Events; without
// EventSource either, to long polling; and people on all three chat together.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchBrowser, openChat, say, seen, noticed } = require('../lib/harness');

// Run before any script of the page: the client looks these up when it is built.
const NO_WEBSOCKET = 'delete window.WebSocket; window.WebSocket = undefined;';
const NO_EVENTSOURCE = 'delete window.EventSource; window.EventSource = undefined;';

test('the official client falls back when the browser lacks WebSockets, then EventSource', async (t) => {
  const server = await startServer();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await server.stop(); });
  const room = 'fallback';

  const ws = await openChat(browser, server.url, { name: 'wes', room });
  const sse = await openChat(browser, server.url, { name: 'sam', room, init: NO_WEBSOCKET });
  const lp = await openChat(browser, server.url, { name: 'lou', room, init: NO_WEBSOCKET + NO_EVENTSOURCE });

  assert.equal(await sse.evaluate(() => typeof WebSocket), 'undefined', 'the override took');
  const used = async (p) => p.$eval('body', (b) => b.dataset.transport);
  assert.equal(await used(ws), 'WebSockets');
  assert.equal(await used(sse), 'ServerSentEvents');
  assert.equal(await used(lp), 'LongPolling');
  assert.equal(await lp.$eval('#info-transport', (e) => e.textContent), 'Long Polling', 'the page says so');

  await noticed(ws, 'lou joined');
  await say(ws, 'over a WebSocket');
  await say(sse, 'over an event stream');
  await say(lp, 'over long polls');
  for (const p of [ws, sse, lp]) {
    assert.equal(await seen(p, 'over a WebSocket'), 'wes');
    assert.equal(await seen(p, 'over an event stream'), 'sam');
    assert.equal(await seen(p, 'over long polls'), 'lou');
  }
  for (const p of [ws, sse, lp]) assert.deepEqual(p.errors, []);
});
