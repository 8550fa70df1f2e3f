'use strict';
// §5.24 raw_transport_rules (WebSockets part), §5.23 skipNegotiation, §1.10 non-blocking invocations, §1.14 Close on protocol errors.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, rawWs, rawNegotiate, waitFor, within, sleep, QUIET_MS,
  CountingHttpClient, HttpTransportType, RS, events
} = require('../lib/harness');

let server;
let bystander;
before(async () => {
  server = await startServer();
  bystander = await connect(server.hubUrl);
});
after(async () => { await stopConnections(); await server.stop(); });

async function handshaken(opts) {
  const p = rawWs(server.hubUrl, opts);
  assert.equal(await p.handshake('json', 1), '{}' + RS);
  return p;
}

test('WS upgrade with an unknown id gives 404 before the upgrade', async () => {
  const p = rawWs(server.hubUrl, { id: 'AAAAAAAAAAAAAAAAAAAAAA' });
  assert.deepEqual(await p.opened, { status: 404 });
});

test('a second WS on an active connection id gives 409 and the first keeps working', async () => {
  const n = await rawNegotiate(server.hubUrl);
  const first = await handshaken({ id: n.json.connectionToken });
  const second = rawWs(server.hubUrl, { id: n.json.connectionToken });
  assert.deepEqual(await second.opened, { status: 409 });
  first.sendRecord({ type: 1, invocationId: '1', target: 'GetConnectionId', arguments: [] });
  const done = await first.waitForRecord((r) => r.type === 3 && r.invocationId === '1');
  assert.equal(done.result, n.json.connectionId, 'GetConnectionId is the public connectionId, not the token');
  first.close();
  await first.closed;
});

test('the connectionId (not the token) is not accepted as ?id= for a v1 negotiate', async () => {
  const n = await rawNegotiate(server.hubUrl);
  const p = rawWs(server.hubUrl, { id: n.json.connectionId });
  assert.deepEqual(await p.opened, { status: 404 });
});

test('a connection token cannot be reused after its connection ended (404)', async () => {
  const n = await rawNegotiate(server.hubUrl);
  const p = await handshaken({ id: n.json.connectionToken });
  p.close();
  await p.closed;
  await waitFor(async () => {
    const again = rawWs(server.hubUrl, { id: n.json.connectionToken });
    const r = await again.opened;
    if (r === 'open') again.terminate();
    return r && r.status === 404;
  }, 3000, 'reuse of an ended connection token gives 404');
});

test('v0 negotiate: the connectionId is the ?id= for the WebSocket', async () => {
  const n = await rawNegotiate(server.hubUrl, '');
  assert.equal(n.json.negotiateVersion, 0);
  const p = await handshaken({ id: n.json.connectionId });
  p.sendRecord({ type: 1, invocationId: '1', target: 'GetConnectionId', arguments: [] });
  const done = await p.waitForRecord((r) => r.type === 3 && r.invocationId === '1');
  assert.equal(done.result, n.json.connectionId);
  p.close();
  await p.closed;
});

test('official client with skipNegotiation + WebSockets works and makes 0 negotiate calls', async () => {
  const http = new CountingHttpClient();
  const c = await connect(server.hubUrl, { transport: HttpTransportType.WebSockets, skipNegotiation: true, httpClient: http });
  assert.equal(await c.invoke('Add', 40, 2), 42);
  const id = await c.invoke('GetConnectionId');
  assert.equal(typeof id, 'string');
  assert.ok(id.length > 0);
  assert.equal(http.count(/negotiate/), 0, `requests: ${JSON.stringify(http.requests)}`);
  const log = await events(bystander);
  assert.ok(log.includes(`connected:${id}`), 'a skipNegotiation connection is a normal connection');
  await c.stop();

  const http2 = new CountingHttpClient();
  const c2 = await connect(server.hubUrl, { httpClient: http2 });
  assert.equal(http2.count(/\/negotiate\?negotiateVersion=1/), 1, 'control: a normal start negotiates once');
  await c2.stop();
});

test('several invocations in one WS frame are all processed, in order', async () => {
  const p = await handshaken();
  const batch = [
    { type: 1, invocationId: 'a', target: 'SetItem', arguments: ['k', 'first'] },
    { type: 1, invocationId: 'b', target: 'GetItem', arguments: ['k'] },
    { type: 1, invocationId: 'c', target: 'SetItem', arguments: ['k', 'second'] },
    { type: 1, invocationId: 'd', target: 'GetItem', arguments: ['k'] },
    { type: 6 },
  ].map((m) => JSON.stringify(m) + RS).join('');
  p.send(batch);
  await p.waitForRecord((r) => r.type === 3 && r.invocationId === 'd');
  const completions = p.records().filter((r) => r.type === 3);
  assert.deepEqual(completions.map((r) => r.invocationId), ['a', 'b', 'c', 'd']);
  assert.equal(completions[1].result, 'first');
  assert.equal(completions[3].result, 'second');
  p.close();
  await p.closed;
});

