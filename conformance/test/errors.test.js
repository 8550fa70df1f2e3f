'use strict';
// §5.6 error_strings (ASP.NET Core texts, signalr-protocol.md §1.18).
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

async function rejectsWith(promise, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    assert.equal(err.message, message);
    return true;
  });
}

for (const mode of modes()) {
  let c;
  const conn = async () => {
    if (!c) c = await connect(server.hubUrl, { mode });
    return c;
  };

  test(`[${mode.name}] Throw -> "An unexpected error occurred invoking 'Throw' on the server."`, async () => {
    const c = await conn();
    await rejectsWith(c.invoke('Throw'), "An unexpected error occurred invoking 'Throw' on the server.");
  });

  test(`[${mode.name}] ThrowHub("boom") -> "... on the server. HubException: boom"`, async () => {
    const c = await conn();
    await rejectsWith(c.invoke('ThrowHub', 'boom'), "An unexpected error occurred invoking 'ThrowHub' on the server. HubException: boom");
    await rejectsWith(c.invoke('throwhub', 'ünïcödé 🎉'), "An unexpected error occurred invoking 'throwhub' on the server. HubException: ünïcödé 🎉");
  });

  test(`[${mode.name}] unknown method -> "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."`, async () => {
    const c = await conn();
    await rejectsWith(c.invoke('Nope'), "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.");
    await rejectsWith(c.invoke('Nope', 1, 'two', { three: 3 }), "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.");
  });

  test(`[${mode.name}] wrong argument count -> "Failed to invoke 'Add' due to an error on the server."`, async () => {
    const c = await conn();
    await rejectsWith(c.invoke('Add', 1), "Failed to invoke 'Add' due to an error on the server.");
    await rejectsWith(c.invoke('Add'), "Failed to invoke 'Add' due to an error on the server.");
    await rejectsWith(c.invoke('Add', 1, 2, 3), "Failed to invoke 'Add' due to an error on the server.");
    await rejectsWith(c.invoke('Echo'), "Failed to invoke 'Echo' due to an error on the server.");
  });

  test(`[${mode.name}] wrong argument type -> "Failed to invoke 'Add' due to an error on the server."`, async () => {
    const c = await conn();
    await rejectsWith(c.invoke('Add', 'forty', 2), "Failed to invoke 'Add' due to an error on the server.");
    await rejectsWith(c.invoke('Add', { a: 1 }, [2]), "Failed to invoke 'Add' due to an error on the server.");
    await rejectsWith(c.invoke('SendToGroups', 'not-an-array', 'm', 1), "Failed to invoke 'SendToGroups' due to an error on the server.");
  });

  test(`[${mode.name}] the connection stays usable after every kind of error`, async () => {
    const c = await conn();
    const results = await Promise.allSettled([
      c.invoke('Throw'), c.invoke('Add', 40, 2), c.invoke('Nope'), c.invoke('Echo', 'ok'), c.invoke('Add', 'x', 'y'),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected']);
    assert.equal(results[1].value, 42);
    assert.equal(results[3].value, 'ok');
    assert.equal(c.state, 'Connected');
    assert.deepEqual(c.events.closed, []);
    assert.equal(await c.invoke('Add', 1, 2), 3);
  });
}
