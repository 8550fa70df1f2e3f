'use strict';
// MessagePack-only cases: binary values, large frames, and one broadcast read by clients of
// both protocols.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, MATRIX, waitFor, listen,
} = require('../lib/harness');

const JSON_MODE = MATRIX.find((m) => m.name === 'WebSockets+json');
const MSGPACK_MODE = MATRIX.find((m) => m.name === 'WebSockets+messagepack');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

let c;
const conn = async () => {
  if (!c) c = await connect(server.hubUrl, { mode: MSGPACK_MODE });
  return c;
};

test('[WebSockets+messagepack] Echo: a Uint8Array comes back as a Uint8Array with the same bytes', async () => {
  const c = await conn();
  const bytes = new Uint8Array(300);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
  const got = await c.invoke('Echo', bytes);
  assert.ok(got instanceof Uint8Array, `got ${Object.prototype.toString.call(got)}`);
  assert.deepEqual(Array.from(got), Array.from(bytes));

  const empty = await c.invoke('Echo', new Uint8Array(0));
  assert.ok(empty instanceof Uint8Array);
  assert.equal(empty.length, 0);

  const nested = await c.invoke('Echo', { data: new Uint8Array([0, 0x1e, 0xff]), list: [new Uint8Array([1])] });
  assert.ok(nested.data instanceof Uint8Array && nested.list[0] instanceof Uint8Array);
  assert.deepEqual(Array.from(nested.data), [0, 0x1e, 0xff]);
  assert.deepEqual(Array.from(nested.list[0]), [1]);
});

test('[WebSockets+messagepack] Echo: a 20 KB Uint8Array and a 20 KB string (3-byte length prefix)', async () => {
  const c = await conn();
  const big = new Uint8Array(20 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
  const got = await c.invoke('Echo', big);
  assert.ok(got instanceof Uint8Array);
  assert.equal(got.length, big.length);
  assert.ok(got.every((b, i) => b === big[i]), 'bytes differ');

  const s = 'x'.repeat(20 * 1024);
  assert.equal(await c.invoke('Echo', s), s);
});

test('[WebSockets+messagepack] Echo: a Date travels as the timestamp extension', async () => {
  const c = await conn();
  const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
  const got = await c.invoke('Echo', d);
  assert.ok(got instanceof Date, `got ${Object.prototype.toString.call(got)}`);
  assert.equal(got.getTime(), d.getTime());
});

test('[WebSockets+messagepack] Add binds fixints and floats into float64 parameters', async () => {
  const c = await conn();
  assert.equal(await c.invoke('Add', 40, 2), 42);
  assert.equal(await c.invoke('Add', 0.5, -300), -299.5);
  assert.equal(await c.invoke('Add', 2 ** 40, 1), 2 ** 40 + 1);
});

test('a broadcast is received identically by a JSON client and a MessagePack client', async () => {
  const [j, m] = await Promise.all([
    connect(server.hubUrl, { mode: JSON_MODE }),
    connect(server.hubUrl, { mode: MSGPACK_MODE }),
  ]);
  const payload = {
    text: 'héllo 🎉 \u001e',
    n: 42,
    neg: -7,
    big: 2 ** 40,
    f: 3.25,
    ok: true,
    none: null,
    list: [1, 'two', [3], {}],
    nested: { a: { b: ['c'] } },
  };
  for (const [sender, name] of [[m, 'msgpack'], [j, 'json']]) {
    const method = `bcast_${name}_${Date.now()}`;
    const gotJ = listen(j, method);
    const gotM = listen(m, method);
    await sender.invoke('SendToAll', method, payload);
    await waitFor(() => gotJ.length === 1 && gotM.length === 1, 5000, `both clients get the ${name} sender's broadcast`);
    assert.deepEqual(gotJ[0], payload, `JSON client, ${name} sender`);
    assert.deepEqual(gotM[0], payload, `MessagePack client, ${name} sender`);
    assert.deepEqual(gotJ[0], gotM[0]);
  }
});
