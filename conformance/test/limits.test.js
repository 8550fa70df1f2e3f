'use strict';
// §5.21 max_message_size (default MaximumReceiveMessageSize 32768).
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, HubConnectionState,
} = require('../lib/harness');

const CLOSE_ERROR = 'Server returned an error on close: Connection closed with an error.';

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  test(`[${mode.name}] a 30 KB message passes the 32 KB default limit`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const s = 'y'.repeat(30 * 1024);
    assert.equal(await c.invoke('Echo', s), s);
    await c.send('SetItem', 'big', s);
    assert.equal((await c.invoke('GetItem', 'big')).length, s.length);
    assert.equal(c.state, HubConnectionState.Connected);
    await c.stop();
  });

  test(`[${mode.name}] a 40 KB send closes only that connection with "${CLOSE_ERROR}"`, async () => {
    const bystander = await connect(server.hubUrl, { mode });
    const c = await connect(server.hubUrl, { mode });
    await c.send('Echo', 'x'.repeat(40 * 1024));
    await waitFor(() => c.events.closed.length > 0, 5000, 'onclose after the oversized message');
    const err = c.events.closed[0];
    assert.ok(err instanceof Error, `expected an error, got ${err}`);
    assert.equal(err.message, CLOSE_ERROR);
    assert.equal(c.state, HubConnectionState.Disconnected);
    assert.equal(await bystander.invoke('Add', 40, 2), 42, 'another connection is unaffected');
    assert.equal(bystander.state, HubConnectionState.Connected);
    await bystander.stop();
  });

  test(`[${mode.name}] an oversized invoke with withAutomaticReconnect reconnects (Close allowReconnect: true)`, async () => {
    const c = await connect(server.hubUrl, { mode, reconnect: [0] });
    const oldId = c.connectionId;
    const p = c.invoke('Echo', 'x'.repeat(40 * 1024)).then(() => null, (e) => e);
    await waitFor(() => c.events.reconnected.length > 0, 5000, 'onreconnected');
    assert.equal(c.events.reconnecting.length, 1);
    assert.equal(c.events.reconnecting[0] && c.events.reconnecting[0].message, CLOSE_ERROR);
    const invokeErr = await p;
    assert.ok(invokeErr instanceof Error, 'the oversized invoke must not get a result');
    assert.notEqual(c.connectionId, oldId);
    assert.equal(await c.invoke('Add', 1, 1), 2);
    await c.stop();
  });
}
