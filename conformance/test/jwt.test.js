'use strict';
// §1.17 authentication: the chat hub with `-jwt-secret <s> -require-auth` takes HS256 JWTs, made here by
// hand (base64url header and payload, HMAC-SHA256), and refuses anonymous and expired requests with 401.
// The conformance hub keeps its `test:<user>` tokens.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {
  test, before, after, startServer, connect, stopConnections, rawNegotiate, LogLevel,
} = require('../lib/harness');

const SECRET = 'conformance-secret-of-at-least-32-bytes';

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

/** An HS256 JWT of `claims`, signed with `secret`. */
function jwt(claims, secret = SECRET) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' + b64url(JSON.stringify(claims));
  return head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url');
}

const now = () => Math.floor(Date.now() / 1000);

let server;
let chatUrl;
before(async () => {
  server = await startServer(['-jwt-secret', SECRET, '-require-auth']);
  chatUrl = server.url + '/hubs/chat';
});
after(async () => { await stopConnections(); await server.stop(); });

test('chat hub: no token -> start() rejects with 401', async () => {
  await assert.rejects(connect(chatUrl, { logLevel: LogLevel.None }), /401/);
});

test('chat hub: negotiate without a token -> 401 with WWW-Authenticate: Bearer', async () => {
  const res = await rawNegotiate(chatUrl);
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer');
});

test('chat hub: a valid HS256 token -> connects, WhoAmI is its sub', async () => {
  const token = jwt({ sub: 'alice', exp: now() + 3600 });
  const c = await connect(chatUrl, { accessToken: token });
  assert.equal(await c.invoke('WhoAmI'), 'alice');
  await c.stop();
});

test('chat hub: a valid token with skipNegotiation (access_token query) -> connects', async () => {
  const token = jwt({ sub: 'bob', exp: now() + 3600 });
  const c = await connect(chatUrl, { accessToken: token, skipNegotiation: true });
  assert.equal(await c.invoke('WhoAmI'), 'bob');
  await c.stop();
});

test('chat hub: an expired token -> start() rejects with 401', async () => {
  const token = jwt({ sub: 'alice', exp: now() - 60 });
  await assert.rejects(connect(chatUrl, { accessToken: token, logLevel: LogLevel.None }), /401/);
});

test('chat hub: a token signed with another secret -> start() rejects with 401', async () => {
  const token = jwt({ sub: 'alice', exp: now() + 3600 }, 'another-secret-of-at-least-32-bytes!!');
  await assert.rejects(connect(chatUrl, { accessToken: token, logLevel: LogLevel.None }), /401/);
});

test('chat hub: alg none -> start() rejects with 401', async () => {
  const token = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' })) + '.'
    + b64url(JSON.stringify({ sub: 'mallory', exp: now() + 3600 })) + '.';
  await assert.rejects(connect(chatUrl, { accessToken: token, logLevel: LogLevel.None }), /401/);
});

test('conformance hub keeps its test tokens and anonymous access under the JWT flags', async () => {
  const alice = await connect(server.hubUrl, { accessToken: 'test:alice' });
  assert.equal(await alice.invoke('WhoAmI'), 'alice');
  const anon = await connect(server.hubUrl);
  assert.equal(await anon.invoke('WhoAmI'), null);
  await alice.stop();
  await anon.stop();
});
