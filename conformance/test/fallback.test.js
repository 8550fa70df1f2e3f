'use strict';
// §5.23 transport fallback with the official client: when WebSockets cannot be used, the client
// negotiates again and takes the next transport the server lists (SSE for JSON, long polling for
// MessagePack, which SSE cannot carry); a server that does not serve WebSockets is used over SSE.
const assert = require('node:assert/strict');
const { MessagePackHubProtocol } = require('@microsoft/signalr-protocol-msgpack');
const {
  test, before, after, startServer, signalR, LogLevel, CountingHttpClient,
} = require('../lib/harness');

let server;
let noWs;
before(async () => {
  [server, noWs] = await Promise.all([startServer(), startServer(['-transports', 'sse,longpolling'])]);
});
after(async () => { await Promise.all([server.stop(), noWs.stop()]); });

// A WebSocket that never opens: as a network that blocks WebSockets would.
class BrokenWebSocket {
  constructor() {
    this.readyState = 3;
    setTimeout(() => {
      if (this.onerror) this.onerror({ type: 'error', message: 'blocked' });
      if (this.onclose) this.onclose({ code: 1006, reason: 'blocked', wasClean: false });
    }, 0);
  }

  send() { throw new Error('not open'); }

  close() {}
}

async function connectWith(hubUrl, { protocol, webSocket, http }) {
  const opts = { httpClient: http, logMessageContent: false };
  if (webSocket) opts.WebSocket = webSocket;
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(hubUrl, opts)
    .withHubProtocol(protocol)
    .configureLogging(LogLevel.None)
    .build();
  await conn.start();
  return conn;
}

const transportOf = (conn) => conn.connection.transport.constructor.name;

for (const [name, protocol, expected] of [
  ['json', () => new signalR.JsonHubProtocol(), 'ServerSentEventsTransport'],
  ['messagepack', () => new MessagePackHubProtocol(), 'LongPollingTransport'],
]) {
  test(`[${name}] WebSockets unusable: the client negotiates again and falls back to ${expected}`, async () => {
    const http = new CountingHttpClient();
    const conn = await connectWith(server.hubUrl, { protocol: protocol(), webSocket: BrokenWebSocket, http });
    try {
      assert.equal(transportOf(conn), expected);
      assert.equal(http.count(/\/negotiate/), 2, 'one negotiate per transport tried');
      assert.deepEqual(await conn.invoke('Echo', { fell: 'back' }), { fell: 'back' });
    } finally {
      await conn.stop();
    }
  });
}

test('a server that serves no WebSockets: the default client connects over Server-Sent Events with one negotiate', async () => {
  const http = new CountingHttpClient();
  const conn = await connectWith(noWs.hubUrl, { protocol: new signalR.JsonHubProtocol(), http });
  try {
    assert.equal(transportOf(conn), 'ServerSentEventsTransport');
    assert.equal(http.count(/\/negotiate/), 1);
    assert.equal(await conn.invoke('Add', 40, 2), 42);
  } finally {
    await conn.stop();
  }
});
