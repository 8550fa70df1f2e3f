'use strict';
// §5.18 keepalive_and_server_timeout (long polling is immune: its case checks that it stays up).
const assert = require('node:assert/strict');
const {
  test, describe, after, startServer, connect, stopConnections, modes, waitFor, sleep, rawWs, HubConnectionState,
  HttpTransportType,
} = require('../lib/harness');

const servers = [];
after(async () => { await stopConnections(); await Promise.all(servers.map((s) => s.stop())); });
async function server(flags) {
  const s = await startServer(flags);
  servers.push(s);
  return s;
}

// The cases are independent (own connections / servers): run them concurrently to keep the suite short.
describe('keep-alive', { concurrency: true }, () => {
  for (const mode of modes()) {
    test(`[${mode.name}] server -keepalive 1s, client withServerTimeout(3000): idle 5 s stays connected`, async () => {
      const s = await server(['-keepalive', '1s']);
      const c = await connect(s.hubUrl, { mode, serverTimeout: 3000 });
      await sleep(5000);
      assert.deepEqual(c.events.closed, []);
      assert.equal(c.state, HubConnectionState.Connected);
      assert.equal(await c.invoke('Add', 1, 2), 3);
      await c.stop();
    });

    if (mode.transport === HttpTransportType.LongPolling) {
      // Long polling keeps itself alive: the server sends no pings and the
      // client runs no server timeout on it.
      test(`[${mode.name}] server -keepalive 10s, client withServerTimeout(1500): idle 3 s stays connected (no server timeout on long polling)`, async () => {
        const s = await server(['-keepalive', '10s']);
        const c = await connect(s.hubUrl, { mode, serverTimeout: 1500 });
        await sleep(3000);
        assert.deepEqual(c.events.closed, []);
        assert.equal(c.state, HubConnectionState.Connected);
        assert.equal(await c.invoke('Add', 1, 2), 3);
        await c.stop();
      });
      continue;
    }
    test(`[${mode.name}] server -keepalive 10s, client withServerTimeout(1500): "Server timeout elapsed without receiving a message from the server."`, async () => {
      const s = await server(['-keepalive', '10s']);
      const t0 = Date.now();
      const c = await connect(s.hubUrl, { mode, serverTimeout: 1500 });
      await waitFor(() => c.events.closed.length > 0, 6000, 'client-side server timeout');
      const elapsed = Date.now() - t0;
      const err = c.events.closed[0];
      assert.ok(err instanceof Error, `expected an error, got ${err}`);
      assert.equal(err.message, 'Server timeout elapsed without receiving a message from the server.');
      assert.ok(elapsed >= 1400, `closed after ${elapsed} ms`);
    });
  }

  test('raw WS: with -keepalive 1s an idle handshaken client receives {"type":6} pings about every second', async () => {
    const s = await server(['-keepalive', '1s']);
    const p = rawWs(s.hubUrl);
    assert.equal(await p.handshake('json', 1), '{}\x1e');
    const t0 = Date.now();
    await waitFor(() => p.records().filter((r) => r.type === 6).length >= 2, 6000, 'two pings');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900, `two pings within ${elapsed} ms is faster than a 1 s keep-alive`);
    for (const r of p.records().slice(1)) assert.deepEqual(r, { type: 6 });
    p.close();
    await p.closed;
  });
});
