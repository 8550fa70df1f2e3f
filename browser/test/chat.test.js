'use strict';
// Two people chat on the demo page over every transport x protocol pair the browser supports,
// with the official client; the page says what it uses; stopping is clean (no console errors:
// no 404 for the long polling DELETE).

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchBrowser, openPage, gotoChat, say, seen, noticed, waitFor } = require('../lib/harness');

// Server-Sent Events carry text only: the official client does not offer MessagePack over them.
const PAIRS = [
  ['WebSockets', 'json'], ['WebSockets', 'messagepack'],
  ['ServerSentEvents', 'json'],
  ['LongPolling', 'json'], ['LongPolling', 'messagepack'],
];

test('chat page', async (t) => {
  const server = await startServer();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await server.stop(); });
  // Two people, each in a browser context of their own, load the page again for every pair.
  const alice = await openPage(browser);
  const bob = await openPage(browser);

  for (const [transport, protocol] of PAIRS) {
    await t.test(`${transport} + ${protocol}`, async () => {
      alice.errors.length = 0;
      bob.errors.length = 0;
      const room = `room-${transport}-${protocol}`;
      await gotoChat(alice, server.url, { name: 'alice', room, transport, protocol });
      await gotoChat(bob, server.url, { name: 'bob', room, transport, protocol });

      // Both see who is here and what their page uses.
      await noticed(alice, 'bob joined');
      await waitFor(() => alice.$eval('#members', (e) => e.dataset.count === '2'), 5000, 'alice to see 2 members');
      for (const p of [alice, bob]) {
        assert.equal(await p.$eval('body', (b) => b.dataset.transport), transport);
        assert.equal(await p.$eval('#state', (e) => e.dataset.state), 'connected');
        assert.equal(await p.$eval('#info-protocol', (e) => e.textContent), protocol === 'json' ? 'JSON' : 'MessagePack');
      }

      await say(alice, `hello bob over ${transport}/${protocol}`);
      assert.equal(await seen(bob, `hello bob over ${transport}/${protocol}`), 'alice');
      await say(bob, 'hi alice 👋 <b>not bold</b>');
      assert.equal(await seen(alice, 'hi alice 👋 <b>not bold</b>'), 'bob');
      assert.equal(await alice.$$eval('#messages b', (els) => els.length), 0, 'text is shown as text');

      // Bob stops (the page's Disconnect button: HubConnection.stop()). Alice hears that he
      // left; Bob's page stops cleanly. With long polling the client's DELETE must be accepted.
      const deletes = [];
      const onResponse = (r) => { if (r.request().method() === 'DELETE') deletes.push(r.status()); };
      bob.on('response', onResponse);
      await bob.click('#toggle');
      await waitFor(() => bob.$eval('#state', (e) => e.dataset.state === 'disconnected'), 10000, 'bob to disconnect');
      await noticed(alice, 'bob left');
      await waitFor(() => alice.$eval('#members', (e) => e.dataset.count === '1'), 5000, 'alice to see 1 member');
      if (transport === 'LongPolling') {
        await waitFor(() => deletes.length > 0, 5000, "the long polling client's DELETE");
        assert.ok(deletes.every((s) => s === 202), `DELETE answered ${deletes}`);
      }

      bob.off('response', onResponse);

      assert.deepEqual(alice.errors, [], 'alice console');
      assert.deepEqual(bob.errors, [], 'bob console');
    });
  }
});
