'use strict';
// §5.15 abort_no_reconnect, §5.16 close_allow_reconnect, §5.17 auto_reconnect_on_drop (every transport).
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, sleep, QUIET_MS, HubConnectionState,
  CountingHttpClient, HttpTransportType, events
} = require('../lib/harness');

const CLOSE_ERROR = 'Server returned an error on close: Connection closed with an error.';

let server;
let observer;
before(async () => {
  server = await startServer();
  observer = await connect(server.hubUrl);
});
after(async () => { await stopConnections(); await server.stop(); });

// An EventSource cannot tell a cut stream from a finished one: the JS client's
// SSE transport reports every server-side end as a clean close (no error);
// with a reconnect policy it still reconnects.
const sseCannotSeeErrors = (mode) => mode.transport === HttpTransportType.ServerSentEvents;

async function serverEventsFor(id) {
  return (await events(observer)).filter((e) => e.endsWith(`:${id}`));
}

for (const mode of modes()) {
  test(`[${mode.name}] Abort: onclose fires without error and no onreconnecting even withAutomaticReconnect`, async () => {
    const c = await connect(server.hubUrl, { mode, reconnect: [0, 0, 0] });
    const id = c.connectionId;
    c.invoke('Abort').catch(() => {});
    await waitFor(() => c.events.closed.length > 0, 5000, 'onclose after Abort');
    assert.equal(c.events.closed[0], undefined, `Abort sends Close without error; got ${c.events.closed[0]}`);
    await sleep(QUIET_MS);
    assert.deepEqual(c.events.reconnecting, []);
    assert.deepEqual(c.events.reconnected, []);
    assert.equal(c.events.closed.length, 1);
    assert.equal(c.state, HubConnectionState.Disconnected);
    await waitFor(async () => (await serverEventsFor(id)).some((e) => e.startsWith('disconnected')), 5000, 'server OnDisconnected after Abort');
  });

  test(`[${mode.name}] Abort without a reconnect policy: onclose, connection unusable, a new start() works`, async () => {
    const c = await connect(server.hubUrl, { mode });
    c.invoke('Abort').catch(() => {});
    await waitFor(() => c.events.closed.length > 0, 5000, 'onclose after Abort');
    assert.equal(c.events.closed[0], undefined);
    await assert.rejects(c.invoke('Add', 1, 2));
    await c.start();
    assert.equal(await c.invoke('Add', 1, 2), 3);
    await c.stop();
  });

  test(`[${mode.name}] CloseWithReconnect + withAutomaticReconnect([0]): onreconnecting(close error) then onreconnected(new id)`, async () => {
    const http = new CountingHttpClient();
    const c = await connect(server.hubUrl, { mode, reconnect: [0], httpClient: http });
    const oldId = c.connectionId;
    assert.equal(http.count(/\/negotiate\?/), 1);
    c.invoke('CloseWithReconnect').catch(() => {});
    await waitFor(() => c.events.reconnected.length > 0, 5000, 'onreconnected');
    assert.equal(c.events.reconnecting.length, 1);
    assert.ok(c.events.reconnecting[0] instanceof Error, `onreconnecting error: ${c.events.reconnecting[0]}`);
    assert.equal(c.events.reconnecting[0].message, CLOSE_ERROR);
    const newId = c.events.reconnected[0];
    assert.equal(typeof newId, 'string');
    assert.notEqual(newId, oldId);
    assert.equal(c.connectionId, newId);
    assert.equal(http.count(/\/negotiate\?/), 2, 'a normal reconnect negotiates again');
    assert.equal(c.state, HubConnectionState.Connected);
    assert.equal(await c.invoke('GetConnectionId'), newId);
    assert.deepEqual(c.events.closed, []);
    const oldEvents = await waitFor(async () => {
      const ev = await serverEventsFor(oldId);
      return ev.some((e) => e.startsWith('disconnected')) && ev;
    }, 5000, 'server OnDisconnected for the old id');
    assert.equal(oldEvents[0], `connected:${oldId}`);
    await c.stop();
  });

  test(`[${mode.name}] CloseWithReconnect without a reconnect policy: onclose(Error("${CLOSE_ERROR}"))`, async () => {
    const c = await connect(server.hubUrl, { mode });
    c.invoke('CloseWithReconnect').catch(() => {});
    await waitFor(() => c.events.closed.length > 0, 5000, 'onclose');
    const err = c.events.closed[0];
    assert.ok(err instanceof Error, `onclose error: ${err}`);
    assert.equal(err.message, CLOSE_ERROR);
    assert.deepEqual(c.events.reconnecting, []);
    assert.equal(c.state, HubConnectionState.Disconnected);
  });

  test(`[${mode.name}] Drop (unclean) with withAutomaticReconnect([0]): reconnects with a new id`, async () => {
    const c = await connect(server.hubUrl, { mode, reconnect: [0, 200, 500] });
    const oldId = c.connectionId;
    c.invoke('Drop').catch(() => {});
    await waitFor(() => c.events.reconnected.length > 0, 8000, 'onreconnected after Drop');
    assert.equal(c.events.reconnecting.length, 1);
    if (sseCannotSeeErrors(mode)) assert.equal(c.events.reconnecting[0], undefined);
    else assert.ok(c.events.reconnecting[0] instanceof Error, `a drop is an error: ${c.events.reconnecting[0]}`);
    assert.notEqual(c.events.reconnected[0], oldId);
    assert.equal(await c.invoke('Add', 40, 2), 42);
    assert.deepEqual(c.events.closed, []);
    await waitFor(async () => (await serverEventsFor(oldId)).some((e) => e.startsWith('disconnected')), 5000, 'server OnDisconnected for the dropped id');
    await c.stop();
  });

  test(`[${mode.name}] Drop without a policy: onclose ${sseCannotSeeErrors(mode) ? '(undefined: EventSource hides the cut)' : 'with an error'}`, async () => {
    const c = await connect(server.hubUrl, { mode });
    c.invoke('Drop').catch(() => {});
    await waitFor(() => c.events.closed.length > 0, 5000, 'onclose after Drop');
    if (sseCannotSeeErrors(mode)) assert.equal(c.events.closed[0], undefined);
    else assert.ok(c.events.closed[0] instanceof Error, `an unclean drop must surface as an error, got ${c.events.closed[0]}`);
    assert.equal(c.state, HubConnectionState.Disconnected);
  });
}
