'use strict';
// §5.1 negotiate_shape: raw POST /negotiate probes (no client library).
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, rawNegotiate, build, HttpTransportType, LogLevel,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

const URL_SAFE_22 = /^[A-Za-z0-9_-]{22}$/;
// The server lists the transports it serves, in ASP.NET's fallback order
// (WebSockets, ServerSentEvents, LongPolling).
const EXPECTED_TRANSPORTS = [
  { transport: 'WebSockets', transferFormats: ['Text', 'Binary'] },
  { transport: 'ServerSentEvents', transferFormats: ['Text'] },
  { transport: 'LongPolling', transferFormats: ['Text', 'Binary'] },
];

test('negotiate v1: 200 JSON with distinct URL-safe 22-char connectionId/connectionToken and the served transports in order', async () => {
  const r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  const b = r.json;
  assert.ok(b && typeof b === 'object', `body is not JSON: ${r.text}`);
  assert.equal(b.negotiateVersion, 1);
  assert.match(b.connectionId, URL_SAFE_22);
  assert.match(b.connectionToken, URL_SAFE_22);
  assert.notEqual(b.connectionId, b.connectionToken);
  assert.deepEqual(b.availableTransports, EXPECTED_TRANSPORTS);
  assert.ok(!('useStatefulReconnect' in b), `unexpected useStatefulReconnect in ${r.text}`);
  assert.ok(!('ProtocolVersion' in b), `ProtocolVersion must never appear: ${r.text}`);
  assert.ok(!('error' in b), r.text);
});

test('negotiate v1: every call creates a new connection (ids and tokens all distinct)', async () => {
  const seen = new Set();
  for (let i = 0; i < 5; i++) {
    const r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1');
    assert.equal(r.status, 200);
    seen.add(r.json.connectionId);
    seen.add(r.json.connectionToken);
  }
  assert.equal(seen.size, 10);
});

test('negotiate without version param: negotiateVersion 0 and no connectionToken', async () => {
  const r = await rawNegotiate(server.hubUrl, '');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.negotiateVersion, 0);
  assert.match(r.json.connectionId, URL_SAFE_22);
  assert.ok(!('connectionToken' in r.json), `v0 reply must not carry connectionToken: ${r.text}`);
  assert.deepEqual(r.json.availableTransports, EXPECTED_TRANSPORTS);
  assert.ok(!('ProtocolVersion' in r.json));
});

test('negotiateVersion=99 is clamped to 1', async () => {
  const r = await rawNegotiate(server.hubUrl, '?negotiateVersion=99');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.negotiateVersion, 1);
  assert.match(r.json.connectionToken, URL_SAFE_22);
  assert.notEqual(r.json.connectionId, r.json.connectionToken);
});

test('useStatefulReconnect=true is not echoed when the server does not allow stateful reconnect', async () => {
  const r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1&useStatefulReconnect=true');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.negotiateVersion, 1);
  assert.ok(!('useStatefulReconnect' in r.json) || r.json.useStatefulReconnect === false,
    `server without -stateful-reconnect must not offer it: ${r.text}`);
});

test('GET /negotiate gives 405', async () => {
  const res = await fetch(`${server.hubUrl}/negotiate?negotiateVersion=1`);
  await res.arrayBuffer();
  assert.equal(res.status, 405);
});

test('-transports websockets,sse: negotiate lists those two; a long-polling-only client fails start() at once with the client\'s clear error; a poll gets 404', async () => {
  const limited = await startServer(['-transports', 'websockets,sse']);
  try {
    const r = await rawNegotiate(limited.hubUrl, '?negotiateVersion=1');
    assert.deepEqual(r.json.availableTransports, EXPECTED_TRANSPORTS.slice(0, 2));
    const conn = build(limited.hubUrl, { transport: HttpTransportType.LongPolling, logLevel: LogLevel.None });
    await assert.rejects(conn.start(), (err) => {
      // The client walks the server's list only: it never tries a transport
      // the server does not serve.
      const msg = String(err && err.message);
      assert.match(msg, /Unable to connect to the server with any of the available transports\. WebSockets failed: Error: 'WebSockets' is disabled by the client\. ServerSentEvents failed: Error: 'ServerSentEvents' is disabled by the client\./);
      assert.doesNotMatch(msg, /LongPolling failed/);
      return true;
    });
    const res = await fetch(`${limited.hubUrl}?id=${r.json.connectionToken}`);
    await res.arrayBuffer();
    assert.equal(res.status, 404, 'a poll on a server without long polling');
  } finally {
    await limited.stop();
  }
});
