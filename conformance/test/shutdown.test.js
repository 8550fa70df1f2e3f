'use strict';
// Graceful shutdown: SIGTERM makes the server send Close{allowReconnect: true} to every connection.
const assert = require('node:assert/strict');
const {
  test, after, startServer, connect, stopConnections, rawWs, waitFor, within, listen, RS,
} = require('../lib/harness');

after(async () => { await stopConnections(); });

test('SIGTERM: a withAutomaticReconnect client sees onreconnecting; a raw client gets Close{allowReconnect: true}; the server exits', async () => {
  const server = await startServer();
  try {
    const c = await connect(server.hubUrl, { reconnect: [60000] });
    const raw = rawWs(server.hubUrl);
    assert.equal(await raw.handshake('json', 1), '{}' + RS);
    const t0 = Date.now();
    const exit = server.stop();
    await waitFor(() => c.events.reconnecting.length > 0, 8000, 'onreconnecting after SIGTERM');
    assert.deepEqual(c.events.closed, [], 'Close must allow reconnect: no onclose');
    const close = await raw.waitForRecord((r) => r.type === 7, 8000, 'Close message on shutdown');
    assert.equal(close.allowReconnect, true, `shutdown Close: ${JSON.stringify(close)}`);
    await within(raw.closed, 8000, 'raw socket closed on shutdown');
    const info = await exit;
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 5000, `server took ${elapsed} ms to exit after SIGTERM (${JSON.stringify(info)})`);
    assert.equal(info.signal, null, `server was killed: ${JSON.stringify(info)}`);
    await c.stop();
  } finally {
    await server.stop();
  }
});

test('SIGTERM right after a burst of broadcasts: every client gets all of them, in order, before its Close', async () => {
  const server = await startServer();
  try {
    // On a deployment of several nodes every client is on the first: its broadcasts fan out there.
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.hubUrl, { reconnect: [60000], node: 0 })));
    const got = clients.map((c) => listen(c, 'burst'));
    const atClose = clients.map(() => null);
    clients.forEach((c, i) => c.onreconnecting(() => { atClose[i] = got[i].slice(); }));
    const sender = clients[0];
    const sends = [];
    for (let i = 0; i < 50; i++) sends.push(sender.send('SendToAll', 'burst', i));
    await Promise.all(sends);
    await sender.invoke('Echo', 'after the burst'); // the server has run every send: the broadcasts are accepted
    const exit = server.stop();
    await waitFor(() => atClose.every((a) => a !== null), 8000, 'every client reconnecting after SIGTERM');
    const want = Array.from({ length: 50 }, (_, i) => i);
    atClose.forEach((a, i) => assert.deepEqual(a, want, `client ${i} got ${a.length} of 50 broadcasts before its Close`));
    await exit;
  } finally {
    await server.stop();
  }
});
