'use strict';
// Graceful shutdown: SIGTERM makes the server send Close{allowReconnect: true} to every connection.
const assert = require('node:assert/strict');
const {
  test, after, startServer, connect, stopConnections, rawWs, waitFor, within, RS,
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
