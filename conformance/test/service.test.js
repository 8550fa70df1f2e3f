'use strict';
// actorhub as a service (docs/service-api.md): the official client follows an application server's
// negotiate redirect to /client/?hub=, and receives what the Azure SignalR-compatible REST API sends, on
// every transport and protocol. With CONFORMANCE_NODES=2 the redirects alternate between the nodes and every
// REST call goes to the first: the calls act across nodes.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, HubConnectionState,
} = require('../lib/harness');
const { uniqueMethod, recordAll, expectDelivery } = require('../lib/delivery');
const { ACCESS_KEY, token, rest, startAppServer } = require('../lib/service');

let server;
let app;
const HUB = '/api/hubs/conformance';

before(async () => {
  server = await startServer(['-access-key', ACCESS_KEY]);
  app = await startAppServer(() => (server.nodes || [server]).map((s) => s.url));
});
after(async () => {
  await stopConnections();
  await app.close();
  await server.stop();
});

/** A client that follows the application server's redirect, as user (or anonymous). */
async function redirected(mode, user) {
  const q = user ? `?user=${encodeURIComponent(user)}` : '';
  const c = await connect(`${app.url}/conformance${q}`, { mode });
  c.id = c.connectionId;
  return c;
}

async function ok(status, method, path, opts) {
  const r = await rest(server.url, method, path, opts);
  assert.equal(r.status, status, `${method} ${path} ${opts && opts.query || ''}: ${r.status} ${r.text}`);
  return r;
}

for (const mode of modes()) {
  test(`[${mode.name}] the client follows the redirect: user and claims from the token, hub methods work`, async () => {
    const c = await redirected(mode, 'alice');
    assert.equal(c.state, HubConnectionState.Connected);
    assert.equal(await c.invoke('WhoAmI'), 'alice');
    assert.equal(await c.invoke('Echo', 'through /client/'), 'through /client/');
    assert.equal(await c.invoke('GetConnectionID'), c.connectionId);
    await ok(200, 'HEAD', `${HUB}/connections/${c.id}`);
    await ok(200, 'HEAD', `${HUB}/users/alice`);
    await c.stop();
    await waitFor(async () => (await rest(server.url, 'HEAD', `${HUB}/connections/${c.id}`)).status === 404, 5000, 'the connection gone');
  });

  test(`[${mode.name}] REST sends reach exactly their targets: all, excluded, connection, user, group`, async () => {
    const alice = await redirected(mode, 'alice');
    const bob = await redirected(mode, 'bob');
    const anon = await redirected(mode);
    const all = { alice, bob, anon };

    let m = uniqueMethod('all');
    let rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/:send`, { body: { target: m, arguments: ['hi', { n: 1, list: [1.5, true, null] }] } });
    await expectDelivery(rec, { alice: [['hi', { n: 1, list: [1.5, true, null] }]], bob: [['hi', { n: 1, list: [1.5, true, null] }]], anon: [['hi', { n: 1, list: [1.5, true, null] }]] }, 'send to all');

    m = uniqueMethod('except');
    rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/:send`, { query: `excluded=${bob.id}&excluded=${anon.id}`, body: { target: m, arguments: [1] } });
    await expectDelivery(rec, { alice: [1], bob: [], anon: [] }, 'send to all but bob and anon');

    m = uniqueMethod('conn');
    rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/connections/${anon.id}/:send`, { body: { target: m, arguments: [2] } });
    await expectDelivery(rec, { alice: [], bob: [], anon: [2] }, 'send to a connection');

    m = uniqueMethod('user');
    rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/users/bob/:send`, { body: { target: m, arguments: [3] } });
    await expectDelivery(rec, { alice: [], bob: [3], anon: [] }, 'send to a user');

    const group = uniqueMethod('group');
    await ok(200, 'PUT', `${HUB}/groups/${group}/connections/${alice.id}`);
    await ok(200, 'PUT', `${HUB}/groups/${group}/connections/${anon.id}`);
    await ok(200, 'HEAD', `${HUB}/groups/${group}`);
    m = uniqueMethod('group');
    rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/groups/${group}/:send`, { body: { target: m, arguments: [4] } });
    await expectDelivery(rec, { alice: [4], bob: [], anon: [4] }, 'send to a group');
    m = uniqueMethod('groupexcept');
    rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/groups/${group}/:send`, { query: `excluded=${alice.id}`, body: { target: m } });
    await expectDelivery(rec, { alice: [], bob: [], anon: [undefined] }, 'send to a group but alice (no arguments)');
    await ok(200, 'DELETE', `${HUB}/groups/${group}/connections/${alice.id}`);
    await ok(200, 'DELETE', `${HUB}/connections/${anon.id}/groups`);
    await ok(404, 'HEAD', `${HUB}/groups/${group}`);
    await Promise.all(Object.values(all).map((c) => c.stop()));
  });

  test(`[${mode.name}] user groups: the user's connections now and later, on any node; ttl=0 only now`, async () => {
    const user = uniqueMethod('u');
    const group = uniqueMethod('team');
    const first = await redirected(mode, user);
    await ok(404, 'HEAD', `${HUB}/users/${user}/groups/${group}`);
    await ok(200, 'PUT', `${HUB}/users/${user}/groups/${group}`);
    await ok(200, 'HEAD', `${HUB}/users/${user}/groups/${group}`);
    const later = await redirected(mode, user);
    const other = await redirected(mode, 'someone-else');
    const all = { first, later, other };
    let m = uniqueMethod('team');
    let rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/groups/${group}/:send`, { body: { target: m, arguments: ['team'] } });
    await expectDelivery(rec, { first: ['team'], later: ['team'], other: [] }, 'send to the user group');

    const now = uniqueMethod('now');
    await ok(200, 'PUT', `${HUB}/users/${user}/groups/${now}`, { query: 'ttl=0' });
    const after0 = await redirected(mode, user);
    m = uniqueMethod('now');
    rec = recordAll({ ...all, after0 }, m);
    await ok(202, 'POST', `${HUB}/groups/${now}/:send`, { body: { target: m, arguments: [0] } });
    await expectDelivery(rec, { first: [0], later: [0], other: [], after0: [] }, 'ttl=0 covers only the connections of then');

    await ok(204, 'DELETE', `${HUB}/users/${user}/groups/${group}`);
    await ok(404, 'HEAD', `${HUB}/users/${user}/groups/${group}`);
    m = uniqueMethod('gone');
    rec = recordAll(all, m);
    await ok(202, 'POST', `${HUB}/groups/${group}/:send`, { body: { target: m, arguments: [1] } });
    await expectDelivery(rec, { first: [], later: [], other: [] }, 'after the user left');
    await ok(204, 'DELETE', `${HUB}/users/${user}/groups`);
    await ok(404, 'HEAD', `${HUB}/groups/${now}`);
    await Promise.all([first, later, other, after0].map((c) => c.stop()));
  });

  test(`[${mode.name}] closes: a connection with a reason the client sees, a user, a group, all but some`, async () => {
    const a = await redirected(mode, 'closer-a');
    const b = await redirected(mode, 'closer-b');
    const c = await redirected(mode, 'closer-c');
    const d = await redirected(mode);
    const closed = (conn) => new Promise((resolve) => conn.onclose((err) => resolve(err)));
    const [ca, cb, cc] = [closed(a), closed(b), closed(c)];
    await ok(200, 'DELETE', `${HUB}/connections/${a.id}`, { query: 'reason=time+to+go' });
    const errA = await ca;
    assert.match(String(errA && errA.message), /time to go/, `a's close error: ${errA}`);
    await ok(204, 'POST', `${HUB}/users/closer-b/:closeConnections`, { query: 'reason=bye' });
    assert.match(String((await cb).message), /bye/);
    const group = uniqueMethod('closers');
    await ok(200, 'PUT', `${HUB}/groups/${group}/connections/${c.id}`);
    await ok(200, 'PUT', `${HUB}/groups/${group}/connections/${d.id}`);
    await ok(204, 'POST', `${HUB}/groups/${group}/:closeConnections`, { query: `excluded=${d.id}` });
    await cc;
    assert.equal(d.state, HubConnectionState.Connected);
    assert.equal(await d.invoke('Echo', 1), 1);
    await d.stop();
  });
}

