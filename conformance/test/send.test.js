'use strict';
// §5.4 send_fire_and_forget and §5.5 batched_messages.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, listen, sleep, QUIET_MS,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  test(`[${mode.name}] send("SetItem") resolves; a later GetItem sees the value (items persist across invocations)`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const r = await c.send('SetItem', 'k', 1);
    assert.equal(r, undefined);
    assert.equal(await c.invoke('GetItem', 'k'), 1);
    await c.invoke('SetItem', 'obj', { nested: ['v', 2] });
    assert.deepEqual(await c.invoke('GetItem', 'obj'), { nested: ['v', 2] });
    assert.equal(await c.invoke('GetItem', 'k'), 1, 'an older item survives later invocations');
    await c.stop();
  });

  test(`[${mode.name}] items are per connection and start empty`, async () => {
    const a = await connect(server.hubUrl, { mode });
    const b = await connect(server.hubUrl, { mode });
    await a.invoke('SetItem', 'shared-key', 'a-value');
    const fromB = await b.invoke('GetItem', 'shared-key');
    assert.ok(fromB === null || fromB === undefined, `B saw A's item: ${JSON.stringify(fromB)}`);
    await b.invoke('SetItem', 'shared-key', 'b-value');
    assert.equal(await a.invoke('GetItem', 'shared-key'), 'a-value');
    assert.equal(await b.invoke('GetItem', 'shared-key'), 'b-value');
    await Promise.all([a.stop(), b.stop()]);
  });

  test(`[${mode.name}] 200 SetItem sends without await, then one invoke: all processed in order`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const sends = [];
    for (let i = 0; i < 200; i++) sends.push(c.send('SetItem', 'seq', i));
    const last = await c.invoke('GetItem', 'seq');
    await Promise.all(sends);
    assert.equal(last, 199, 'the invoke queued after 200 sends must see the last one applied');
    await c.stop();
  });

  test(`[${mode.name}] 200 SendToCaller sends without await: all 200 echoed back exactly once, in order`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const got = listen(c, 'seq');
    const sends = [];
    for (let i = 0; i < 200; i++) sends.push(c.send('SendToCaller', 'seq', i));
    assert.equal(await c.invoke('Add', 1, 1), 2);
    await Promise.all(sends);
    await waitFor(() => got.length >= 200, 5000, `200 seq messages (got ${got.length})`);
    await sleep(QUIET_MS);
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i));
    await c.stop();
  });

  test(`[${mode.name}] a send whose method throws produces nothing and the connection stays usable`, async () => {
    const c = await connect(server.hubUrl, { mode });
    await c.send('Throw');
    await c.send('ThrowHub', 'ignored');
    await c.send('NoSuchMethod', 1, 2);
    assert.equal(await c.invoke('Add', 2, 3), 5);
    assert.equal(c.state, 'Connected');
    assert.deepEqual(c.events.closed, []);
    await c.stop();
  });
}
