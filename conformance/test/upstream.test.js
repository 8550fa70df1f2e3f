'use strict';
// Upstream (serverless) hubs (docs/service-api.md): `-upstream-hub serverless=<backend>/{hub}/api/{category}/{event}`
// has no Go code; the official client's connected/disconnected events and invocations are POSTed to a Node
// backend in Azure SignalR Service's upstream format, and the backend's answers become the invocations'
// results. Clients come through an application server's negotiate redirect, as in Azure's serverless mode.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, listen,
} = require('../lib/harness');
const { ACCESS_KEY, rest, startAppServer, startBackend } = require('../lib/service');

let server;
let app;
let backend;

before(async () => {
  backend = await startBackend();
  server = await startServer(['-access-key', ACCESS_KEY, '-upstream-hub', `serverless=${backend.url}/{hub}/api/{category}/{event}`]);
  app = await startAppServer(() => (server.nodes || [server]).map((s) => s.url));
});
after(async () => {
  await stopConnections();
  await app.close();
  await server.stop();
  await backend.close();
});

async function client(mode, user) {
  const q = user ? `?user=${encodeURIComponent(user)}` : '';
  return connect(`${app.url}/serverless${q}`, { mode });
}

function requestsOf(id) {
  return backend.requests.filter((r) => r.headers['x-asrs-connection-id'] === id);
}

for (const mode of modes()) {
  test(`[${mode.name}] connected, invocations and disconnected reach the backend signed; its answers are the results`, async () => {
    const c = await client(mode, 'alice');
    const id = c.connectionId;
    await waitFor(() => backend.events(id).includes('connected'), 5000, 'the connected event');
    const conn = requestsOf(id)[0];
    assert.equal(conn.path, '/serverless/api/connections/connected');
    assert.equal(conn.headers['x-asrs-hub'], 'serverless');
    assert.equal(conn.headers['x-asrs-category'], 'connections');
    assert.equal(conn.headers['x-asrs-user-id'], 'alice');
    assert.equal(conn.headers['x-asrs-user-claims'], 'role: tester');
    // The query of the connection's request, without its secrets (long polling adds its own "_").
    const query = new URLSearchParams(conn.headers['x-asrs-client-query']);
    assert.equal(query.get('hub'), 'serverless', conn.headers['x-asrs-client-query']);
    assert.ok(!query.has('id') && !query.has('access_token'), conn.headers['x-asrs-client-query']);
    assert.ok(conn.signatureOk, `signature ${conn.headers['x-asrs-signature']}`);
    assert.equal(conn.body.toString(), '{"type":10}');

    assert.deepEqual(await c.invoke('echo', { a: [1, 'x'], b: true }), { a: [1, 'x'], b: true });
    const echo = requestsOf(id).find((r) => r.headers['x-asrs-event'] === 'echo');
    assert.equal(echo.path, '/serverless/api/messages/echo');
    assert.equal(echo.headers['content-type'], mode.protocol === 'json' ? 'application/json' : 'application/x-msgpack');
    assert.ok(echo.signatureOk);
    assert.equal(echo.invocation.target, 'echo');
    assert.ok(echo.invocation.invocationId, 'a blocking invocation has its id');
    if (mode.protocol === 'json') {
      // What the Azure Functions extension answers: a Completion message.
      assert.deepEqual(await c.invoke('completion', 5), { via: 'completion', arg: 5 });
    }
    await assert.rejects(c.invoke('fail'), (e) => e.message === "An unexpected error occurred invoking 'fail' on the server.");
    assert.equal(await c.invoke('nothing'), null);

    await c.send('notify', 7);
    await waitFor(() => requestsOf(id).some((r) => r.headers['x-asrs-event'] === 'notify'), 5000, 'the non-blocking invocation');
    const notify = requestsOf(id).find((r) => r.headers['x-asrs-event'] === 'notify');
    assert.ok(!notify.invocation.invocationId, 'a non-blocking invocation has no id');
    assert.deepEqual(notify.invocation.arguments, [7]);

    // The REST API reaches the clients of an upstream hub too.
    const got = listen(c, 'fromRest');
    const r = await rest(server.url, 'POST', '/api/hubs/serverless/:send', { body: { target: 'fromRest', arguments: ['hello'] } });
    assert.equal(r.status, 202);
    await waitFor(() => got.length === 1, 5000, 'the REST send');
    assert.equal(got[0], 'hello');

    await c.stop();
    await waitFor(() => backend.events(id).at(-1) === 'disconnected', 5000, () => `disconnected last: ${backend.events(id)}`);
    const events = backend.events(id);
    assert.equal(events[0], 'connected');
    assert.equal(events.filter((e) => e === 'connected' || e === 'disconnected').length, 2, `${events}`);
    assert.equal(requestsOf(id).at(-1).body.toString(), '{"type":11}');
  });

  test(`[${mode.name}] one connection's invocations go in order; a slow backend holds only that connection`, async () => {
    const c1 = await client(mode, 'slowpoke');
    const c2 = await client(mode, 'quick');
    const release = backend.hold();
    const slow = c1.invoke('slow', 1);
    const after = c1.invoke('echo', 2);
    assert.equal(await c2.invoke('echo', 3), 3, 'another connection is not held up');
    await waitFor(() => requestsOf(c1.connectionId).some((r) => r.headers['x-asrs-event'] === 'slow'), 5000, 'the slow request');
    assert.ok(!requestsOf(c1.connectionId).some((r) => r.headers['x-asrs-event'] === 'echo'), 'the second went before the first answered');
    release();
    assert.equal(await slow, 1);
    assert.equal(await after, 2);
    const order = backend.events(c1.connectionId).filter((e) => e === 'slow' || e === 'echo');
    assert.deepEqual(order, ['slow', 'echo']);
    await Promise.all([c1.stop(), c2.stop()]);
  });
}
