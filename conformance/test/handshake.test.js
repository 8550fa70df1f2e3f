'use strict';
// §5.20 handshake_errors, §0.1 (versions 1 and 2), §0.5 (handshake and messages in one frame). Server: -handshake-timeout 1s.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, build, stopConnections, rawWs, rawNegotiate, waitFor, within, signalR, RS,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(['-handshake-timeout', '1s']); });
after(async () => { await stopConnections(); await server.stop(); });

class FooProtocol {
  constructor() {
    this.inner = new signalR.JsonHubProtocol();
    this.name = 'foo';
    this.version = 1;
    this.transferFormat = signalR.TransferFormat.Text;
  }

  parseMessages(input, logger) { return this.inner.parseMessages(input, logger); }

  writeMessage(message) { return this.inner.writeMessage(message); }
}

test('official client with an IHubProtocol named "foo": start() rejects with the server handshake error', async () => {
  const c = build(server.hubUrl, { protocol: new FooProtocol(), logLevel: signalR.LogLevel.None });
  await assert.rejects(c.start(), (err) => {
    assert.equal(err.message, "Server returned handshake error: The protocol 'foo' is not supported.");
    return true;
  });
  assert.equal(c.state, signalR.HubConnectionState.Disconnected);
});

test('raw WS (no id) that sends nothing gets {"error":"Handshake was canceled."} after the 1 s handshake timeout, then a close', async () => {
  const t0 = Date.now();
  const p = rawWs(server.hubUrl);
  assert.equal(await p.opened, 'open');
  const closed = await within(p.closed, 5000, 'server closes the unhandshaken socket');
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 800, `closed after ${elapsed} ms, before the 1 s handshake timeout`);
  assert.equal(p.rawText(), '{"error":"Handshake was canceled."}' + RS);
  assert.equal(closed.code, 1000, 'the app ended normally: WebSocket close 1000 (signalr-protocol.md §1.3)');
});

test('raw WS on a negotiated id that sends nothing gets "Handshake was canceled." too', async () => {
  const n = await rawNegotiate(server.hubUrl);
  const p = rawWs(server.hubUrl, { id: n.json.connectionToken });
  assert.equal(await p.opened, 'open');
  await within(p.closed, 5000, 'server closes the unhandshaken socket');
  assert.deepEqual(p.records(), [{ error: 'Handshake was canceled.' }]);
});

test('raw WS handshake with version 99 -> "The server does not support version 99 of the \'json\' protocol." then close', async () => {
  const p = rawWs(server.hubUrl);
  const first = await p.handshake('json', 99);
  assert.equal(first, '{"error":"The server does not support version 99 of the \'json\' protocol."}' + RS);
  const closed = await within(p.closed, 5000, 'server closes after a handshake error');
  assert.equal(closed.code, 1000);
  assert.equal(p.frames.length, 1, 'nothing after the handshake error');
});

test('raw WS handshake with an unknown protocol -> "The protocol \'foo\' is not supported." then close', async () => {
  const p = rawWs(server.hubUrl);
  const first = await p.handshake('foo', 1);
  assert.deepEqual(JSON.parse(first.replace(RS, '')), { error: "The protocol 'foo' is not supported." });
  assert.ok(first.endsWith(RS));
  await within(p.closed, 5000, 'server closes after a handshake error');
});

for (const version of [1, 2]) {
  test(`raw WS json handshake version ${version} is accepted with {} 0x1E in a text frame, then invocations work`, async () => {
    const p = rawWs(server.hubUrl);
    const first = await p.handshake('json', version);
    assert.equal(first, '{}' + RS);
    assert.equal(p.frames[0].binary, false, 'JSON must use text frames');
    p.sendRecord({ type: 1, invocationId: '1', target: 'Add', arguments: [40, 2] });
    const done = await p.waitForRecord((r) => r.type === 3 && r.invocationId === '1');
    assert.equal(done.result, 42);
    assert.ok(!('error' in done));
    assert.ok(p.frames.every((f) => f.binary === false), 'every JSON frame is a text frame');
    p.close();
    await p.closed;
  });
}

test('raw WS: handshake and an invocation in one frame are both processed', async () => {
  const p = rawWs(server.hubUrl);
  await p.opened;
  p.send('{"protocol":"json","version":1}' + RS + '{"type":1,"invocationId":"7","target":"Echo","arguments":["same frame"]}' + RS);
  const done = await p.waitForRecord((r) => r.type === 3 && r.invocationId === '7');
  assert.equal(done.result, 'same frame');
  assert.ok(p.rawText().startsWith('{}' + RS), `the handshake response comes first: ${JSON.stringify(p.rawText())}`);
  p.close();
  await p.closed;
});

test('the official client still connects to this server (handshake timeout 1 s is not hit by normal clients)', async () => {
  const c = await connect(server.hubUrl);
  assert.equal(await c.invoke('Echo', 'ok'), 'ok');
  await c.stop();
});
