'use strict';
// Connection limits (README "Limits and hardening"): what the official client sees when the server
// refuses a connection, and that the connections held keep working. One node on purpose: the limits
// are per process.
const assert = require('node:assert/strict');
const {
  test, after, startNode, connect, stopConnections, waitFor, HttpTransportType, HubConnectionState, LogLevel,
} = require('../lib/harness');

const REFUSED_503 = "Failed to complete negotiation with the server: Error: Service Unavailable: Status code '503'";
const REFUSED_429 = "Failed to complete negotiation with the server: Error: Too Many Requests: Status code '429'";
// A WebSocket upgrade without negotiate that gets 503: the client's own words for a refused upgrade.
const REFUSED_WS = 'WebSocket failed to connect. The connection could not be found on the server, either the endpoint '
  + 'may not be a SignalR endpoint, the connection ID is not present on the server, or there is a proxy blocking '
  + 'WebSockets. If you have multiple servers check that sticky sessions are enabled.';

const servers = [];
after(async () => {
  await stopConnections();
  await Promise.all(servers.map((s) => s.stop()));
});

async function refusal(hubUrl, opts) {
  try {
    await connect(hubUrl, { logLevel: LogLevel.None, ...opts });
  } catch (e) {
    return e;
  }
  assert.fail(`connected over the limit with ${JSON.stringify(opts)}`);
}

test('-max-connections: over it, start() fails with the 503 negotiate error on every transport; the held connections go on', async () => {
  const server = await startNode(['-max-connections', '2']);
  servers.push(server);
  const a = await connect(server.hubUrl);
  const b = await connect(server.hubUrl, { transport: HttpTransportType.LongPolling });
  for (const transport of [HttpTransportType.WebSockets, HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling]) {
    const err = await refusal(server.hubUrl, { transport });
    assert.equal(err.message, REFUSED_503);
    assert.equal(err.errorType, 'FailedToNegotiateWithServerError');
  }
  const ws = await refusal(server.hubUrl, { transport: HttpTransportType.WebSockets, skipNegotiation: true });
  assert.equal(ws.message, REFUSED_WS);
  assert.equal(await a.invoke('Add', 1, 2), 3);
  assert.equal(await b.invoke('Echo', 'still here'), 'still here');

  await a.stop(); // its place is given back
  const c = await waitFor(async () => {
    try { return await connect(server.hubUrl, { logLevel: LogLevel.None }); } catch { return false; }
  }, 5000, 'a connection in the freed place');
  assert.equal(c.state, HubConnectionState.Connected);
  assert.equal(await c.invoke('Add', 2, 2), 4);
});

test('-max-connections-per-ip: a second connection from one address fails with the 429 negotiate error', async () => {
  const server = await startNode(['-max-connections-per-ip', '1']);
  servers.push(server);
  const a = await connect(server.hubUrl);
  const err = await refusal(server.hubUrl, { transport: HttpTransportType.ServerSentEvents });
  assert.equal(err.message, REFUSED_429);
  assert.equal(await a.invoke('Add', 20, 22), 42);
});

test('-connect-rate-per-ip: a burst over the rate fails with the 429 negotiate error, and the rate admits it again', async () => {
  // One new connection per 4 s after a burst of 2: slow enough that a busy
  // machine's two connects cannot outlast a refill before the third.
  const server = await startNode(['-connect-rate-per-ip', '0.25', '-connect-burst-per-ip', '2']);
  servers.push(server);
  await connect(server.hubUrl);
  await connect(server.hubUrl);
  const err = await refusal(server.hubUrl);
  assert.equal(err.message, REFUSED_429);
  const c = await waitFor(async () => {
    try { return await connect(server.hubUrl, { logLevel: LogLevel.None }); } catch { return false; }
  }, 15000, 'the rate to admit a new connection');
  assert.equal(await c.invoke('Add', 1, 1), 2);
});