test('non-blocking invocations (no invocationId) of failing methods get no Completion', async () => {
  const p = await handshaken();
  p.sendRecord({ type: 1, target: 'Throw', arguments: [] });
  p.sendRecord({ type: 1, target: 'ThrowHub', arguments: ['boom'] });
  p.sendRecord({ type: 1, target: 'NoSuchMethod', arguments: [] });
  p.sendRecord({ type: 1, target: 'Add', arguments: [1] });
  p.sendRecord({ type: 1, target: 'Echo', arguments: ['no reply either'] });
  p.sendRecord({ type: 1, invocationId: '1', target: 'Add', arguments: [1, 2] });
  await p.waitForRecord((r) => r.type === 3 && r.invocationId === '1');
  await sleep(QUIET_MS);
  const others = p.records().slice(1).filter((r) => r.type !== 6);
  assert.deepEqual(others, [{ type: 3, invocationId: '1', result: 3 }]);
  p.close();
  await p.closed;
});

test('a malformed JSON record gets Close{error, allowReconnect: true} and a close; other connections keep working', async () => {
  const p = await handshaken();
  p.send('{"type":1,"invocationId":"1","target":"Echo","arguments":[}' + RS);
  const close = await p.waitForRecord((r) => r.type === 7, 5000, 'Close message');
  assert.deepEqual(close, { type: 7, error: 'Connection closed with an error.', allowReconnect: true });
  const info = await within(p.closed, 5000, 'socket closed after Close');
  assert.equal(info.code, 1000, 'the Close message is followed by a normal WebSocket close');
  assert.ok(!p.records().some((r) => r.type === 3), 'no Completion for the malformed invocation');
  assert.equal(await bystander.invoke('Add', 40, 2), 42);
});

test('a record that is valid JSON but not a hub message (missing type) also closes with Close{error}', async () => {
  const p = await handshaken();
  p.send('{"invocationId":"1","target":"Echo","arguments":[1]}' + RS);
  const close = await p.waitForRecord((r) => r.type === 7, 5000, 'Close message');
  assert.equal(close.error, 'Connection closed with an error.');
  await within(p.closed, 5000, 'socket closed after Close');
  assert.equal(await bystander.invoke('Add', 1, 1), 2);
});

test('invalid UTF-8 in a text frame ends that connection (hub Close or WebSocket close 1007); others keep working', async () => {
  const p = await handshaken();
  p.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x1e]), { binary: false });
  const info = await within(p.closed, 5000, 'server ends the connection after invalid UTF-8');
  const close = p.records().find((r) => r.type === 7);
  assert.ok((close && close.error === 'Connection closed with an error.') || info.code === 1007,
    `expected a hub Close with error or close code 1007, got close ${JSON.stringify(info)} and records ${JSON.stringify(p.records())}`);
  assert.equal(await bystander.invoke('Add', 2, 2), 4);
});

test('HTTP POST with the id of a WebSockets connection gives 405', async () => {
  const n = await rawNegotiate(server.hubUrl);
  const p = await handshaken({ id: n.json.connectionToken });
  const res = await fetch(`${server.hubUrl}?id=${n.json.connectionToken}`, {
    method: 'POST', body: JSON.stringify({ type: 6 }) + RS, headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
  });
  await res.arrayBuffer();
  assert.equal(res.status, 405);
  p.sendRecord({ type: 1, invocationId: '1', target: 'Add', arguments: [2, 3] });
  assert.equal((await p.waitForRecord((r) => r.type === 3 && r.invocationId === '1')).result, 5);
  p.close();
  await p.closed;
});

test('a client hub Close message ends the connection cleanly (server logs disconnected, not disconnected-error)', async () => {
  const p = await handshaken();
  p.sendRecord({ type: 1, invocationId: '1', target: 'GetConnectionId', arguments: [] });
  const id = (await p.waitForRecord((r) => r.type === 3 && r.invocationId === '1')).result;
  p.sendRecord({ type: 7 });
  await within(p.closed, 5000, 'server closes after the client Close');
  const ev = await waitFor(async () => {
    const all = (await events(bystander)).filter((e) => e.endsWith(`:${id}`));
    return all.length >= 2 && all;
  }, 5000, 'connected + disconnected events');
  assert.deepEqual(ev, [`connected:${id}`, `disconnected:${id}`]);
});