test('REST API: tokens, bad requests and limits get clear 4xx and change nothing', async () => {
  const c = await redirected(modes()[0], 'steady');
  const m = uniqueMethod('steady');
  const rec = recordAll({ c }, m);
  const send = `${HUB}/:send`;
  const body = { target: m, arguments: ['x'] };
  // Tokens.
  const url = `${server.url}${send}`;
  for (const [what, auth] of [
    ['no token', ''],
    ['wrong key', `Bearer ${token(url, {}, { key: 'another-key-0123456789-abcdefghijklmnopq' })}`],
    ['expired', `Bearer ${token(url, {}, { ttlSeconds: -10 })}`],
    ['another URL', `Bearer ${token(`${server.url}${HUB}/users/x/:send`)}`],
    ['garbage', 'Bearer abc'],
  ]) {
    const r = await rest(server.url, 'POST', send, { auth, body });
    assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
    assert.equal(r.text.trim(), 'Unauthorized', `${what}: the 401 leaks ${r.text}`);
  }
  // Bad requests.
  for (const [what, status, path, opts] of [
    ['bad JSON', 400, send, { body: '{"target":' }],
    ['no target', 400, send, { body: { arguments: [1] } }],
    ['unknown hub', 404, '/api/hubs/nohub/:send', { body }],
    ['10 MB body', 413, send, { body: { target: m, arguments: ['x'.repeat(10 << 20)] } }],
    ['no api-version', 400, send, { body, apiVersion: false }],
    ['a group with a space', 400, `${HUB}/groups/a%20b/connections/${c.id}`, {}],
    ['a bad ttl', 400, `${HUB}/users/steady/groups/g`, { query: 'ttl=-5' }],
    ['unknown path', 404, `${HUB}/nothing`, {}],
  ]) {
    const method = what.includes('group') || what.includes('ttl') ? 'PUT' : 'POST';
    const r = await rest(server.url, method, path, opts);
    assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
    assert.ok(r.json && r.json.code && r.json.message, `${what}: no error detail: ${r.text}`);
  }
  await ok(404, 'HEAD', `${HUB}/users/steady/groups/g`);
  // The client carries on, and got nothing from the refused calls.
  assert.equal(await c.invoke('Echo', 'still here'), 'still here');
  await ok(202, 'POST', send, { body: { target: m, arguments: ['after'] } });
  await expectDelivery(rec, { c: ['after'] }, 'only the good send');
  // Health.
  const health = await fetch(`${server.url}/api/health?api-version=2022-06-01`, { method: 'HEAD' });
  assert.equal(health.status, 200);
  await c.stop();
});

test('/client/ refuses clients without a good token; the app server\'s token works only for its hub', async () => {
  for (const [what, tok] of [
    ['none', undefined],
    ['another hub', token(`${server.url}/client/?hub=chat`, { 'asrs.s.uid': 'x' })],
    ['another key', token(`${server.url}/client/?hub=conformance`, {}, { key: 'another-key-0123456789-abcdefghijklmnopq' })],
  ]) {
    await assert.rejects(connect(`${server.url}/client/?hub=conformance`, { accessToken: tok }), /401|Unauthorized/, what);
  }
});
