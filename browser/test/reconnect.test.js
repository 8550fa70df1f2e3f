'use strict';
// The server is killed and started again: the pages show it (reconnecting), come back by
// themselves over their own transport, rejoin their room, and chat again.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchBrowser, openChat, say, seen, waitFor } = require('../lib/harness');

test('pages reconnect when the server comes back', async (t) => {
  let server = await startServer();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await server.stop(); });
  const room = 'phoenix';
  const pages = {
    WebSockets: await openChat(browser, server.url, { name: 'wendy', room, transport: 'WebSockets' }),
    ServerSentEvents: await openChat(browser, server.url, { name: 'sid', room, transport: 'ServerSentEvents' }),
    LongPolling: await openChat(browser, server.url, { name: 'lola', room, transport: 'LongPolling', protocol: 'messagepack' }),
  };
  const all = Object.values(pages);
  const state = (p) => p.$eval('#state', (e) => e.dataset.state);

  await server.kill();
  for (const p of all) {
    await waitFor(async () => (await state(p)) === 'reconnecting', 15000, 'the page to show reconnecting');
  }
  server = await startServer([], { addr: `127.0.0.1:${server.port}` });
  for (const [transport, p] of Object.entries(pages)) {
    await p.waitForSelector(`body[data-joined="${room}"]`, { timeout: 30000 });
    assert.equal(await state(p), 'connected');
    assert.equal(await p.$eval('body', (b) => b.dataset.reconnects), '1');
    assert.equal(await p.$eval('body', (b) => b.dataset.transport), transport);
  }
  await say(pages.WebSockets, 'we are back');
  await say(pages.LongPolling, 'so are we');
  for (const p of all) {
    assert.equal(await seen(p, 'we are back'), 'wendy');
    assert.equal(await seen(p, 'so are we'), 'lola');
  }
  // While the server was away the browser logged refused connections; the page itself threw nothing.
  for (const p of all) assert.deepEqual(p.errors.filter((e) => e.startsWith('uncaught')), []);
});
