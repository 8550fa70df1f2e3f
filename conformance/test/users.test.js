'use strict';
// §5.10 users_and_auth (WebSockets part): test tokens `test:<user>`.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes,
} = require('../lib/harness');
const { uniqueMethod, recordAll, expectDelivery } = require('../lib/delivery');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  test(`[${mode.name}] accessTokenFactory "test:alice" -> WhoAmI "alice"`, async () => {
    let calls = 0;
    const c = await connect(server.hubUrl, { mode, accessToken: () => { calls++; return 'test:alice'; } });
    assert.equal(await c.invoke('WhoAmI'), 'alice');
    assert.ok(calls >= 1, 'accessTokenFactory was called');
    await c.stop();
  });

  test(`[${mode.name}] anonymous connection -> WhoAmI null`, async () => {
    const c = await connect(server.hubUrl, { mode });
    assert.equal(await c.invoke('WhoAmI'), null);
    await c.stop();
  });

  test(`[${mode.name}] user ids with punctuation and spaces survive (test:bob.smith+1@example.com/x y)`, async () => {
    const user = 'bob.smith+1@example.com/x y';
    const c = await connect(server.hubUrl, { mode, accessToken: `test:${user}` });
    assert.equal(await c.invoke('WhoAmI'), user);
    await c.stop();
  });

  test(`[${mode.name}] SendToUser reaches both of alice's connections and not bob's`, async () => {
    const alice1 = await connect(server.hubUrl, { mode, accessToken: 'test:alice' });
    const alice2 = await connect(server.hubUrl, { mode, accessToken: 'test:alice' });
    const bob = await connect(server.hubUrl, { mode, accessToken: 'test:bob' });
    const anon = await connect(server.hubUrl, { mode });
    const all = { alice1, alice2, bob, anon };
    const m = uniqueMethod('user');
    const rec = recordAll(all, m);
    await bob.invoke('SendToUser', 'alice', m, 'hi alice');
    await expectDelivery(rec, { alice1: ['hi alice'], alice2: ['hi alice'], bob: [], anon: [] }, 'SendToUser(alice)');

    const m1 = uniqueMethod('userself');
    const rec1 = recordAll(all, m1);
    await alice1.invoke('SendToUser', 'alice', m1, 'note to self');
    await expectDelivery(rec1, { alice1: ['note to self'], alice2: ['note to self'], bob: [], anon: [] }, 'SendToUser(alice) from alice1');

    const m2 = uniqueMethod('user');
    const rec2 = recordAll(all, m2);
    await alice1.invoke('SendToUser', 'nobody', m2, 'x');
    await expectDelivery(rec2, { alice1: [], alice2: [], bob: [], anon: [] }, 'SendToUser(nobody)');

    // after one of alice's connections stops, only the other one receives
    await alice2.stop();
    const m3 = uniqueMethod('user');
    const rec3 = recordAll(all, m3);
    await anon.invoke('SendToUser', 'alice', m3, 'again');
    await expectDelivery(rec3, { alice1: ['again'], alice2: [], bob: [], anon: [] }, 'SendToUser after alice2 stopped');
    await Promise.all([alice1.stop(), bob.stop(), anon.stop()]);
  });

  test(`[${mode.name}] SendToUsers reaches every connection of those users, once each`, async () => {
    const alice1 = await connect(server.hubUrl, { mode, accessToken: 'test:alice' });
    const alice2 = await connect(server.hubUrl, { mode, accessToken: 'test:alice' });
    const bob = await connect(server.hubUrl, { mode, accessToken: 'test:bob' });
    const carol = await connect(server.hubUrl, { mode, accessToken: 'test:carol' });
    const all = { alice1, alice2, bob, carol };
    const m = uniqueMethod('users');
    const rec = recordAll(all, m);
    await carol.invoke('SendToUsers', ['alice', 'bob', 'alice'], m, 5);
    await expectDelivery(rec, { alice1: [5], alice2: [5], bob: [5], carol: [] }, 'SendToUsers([alice,bob])');
    await Promise.all(Object.values(all).map((c) => c.stop()));
  });
}
