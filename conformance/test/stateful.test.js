'use strict';
// §1.16 stateful reconnect (WebSockets, .NET 8+): the official client's withStatefulReconnect() against a server
// started with -stateful-reconnect, and the negative case against one without it.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, within, rawNegotiate, rawWs, listen, RS,
  HubConnectionState, HttpTransportType, events
} = require('../lib/harness');

// Stateful reconnect exists for WebSockets only: the client turns it on for no other transport.
const wsModes = () => modes().filter((m) => m.transport === HttpTransportType.WebSockets);

let server;
let plain;
let observer;
before(async () => {
  [server, plain] = await Promise.all([startServer(['-stateful-reconnect']), startServer()]);
  observer = await connect(server.hubUrl);
});
after(async () => { await stopConnections(); await Promise.all([server.stop(), plain.stop()]); });

async function eventsFor(id) {
  return (await events(observer)).filter((e) => e.endsWith(`:${id}`));
}

test('negotiate echoes useStatefulReconnect only when asked for and allowed', async () => {
  const asked = await rawNegotiate(server.hubUrl, '?negotiateVersion=1&useStatefulReconnect=true');
  assert.equal(asked.json.useStatefulReconnect, true);
  const notAsked = await rawNegotiate(server.hubUrl, '?negotiateVersion=1');
  assert.equal('useStatefulReconnect' in notAsked.json, false, notAsked.text);
  const notAllowed = await rawNegotiate(plain.hubUrl, '?negotiateVersion=1&useStatefulReconnect=true');
  assert.equal('useStatefulReconnect' in notAllowed.json, false, notAllowed.text);
});

test('handshake version 2 is accepted on a stateful connection', async () => {
  const n = await rawNegotiate(server.hubUrl, '?negotiateVersion=1&useStatefulReconnect=true');
  const p = rawWs(server.hubUrl, { id: n.json.connectionToken });
  assert.equal(await p.handshake('json', 2), '{}' + RS);
  p.close();
  await p.closed;
});

for (const mode of wsModes()) {
  test(`[${mode.name}] Drop mid-stream: the client reattaches; every message arrives once, in order, both ways`, async () => {
    const c = await connect(server.hubUrl, { mode, statefulReconnect: true });
    const id = c.connectionId;
    const other = await connect(server.hubUrl, { mode });
    await c.invoke('JoinGroup', 'stateful-' + mode.name);
    await c.invoke('SetItem', 'kept', 'yes');

    // Server to client: 100 stream items, one every 5 ms; client to server: 100 sends.
    const items = [];
    const streamDone = new Promise((resolve, reject) => {
      c.stream('Counter', 100, 5).subscribe({ next: (i) => items.push(i), complete: resolve, error: reject });
    });
    const sends = [];
    for (let i = 0; i < 100; i++) {
      if (i === 30) sends.push(c.send('Drop'));
      sends.push(c.send('AppendItem', 'log', i));
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20));
    }
    await within(Promise.all(sends), 10000, 'sends');
    await within(streamDone, 10000, 'stream');
    assert.deepEqual(items, Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(await c.invoke('GetItem', 'log'), Array.from({ length: 100 }, (_, i) => i));
    assert.equal(await c.invoke('GetItem', 'kept'), 'yes');
    assert.equal(await c.invoke('GetConnectionId'), id);
    assert.equal(c.connectionId, id);
    assert.equal(c.state, HubConnectionState.Connected);
    assert.deepEqual(c.events.reconnecting, []);
    assert.deepEqual(c.events.closed, []);
    assert.deepEqual(await eventsFor(id), [`connected:${id}`]);

    // The group membership survived.
    const grp = listen(c, 'grp');
    await other.invoke('SendToGroup', 'stateful-' + mode.name, 'grp', 'x');
    await waitFor(() => grp.length === 1, 5000, 'group message after reattach');

    await c.stop();
    await waitFor(async () => (await eventsFor(id)).includes(`disconnected:${id}`), 5000, 'clean stop ends it');
    await other.stop();
  });

  test(`[${mode.name}] a server without -stateful-reconnect: the client works without it`, async () => {
    const c = await connect(plain.hubUrl, { mode, statefulReconnect: true });
    assert.equal(await c.invoke('Echo', 'hi'), 'hi');
    const closed = new Promise((resolve) => c.onclose(resolve));
    await c.send('Drop');
    await within(closed, 5000, 'Drop ends the connection');
    assert.equal(c.state, HubConnectionState.Disconnected);
  });
}
