'use strict';
// Raw connections (hub.Endpoint, ASP.NET Core's MapConnectionHandler): `-conformance` serves an echo
// connection at /aspnet/echo. The official client's HttpConnection (the transport layer under
// HubConnection: negotiate and a transport, no hub protocol) and a bare WebSocket drive it.
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { HttpConnection } = require('@microsoft/signalr/dist/cjs/HttpConnection');
const {
  test, before, after, startServer, signalR, HttpTransportType, LogLevel, waitFor,
} = require('../lib/harness');

let server;
let echoUrl;
before(async () => {
  server = await startServer();
  echoUrl = server.url + '/aspnet/echo';
});
after(async () => { await server.stop(); });

/** Starts an HttpConnection to the echo endpoint; resolves with {conn, received, closed}. */
async function open(transport, format = signalR.TransferFormat.Text) {
  const conn = new HttpConnection(echoUrl, { transport, logger: LogLevel.None });
  const received = [];
  let onClosed;
  const closed = new Promise((resolve) => { onClosed = resolve; });
  conn.onreceive = (data) => received.push(data);
  conn.onclose = (err) => onClosed(err);
  await conn.start(format);
  return { conn, received, closed };
}

for (const name of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
  test(`[${name}] what the client sends comes back unchanged, and stop() is a clean close`, async () => {
    const { conn, received, closed } = await open(HttpTransportType[name]);
    await conn.send('Hello World!');
    await waitFor(() => received.join('') === 'Hello World!', 5000, () => `received ${JSON.stringify(received)}`);
    assert.equal(typeof received[0], 'string');
    await conn.send('second');
    await waitFor(() => received.join('') === 'Hello World!second', 5000, () => `received ${JSON.stringify(received)}`);
    await conn.stop();
    assert.equal(await closed, undefined);
  });
}

test('no transport named: negotiate picks WebSockets, the echo works', async () => {
  const conn = new HttpConnection(echoUrl, { logger: LogLevel.None });
  const received = [];
  conn.onreceive = (data) => received.push(data);
  const closed = new Promise((resolve) => { conn.onclose = resolve; });
  await conn.start(signalR.TransferFormat.Text);
  assert.equal(conn.transport.constructor.name, 'WebSocketTransport');
  await conn.send('auto');
  await waitFor(() => received.join('') === 'auto');
  await conn.stop();
  assert.equal(await closed, undefined);
});

test('a bare WebSocket without negotiate: text frames back, close 1000 and clean', async () => {
  const ws = new WebSocket(echoUrl.replace(/^http/, 'ws'));
  const frames = [];
  ws.on('message', (data, isBinary) => frames.push({ text: data.toString(), isBinary }));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send('message');
  ws.send(Buffer.from('bytes'), { binary: true });
  await waitFor(() => frames.length === 2, 5000, () => `frames ${JSON.stringify(frames)}`);
  assert.deepEqual(frames, [{ text: 'message', isBinary: false }, { text: 'bytes', isBinary: false }]);
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close();
  assert.equal(await closed, 1000);
});

test('the raw endpoint speaks no hub protocol: a handshake is echoed, not answered', async () => {
  const ws = new WebSocket(echoUrl.replace(/^http/, 'ws'));
  const frames = [];
  ws.on('message', (data) => frames.push(data.toString()));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const handshake = '{"protocol":"json","version":1}\x1e';
  ws.send(handshake);
  await waitFor(() => frames.length === 1);
  assert.equal(frames[0], handshake);
  ws.close();
});
