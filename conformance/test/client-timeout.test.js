'use strict';
// §5.19 client_timeout (long polling has none: its cases check that it stays up). Server: -client-timeout 2s -keepalive 500ms.
// The JS client only (re)arms its keep-alive ping timer when it *receives* something
// (HubConnection._resetTimeoutPeriod), so a client's pings can never be more frequent than the server's
// messages: the server's 500 ms keep-alive keeps the "pinging" clients well inside the 2 s timeout.
const assert = require('node:assert/strict');
const {
  test, describe, before, after, startServer, connect, stopConnections, modes, waitFor, sleep, within, rawWs, HubConnectionState,
  HttpTransportType, events
} = require('../lib/harness');

let server;
let observer;
before(async () => {
  server = await startServer(['-client-timeout', '2s', '-keepalive', '500ms']);
  observer = await connect(server.hubUrl, { keepAliveInterval: 500 });
});
after(async () => { await stopConnections(); await server.stop(); });

// The cases are independent (own connections / servers): run them concurrently to keep the suite short.
describe('client timeout', { concurrency: true }, () => {
  for (const mode of modes()) {
    if (mode.transport === HttpTransportType.LongPolling) {
      // Long polling keeps itself alive: the client never pings and, as in
      // ASP.NET, the server runs no client timeout on it.
      test(`[${mode.name}] no client timeout: a client with withKeepAliveInterval(60000) idle 4 s stays connected`, async () => {
        const c = await connect(server.hubUrl, { mode, keepAliveInterval: 60000, serverTimeout: 120000 });
        await sleep(4000);
        assert.deepEqual(c.events.closed, []);
        assert.equal(c.state, HubConnectionState.Connected);
        assert.equal(await c.invoke('Add', 2, 2), 4);
        await c.stop();
      });
      continue;
    }
    test(`[${mode.name}] client withKeepAliveInterval(60000) idle: the server closes it within ~5 s`, async () => {
      const t0 = Date.now();
      const c = await connect(server.hubUrl, { mode, keepAliveInterval: 60000, serverTimeout: 120000 });
      const id = c.connectionId;
      await waitFor(() => c.events.closed.length > 0, 6000, 'server-side client timeout');
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 1800, `closed after ${elapsed} ms, before the 2 s client timeout`);
      assert.equal(c.state, HubConnectionState.Disconnected);
      await waitFor(async () => (await events(observer)).some((e) => e.startsWith('disconnected') && e.endsWith(`:${id}`)),
        5000, 'server OnDisconnected after the client timeout');
    });

    test(`[${mode.name}] client timeout with withAutomaticReconnect: the client reconnects with a new id`, async () => {
      const c = await connect(server.hubUrl, { mode, keepAliveInterval: 60000, serverTimeout: 120000, reconnect: [0] });
      const oldId = c.connectionId;
      await waitFor(() => c.events.reconnecting.length > 0, 6000, 'onreconnecting after the client timeout');
      await waitFor(() => c.events.reconnected.length > 0, 5000, 'onreconnected');
      assert.notEqual(c.connectionId, oldId);
      assert.deepEqual(c.events.closed, []);
      await c.stop();
    });

    test(`[${mode.name}] a client pinging every 500 ms is not timed out (idle 4 s)`, async () => {
      const c = await connect(server.hubUrl, { mode, keepAliveInterval: 500 });
      await sleep(4000);
      assert.deepEqual(c.events.closed, []);
      assert.equal(c.state, HubConnectionState.Connected);
      assert.equal(await c.invoke('Add', 2, 2), 4);
      await c.stop();
    });
  }

  test('raw WS: a client that pinged once and then goes quiet gets Close{allowReconnect: true} and a close after ~2 s', async () => {
    const p = rawWs(server.hubUrl);
    assert.equal(await p.handshake('json', 1), '{}\x1e');
    p.sendRecord({ type: 6 });
    const t0 = Date.now();
    const close = await p.waitForRecord((r) => r.type === 7, 6000, 'Close message after the client timeout');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1800, `Close after ${elapsed} ms, before the 2 s client timeout`);
    assert.equal(close.allowReconnect, true, `client timeout keeps allowReconnect: ${JSON.stringify(close)}`);
    await within(p.closed, 5000, 'socket closed after Close');
    const recs = p.records();
    assert.equal(recs[recs.length - 1].type, 7, 'Close is the last message');
  });
});
