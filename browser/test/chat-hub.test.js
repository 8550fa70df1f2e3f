'use strict';
// The demo chat hub (/hubs/chat) as a program sees it, with the official client on Node: the
// rooms the page uses, their limits, and the methods that were there before.

const test = require('node:test');
const assert = require('node:assert/strict');
const signalR = require('@microsoft/signalr');
const { startServer, waitFor } = require('../lib/harness');

async function client(url) {
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/hubs/chat`, { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.None)
    .build();
  conn.heard = [];
  for (const m of ['ReceiveMessage', 'UserJoined', 'UserLeft']) {
    conn.on(m, (...args) => conn.heard.push([m, ...args]));
  }
  await conn.start();
  return conn;
}

const heard = (conn, want) => waitFor(() => conn.heard.some((h) => JSON.stringify(h) === JSON.stringify(want)),
  5000, `${JSON.stringify(want)} (heard ${JSON.stringify(conn.heard)})`);

test('chat hub', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());

  await t.test('rooms: joins, messages and leaves reach the room only', async () => {
    const ann = await client(server.url);
    const bob = await client(server.url);
    const eve = await client(server.url);
    assert.equal(await ann.invoke('JoinRoom', 'tea', 'ann'), 1);
    await heard(ann, ['UserJoined', 'tea', 'ann', 1]);
    assert.equal(await bob.invoke('JoinRoom', ' tea ', ' bob '), 2, 'names are trimmed');
    await heard(ann, ['UserJoined', 'tea', 'bob', 2]);
    await eve.invoke('JoinRoom', 'coffee', 'eve');

    await bob.invoke('SendToRoom', 'tea', 'milk first?');
    await heard(ann, ['ReceiveMessage', 'bob', 'milk first?']);
    await heard(bob, ['ReceiveMessage', 'bob', 'milk first?']);

    await bob.invoke('JoinRoom', 'tea', 'robert'); // joining again changes the name
    await bob.invoke('SendToRoom', 'tea', 'never');
    await heard(ann, ['ReceiveMessage', 'robert', 'never']);

    await bob.invoke('LeaveRoom', 'tea');
    await heard(ann, ['UserLeft', 'tea', 'robert', 1]);
    await assert.rejects(bob.invoke('SendToRoom', 'tea', 'hello?'), /join room "tea" before sending to it/);

    await bob.invoke('JoinRoom', 'tea', 'bob');
    await bob.stop(); // a connection that ends leaves its rooms
    await heard(ann, ['UserLeft', 'tea', 'bob', 1]);
    await ann.stop();
    assert.ok(!eve.heard.some((h) => h[1] === 'tea' || h[1] === 'ann' || h[1] === 'bob' || h[1] === 'robert'),
      `nothing of tea reached coffee: ${JSON.stringify(eve.heard)}`);
    await eve.stop();
  });

  await t.test('rooms: bad names and too many rooms get a clear error', async () => {
    const c = await client(server.url);
    for (const [room, name, why] of [
      ['', 'ann', 'room must not be empty'],
      ['tea', '   ', 'name must not be empty'],
      ['x'.repeat(65), 'ann', 'room is longer than 64 characters'],
      ['tea', 'é'.repeat(33), 'name is longer than 32 characters'],
      ['tea', 'ann\nbob', 'name must not contain control characters'],
    ]) {
      await assert.rejects(c.invoke('JoinRoom', room, name), (e) => e.message.includes(why), why);
    }
    for (let i = 0; i < 16; i++) await c.invoke('JoinRoom', `room-${i}`, 'ann');
    await assert.rejects(c.invoke('JoinRoom', 'room-16', 'ann'), /at most 16 rooms/);
    await c.invoke('JoinRoom', 'room-3', 'ann again'); // a room it is in already still works
    await c.invoke('LeaveRoom', 'room-0');
    await c.invoke('JoinRoom', 'room-16', 'ann');
    await assert.rejects(c.invoke('SendToRoom', 'room-16', '  '), /message must not be empty/);
    assert.equal(c.state, signalR.HubConnectionState.Connected, 'errors do not end the connection');
    await c.stop();
  });

  await t.test('the methods there were before still work', async () => {
    const a = await client(server.url);
    const b = await client(server.url);
    await a.invoke('Send', 'a', 'to everyone');
    await heard(b, ['ReceiveMessage', 'a', 'to everyone']);
    await b.invoke('JoinGroup', 'g');
    await a.invoke('SendToGroup', 'g', 'a', 'to g');
    await heard(b, ['ReceiveMessage', 'a', 'to g']);
    await b.invoke('LeaveGroup', 'g');
    assert.equal(await a.invoke('WhoAmI'), null);
    assert.ok(!b.heard.some((h) => h[0] === 'UserJoined'), 'JoinGroup says nothing to the group');
    await a.stop();
    await b.stop();
  });
});
