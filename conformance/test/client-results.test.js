'use strict';
// §5.14 client_results: the server invokes the caller and awaits its result.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, sleep,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  test(`[${mode.name}] AskClient("GetAnswer") with on("GetAnswer", () => 42) gives 42`, async () => {
    const c = await connect(server.hubUrl, { mode });
    let got;
    c.on('GetAnswer', (arg) => { got = arg; return 42; });
    assert.equal(await c.invoke('AskClient', 'GetAnswer', 'why?'), 42);
    assert.equal(got, 'why?');
    assert.equal(await c.invoke('Echo', 'after'), 'after');
  });

  test(`[${mode.name}] an async handler's result comes back`, async () => {
    const c = await connect(server.hubUrl, { mode });
    c.on('GetObject', async (arg) => { await sleep(50); return { answer: arg, list: [1, 'two'] }; });
    assert.deepEqual(await c.invoke('AskClient', 'GetObject', 7), { answer: 7, list: [1, 'two'] });
  });

  test(`[${mode.name}] no handler: the error carries "Client didn't provide a result."`, async () => {
    const c = await connect(server.hubUrl, { mode, logLevel: 6 });
    await assert.rejects(c.invoke('AskClient', 'NoSuchHandler', null), (e) => {
      assert.match(e.message, /Client didn't provide a result\./);
      return true;
    });
  });

  test(`[${mode.name}] a throwing handler: the error carries "Error: nope"`, async () => {
    const c = await connect(server.hubUrl, { mode, logLevel: 6 });
    c.on('Boom', () => { throw new Error('nope'); });
    await assert.rejects(c.invoke('AskClient', 'Boom', null), (e) => {
      assert.match(e.message, /Error: nope/);
      return true;
    });
    assert.equal(await c.invoke('Echo', 'still usable'), 'still usable');
  });

  test(`[${mode.name}] several client results in a row on one connection`, async () => {
    const c = await connect(server.hubUrl, { mode });
    c.on('Double', (n) => n * 2);
    for (let i = 0; i < 20; i++) assert.equal(await c.invoke('AskClient', 'Double', i), 2 * i);
  });
}
