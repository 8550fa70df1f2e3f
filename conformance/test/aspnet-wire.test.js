'use strict';
// Five places where actorhub once answered differently from ASP.NET Core, found by running ASP.NET
// Core's own client functional tests against it (conformance/ASPNET.md): each is checked here as the
// official client sees it, so that they stay fixed.
//   1. a 401 has an empty body (and WWW-Authenticate: Bearer): "Unauthorized: Status code '401'";
//   2. an upload stream the client fails reaches the method as a HubException of the client's text;
//   3. a request for an unknown connection id gets 404 "No Connection with that ID";
//   4. an unknown path gets 404 with an empty body;
//   5. browsers on other origins: CORS preflights answered, refused origins get 403.
// Server: -allowed-origins https://app.example.com.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, rawNegotiate, rawWs, modes, signalR, HttpTransportType, LogLevel,
} = require('../lib/harness');

const ALLOWED = 'https://app.example.com';
const EVIL = 'https://evil.example';

let server;
before(async () => { server = await startServer(['-allowed-origins', ALLOWED]); });
after(async () => { await stopConnections(); await server.stop(); });

/** The official client's HTTP client, whose error texts the client shows its users. */
const http = () => new signalR.DefaultHttpClient(signalR.NullLogger.instance);

// 1 ---------------------------------------------------------------------------------------------
for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
  test(`401 from a hub that needs a user: "Unauthorized: Status code '401'" (${transport})`, async () => {
    await assert.rejects(
      connect(server.url + '/aspnet/authorizedhub', { transport: HttpTransportType[transport], logLevel: LogLevel.None }),
      (e) => {
        assert.equal(e.message, "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'");
        return true;
      });
  });
}

test('401: no body, WWW-Authenticate: Bearer', async () => {
  const r = await rawNegotiate(server.url + '/aspnet/authorizedhub');
  assert.equal(r.status, 401);
  assert.equal(r.text, '');
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
});

// 2 ---------------------------------------------------------------------------------------------
for (const mode of modes()) {
  test(`[${mode.name}] an upload the client fails: "... HubException: <the client's message>"`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const subject = new signalR.Subject();
    const sum = c.invoke('Sum', subject);
    subject.next(1);
    subject.error(new Error('Something bad'));
    await assert.rejects(sum, (e) => {
      assert.equal(e.message, "An unexpected error occurred invoking 'Sum' on the server. HubException: Something bad");
      return true;
    });
    assert.equal(await c.invoke('Echo', 'still usable'), 'still usable');
  });
}

// 3 ---------------------------------------------------------------------------------------------
test('unknown connection id: 404 "No Connection with that ID" on every transport request', async () => {
  for (const [method, headers] of [['GET', {}], ['GET', { Accept: 'text/event-stream' }], ['POST', {}], ['DELETE', {}]]) {
    await assert.rejects(
      http().send({ method, url: `${server.hubUrl}?id=nope`, headers, content: method === 'POST' ? 'x' : undefined }),
      (e) => {
        assert.equal(e.message, "No Connection with that ID: Status code '404'", `${method} ${JSON.stringify(headers)}`);
        assert.equal(e.statusCode, 404);
        return true;
      });
  }
});

// 4 ---------------------------------------------------------------------------------------------
test('unknown path: 404 with an empty body', async () => {
  const res = await fetch(server.url + '/no/such/path');
  assert.equal(res.status, 404);
  assert.equal(await res.text(), '');
  await assert.rejects(connect(server.url + '/hubs/nosuchhub', { logLevel: LogLevel.None }), (e) => {
    assert.equal(e.message, "Failed to complete negotiation with the server: Error: Not Found: Status code '404' Either this is not a SignalR endpoint or there is a proxy blocking the connection.");
    return true;
  });
});

test('routes match in any letter case, as in ASP.NET Core', async () => {
  const c = await connect(server.url + '/HUBS/Conformance');
  assert.equal(await c.invoke('Echo', 'case'), 'case');
});

// 5 ---------------------------------------------------------------------------------------------
test('CORS preflight of an allowed origin: 204 with the methods and headers the client sends', async () => {
  for (const path of ['/negotiate?negotiateVersion=1', '?id=x']) {
    const res = await fetch(server.hubUrl + path, {
      method: 'OPTIONS',
      headers: {
        Origin: ALLOWED,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'x-requested-with,x-signalr-user-agent,authorization,content-type',
      },
    });
    assert.equal(res.status, 204, path);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const methods = res.headers.get('access-control-allow-methods').split(/,\s*/);
    for (const m of ['GET', 'POST', 'DELETE']) assert.ok(methods.includes(m), `${m} in ${methods}`);
    const allowed = res.headers.get('access-control-allow-headers').toLowerCase().split(/,\s*/);
    for (const h of ['x-requested-with', 'x-signalr-user-agent', 'authorization', 'content-type']) {
      assert.ok(allowed.includes(h), `${h} in ${allowed}`);
    }
    assert.ok(Number(res.headers.get('access-control-max-age')) > 0);
  }
});

test('CORS preflight of another origin: 403, no CORS headers', async () => {
  const res = await fetch(server.hubUrl + '/negotiate', {
    method: 'OPTIONS',
    headers: { Origin: EVIL, 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('access-control-allow-origin'), null);
});

// The official client, sending an Origin header as a browser would: from the allowed origin it
// connects on every transport with the CORS headers on each answer; from another it is refused.
for (const mode of modes()) {
  test(`[${mode.name}] the official client from an allowed origin connects; from another, 403`, async () => {
    const c = await connect(server.hubUrl, { mode, headers: { Origin: ALLOWED } });
    assert.equal(await c.invoke('Echo', 'cross-origin'), 'cross-origin');
    await assert.rejects(connect(server.hubUrl, { mode, headers: { Origin: EVIL }, logLevel: LogLevel.None }), /403/);
    assert.equal(await c.invoke('Echo', 'still here'), 'still here');
  });
}

test('negotiate from an allowed origin carries the CORS headers; other origins get 403 and nothing', async () => {
  let r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1', { headers: { Origin: ALLOWED } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), ALLOWED);
  assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
  assert.match(r.headers.get('vary') || '', /Origin/);
  r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1', { headers: { Origin: EVIL } });
  assert.equal(r.status, 403);
  assert.equal(r.text, '');
  // No Origin (clients other than browsers): not affected.
  r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
});

test('a WebSocket without negotiate from another origin: 403 (cross-site WebSocket hijacking)', async () => {
  // The client hides the status behind its generic WebSocket failure text; a raw probe shows it.
  await assert.rejects(connect(server.hubUrl, {
    transport: HttpTransportType.WebSockets, skipNegotiation: true, headers: { Origin: EVIL }, logLevel: LogLevel.None,
  }), /WebSocket failed to connect/);
  const probe = rawWs(server.url + '/hubs/conformance', { headers: { Origin: EVIL } });
  assert.deepEqual(await probe.opened, { status: 403 });
  const c = await connect(server.hubUrl, { transport: HttpTransportType.WebSockets, skipNegotiation: true, headers: { Origin: ALLOWED } });
  assert.equal(await c.invoke('Echo', 'ws'), 'ws');
});
