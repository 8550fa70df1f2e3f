'use strict';
// §5.2 connect/stop and the server-side lifecycle log.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, HubConnectionState, events
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  test(`[${mode.name}] start() connects; connectionId is what the server sees (GetConnectionId)`, async () => {
    const c = await connect(server.hubUrl, { mode });
    assert.equal(c.state, HubConnectionState.Connected);
    assert.equal(typeof c.connectionId, 'string');
    assert.match(c.connectionId, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(await c.invoke('GetConnectionId'), c.connectionId);
    await c.stop();
  });

  test(`[${mode.name}] two connections get distinct ids`, async () => {
    const a = await connect(server.hubUrl, { mode });
    const b = await connect(server.hubUrl, { mode });
    assert.notEqual(a.connectionId, b.connectionId);
    assert.equal(await a.invoke('GetConnectionId'), a.connectionId);
    assert.equal(await b.invoke('GetConnectionId'), b.connectionId);
    await Promise.all([a.stop(), b.stop()]);
  });

  test(`[${mode.name}] stop() gives onclose(undefined); Events shows connected:<id> then disconnected:<id>`, async () => {
    const observer = await connect(server.hubUrl, { mode });
    const c = await connect(server.hubUrl, { mode });
    const id = c.connectionId;
    const mid = await events(observer);
    assert.ok(Array.isArray(mid), `Events must return an array, got ${JSON.stringify(mid)}`);
    assert.ok(mid.includes(`connected:${id}`), `connected:${id} missing from ${JSON.stringify(mid)}`);
    assert.ok(!mid.some((e) => e.endsWith(`:${id}`) && e.startsWith('disconnected')), 'disconnected before stop');

    await c.stop();
    assert.equal(c.state, HubConnectionState.Disconnected);
    assert.deepEqual(c.events.closed, [undefined]);
    assert.deepEqual(c.events.reconnecting, []);

    const log = await waitFor(async () => {
      const ev = await events(observer);
      return ev.some((e) => e.endsWith(`:${id}`) && e.startsWith('disconnected')) && ev;
    }, 5000, `disconnected:${id} in Events`);
    const mine = log.filter((e) => e.endsWith(`:${id}`));
    assert.deepEqual(mine, [`connected:${id}`, `disconnected:${id}`], 'a clean stop() is OnDisconnected(null), not an error');
    await observer.stop();
  });

  test(`[${mode.name}] stop() then start() again gives a new connection id`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const first = c.connectionId;
    await c.stop();
    await c.start();
    assert.equal(c.state, HubConnectionState.Connected);
    assert.notEqual(c.connectionId, first);
    assert.equal(await c.invoke('GetConnectionId'), c.connectionId);
    await c.stop();
  });
}
