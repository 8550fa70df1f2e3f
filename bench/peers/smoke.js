'use strict';
// Smoke check of a benchmark target with the official @microsoft/signalr client (Node 20):
// Echo, SendToAll to two clients, JoinGroup / SendToGroup / LeaveGroup, over WebSockets, for
// each protocol given. The client packages come from ../../conformance (run `npm ci` there).
//
//   node bench/peers/smoke.js http://127.0.0.1:PORT/hubs/conformance [json] [messagepack]
//
// Exit status 0 when every check passed.

const path = require('node:path');
const assert = require('node:assert/strict');
const { createRequire } = require('node:module');

const req = createRequire(path.join(__dirname, '..', '..', 'conformance', 'package.json'));
const signalR = req('@microsoft/signalr');
const { MessagePackHubProtocol } = req('@microsoft/signalr-protocol-msgpack');

const url = process.argv[2];
const protocols = process.argv.length > 3 ? process.argv.slice(3) : ['json', 'messagepack'];

function connect(protocol) {
  const b = new signalR.HubConnectionBuilder()
    .withUrl(url, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(process.env.SMOKE_DEBUG ? signalR.LogLevel.Trace : signalR.LogLevel.Warning);
  if (protocol === 'messagepack') b.withHubProtocol(new MessagePackHubProtocol());
  return b.build();
}

// received records what a connection gets for method.
function received(conn, method) {
  const got = [];
  conn.on(method, (x) => { got.push(x); });
  return got;
}

async function waitFor(cond, what, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function check(protocol) {
  const a = connect(protocol);
  const b = connect(protocol);
  await a.start();
  await b.start();
  try {
    const value = { s: 'héllo 🌍', n: 42, f: -1.5, l: [1, 'two', null], t: true };
    assert.deepEqual(await a.invoke('Echo', value), value, 'Echo object');
    assert.equal(await a.invoke('Echo', 'x'.repeat(20000)), 'x'.repeat(20000), 'Echo 20 KB');
    if (protocol === 'messagepack') {
      const bin = new Uint8Array([0, 1, 2, 255]);
      assert.deepEqual(new Uint8Array(await a.invoke('Echo', bin)), bin, 'Echo binary');
    }

    const ga = received(a, 'tick');
    const gb = received(b, 'tick');
    const r = await a.invoke('SendToAll', 'tick', { k: 1 });
    assert.ok(r === null || r === undefined, `SendToAll result ${r}`);
    await waitFor(() => ga.length === 1 && gb.length === 1, 'SendToAll to both');
    assert.deepEqual(ga[0], { k: 1 });
    assert.deepEqual(gb[0], { k: 1 });

    const ma = received(a, 'room');
    const mb = received(b, 'room');
    await b.invoke('JoinGroup', 'g1');
    await a.invoke('SendToGroup', 'g1', 'room', 'hi');
    await waitFor(() => mb.length === 1, 'SendToGroup to the member');
    await b.invoke('LeaveGroup', 'g1');
    await a.invoke('SendToGroup', 'g1', 'room', 'gone');
    await a.invoke('Echo', 1); // a round trip for anything in flight
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(ma, [], 'non-member got a group message');
    assert.deepEqual(mb, ['hi'], 'member after leaving');
    console.log(`${protocol}: Echo, SendToAll, JoinGroup/SendToGroup/LeaveGroup ok`);
  } finally {
    await a.stop();
    await b.stop();
  }
}

(async () => {
  for (const p of protocols) await check(p);
})().catch((err) => {
  console.error('FAIL:', err && err.stack ? err.stack : err);
  process.exit(1);
});
