'use strict';
// Scale-out: three actorhub nodes on one backplane (CONFORMANCE_BACKPLANE: redis by default, redis-cluster,
// postgres or nats), official clients on different nodes, /hubs/cluster (the conformance hub plus cross-node group
// changes, client results and counts). Every target, group changes for connections on other nodes,
// client results routed to the node that holds the connection, counts over nodes with a dead node
// forgotten, the backplane's server stopped for 10 s and started again, a node's own database
// connections cut (PostgreSQL), garbage on the backplane (Redis), sticky routing, and the backplane
// unreachable at start-up.
const assert = require('node:assert/strict');
const { execFile, spawn } = require('node:child_process');
const {
  test, before, after, startCluster, serverBinary, connect, stopConnections, modes, waitFor, sleep,
  rawNegotiate, REPO_ROOT, BACKPLANE,
} = require('../lib/harness');
const { uniqueMethod, recordAll, expectDelivery } = require('../lib/delivery');

const HUB = '/hubs/cluster';
let cluster;
before(async () => { cluster = await startCluster(3); });
after(async () => { await stopConnections(); if (cluster) await cluster.stop(); });

const on = (k) => cluster.nodes[k].url + HUB;

for (const mode of modes()) {
  // a and b (user u1) on nodes 1 and 2, c (user u2) on node 3, d (anonymous) on node 2.
  let a; let b; let c; let d; let all;
  const setup = async () => {
    if (a) return;
    [a, b, c, d] = await Promise.all([
      connect(on(0), { mode, accessToken: 'test:u1' }),
      connect(on(1), { mode, accessToken: 'test:u1' }),
      connect(on(2), { mode, accessToken: 'test:u2' }),
      connect(on(1), { mode }),
    ]);
    all = { a, b, c, d };
    const nodes = await Promise.all([a, b, c, d].map((x) => x.invoke('NodeID')));
    assert.deepEqual(nodes, ['node1', 'node2', 'node3', 'node2']);
    // group x: a (joins itself) and c (added from node 1); group y: b and c.
    await a.invoke('JoinGroup', 'x');
    await a.invoke('AddToGroup', c.connectionId, 'x');
    await b.invoke('JoinGroup', 'y');
    await b.invoke('AddToGroup', c.connectionId, 'y');
  };

  const cases = [
    ['SendToAll', () => [], { a: 1, b: 1, c: 1, d: 1 }],
    ['SendToOthers', () => [], { b: 1, c: 1, d: 1 }],
    ['SendToCaller', () => [], { a: 1 }],
    ['SendToConnection', () => [c.connectionId], { c: 1 }],
    ['SendToConnections', () => [[b.connectionId, c.connectionId, d.connectionId]], { b: 1, c: 1, d: 1 }],
    ['SendToAllExcept', () => [[b.connectionId, d.connectionId]], { a: 1, c: 1 }],
    ['SendToGroup', () => ['x'], { a: 1, c: 1 }],
    ['SendToGroups', () => [['x', 'y']], { a: 1, b: 1, c: 1 }],
    ['SendToGroupExcept', () => ['y', [b.connectionId]], { c: 1 }],
    ['SendToOthersInGroup', () => ['x'], { c: 1 }],
    ['SendToUser', () => ['u1'], { a: 1, b: 1 }],
    ['SendToUsers', () => [['u1', 'u2']], { a: 1, b: 1, c: 1 }],
  ];
  for (const [method, args, who] of cases) {
    test(`[${mode.name}] ${method} from node 1 reaches exactly its clients on every node, once`, async () => {
      await setup();
      const m = uniqueMethod(method);
      const rec = recordAll(all, m);
      await a.invoke(method, ...args(), m, { from: 'node1' });
      const expected = {};
      for (const n of Object.keys(all)) expected[n] = who[n] ? [{ from: 'node1' }] : [];
      await expectDelivery(rec, expected, method);
    });
  }

  test(`[${mode.name}] a group change for a connection on another node is in effect when it completes`, async () => {
    await setup();
    const m = uniqueMethod('z');
    const rec = recordAll(all, m);
    await c.invoke('AddToGroup', d.connectionId, 'z'); // node 3 adds a connection of node 2
    await b.invoke('SendToGroup', 'z', m, 1); // node 2 sends at once
    await expectDelivery(rec, { a: [], b: [], c: [], d: [1] }, 'after AddToGroup');
    await c.invoke('RemoveFromGroup', d.connectionId, 'z');
    await a.invoke('SendToGroup', 'z', m, 2);
    await expectDelivery(rec, { a: [], b: [], c: [], d: [1] }, 'after RemoveFromGroup');
  });

  test(`[${mode.name}] client results: a hub method on node 1 asks a client on node 3`, async () => {
    await setup();
    const q = uniqueMethod('question');
    c.on(q, (arg) => (arg === 'fail' ? Promise.reject(new Error('no such answer')) : { echoed: arg, node: 3 }));
    assert.deepEqual(await a.invoke('AskConnection', c.connectionId, q, 'hi'), { echoed: 'hi', node: 3 });
    await assert.rejects(a.invoke('AskConnection', c.connectionId, q, 'fail'), /no such answer/);
    await assert.rejects(a.invoke('AskConnection', 'no-such-connection', q, 'x'), /An unexpected error occurred invoking 'AskConnection' on the server/);
  });
}

test('counts cover every node; a node that dies stops counting after -node-expiry', async () => {
  const ex = await startCluster(3, ['-node-expiry', '1s']);
  try {
    const clients = [];
    for (let k = 0; k < 3; k++) {
      for (let i = 0; i <= k; i++) clients.push(await connect(ex.nodes[k].url + HUB));
    }
    for (const x of clients) await x.invoke('JoinGroup', 'room');
    const probe = clients[0]; // on node 1
    await waitFor(async () => (await probe.invoke('ConnectionCount')) === 6 && (await probe.invoke('GroupCount', 'room')) === 6,
      5000, 'six connections in room, seen from node 1');
    ex.nodes[2].process.kill('SIGKILL'); // node 3 and its three clients die
    await waitFor(async () => (await probe.invoke('ConnectionCount')) === 3 && (await probe.invoke('GroupCount', 'room')) === 3,
      5000, 'the dead node forgotten');
  } finally {
    await stopConnections();
    await ex.stop();
  }
});

test(`${BACKPLANE} stops for 10 s and returns: local delivery goes on, cross-node sends fail fast, then cross again by themselves`, { timeout: 90000 }, async () => {
  const ex = await startCluster(2);
  try {
    const [a1, a2, b1] = await Promise.all([
      connect(ex.nodes[0].url + HUB), connect(ex.nodes[0].url + HUB), connect(ex.nodes[1].url + HUB),
    ]);
    const m = uniqueMethod('outage');
    const rec = recordAll({ a1, a2, b1 }, m);
    await b1.invoke('JoinGroup', 'g-before');
    await a1.invoke('SendToAll', m, 'before');
    await expectDelivery(rec, { a1: ['before'], a2: ['before'], b1: ['before'] }, 'before the outage');

    await ex.backplane.stop();
    const downAt = Date.now();
    // The first sends may be on their way when the server goes (they fail after the fact, logged);
    // soon a send fails at once. No send hangs.
    let slowest = 0;
    await waitFor(async () => {
      const start = Date.now();
      const failed = await a1.invoke('SendToAll', m, 'down').then(() => false, (e) => /An unexpected error occurred invoking 'SendToAll'/.test(e.message));
      slowest = Math.max(slowest, Date.now() - start);
      return failed;
    }, 8000, 'a send that fails while the backplane is down');
    assert.ok(slowest < 3000, `a send took ${slowest} ms while the backplane was down`);
    // For the 10 s of the outage, each node goes on serving its own clients.
    for (let i = 0; Date.now() - downAt < 10000; i++) {
      assert.equal(await a2.invoke('Echo', `local ${i}`), `local ${i}`);
      await a2.invoke('SendToCaller', m, `caller ${i}`);
      await waitFor(() => rec.a2.includes(`caller ${i}`), 2000, 'local delivery while the backplane is down');
      await b1.invoke('SendToCaller', m, `b ${i}`);
      await waitFor(() => rec.b1.includes(`b ${i}`), 2000, 'local delivery on node 2 while the backplane is down');
      await sleep(500);
    }
    await waitFor(() => rec.a2.includes('down'), 2000, 'local delivery of a send made while the backplane is down');
    for (const s of ex.nodes) assert.equal(s.exitInfo, null, `${s.name} died during the outage`);

    await ex.backplane.restart();
    await waitFor(async () => {
      await a1.invoke('SendToAll', m, 'after').catch(() => {});
      await sleep(100);
      return rec.b1.includes('after');
    }, 30000, 'cross-node delivery once the backplane is back');
    // Groups subscribed before the outage work again, and so do new ones, client results and counts.
    await waitFor(async () => {
      await a1.invoke('SendToGroup', 'g-before', m, 'group after').catch(() => {});
      await sleep(100);
      return rec.b1.includes('group after');
    }, 10000, 'group delivery once the backplane is back');
    await b1.invoke('JoinGroup', 'g-after');
    await a2.invoke('SendToGroup', 'g-after', m, 'new group');
    await waitFor(() => rec.b1.includes('new group'), 5000, 'a group joined after the outage');
    const q = uniqueMethod('question');
    b1.on(q, (arg) => `answer ${arg}`);
    assert.equal(await a1.invoke('AskConnection', b1.connectionId, q, 'after'), 'answer after');
    await waitFor(async () => (await a1.invoke('ConnectionCount')) === 3, 10000, 'counts over both nodes again');
  } finally {
    await stopConnections();
    await ex.stop();
  }
});

test('PostgreSQL: a node whose database connections are cut while the other keeps sending gets every message, in order', {
  skip: BACKPLANE !== 'postgres' && 'PostgreSQL only (Redis and NATS core pub/sub are at most once)', timeout: 90000,
}, async () => {
  const ex = await startCluster(2);
  try {
    const [a, b] = await Promise.all([connect(ex.nodes[0].url + HUB), connect(ex.nodes[1].url + HUB)]);
    const m = uniqueMethod('cut');
    const got = [];
    b.on(m, (i) => { got.push(i); });
    await a.invoke('SendToAll', m, -1);
    await waitFor(() => got.length === 1, 5000, 'before the cuts');
    got.length = 0;
    // node 2's connections are terminated every 100 ms, 20 rounds, while node 1 keeps sending.
    let cutting = true;
    let cuts = 0;
    const cutter = (async () => {
      for (let round = 0; round < 20; round++) {
        const out = await ex.backplane.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'node2'");
        cuts += Number(out.trim());
        await sleep(100);
      }
      cutting = false;
    })();
    let n = 0;
    while (cutting && n < 20000) await a.invoke('SendToAll', m, n++);
    await cutter;
    await waitFor(() => got.length >= n, 30000, () => `every message at node 2: ${got.length} of ${n}`);
    await sleep(400);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), 'node 2 got every message once, in order');
    assert.ok(cuts >= 10, `only ${cuts} connections of node 2 were cut`);
  } finally {
    await stopConnections();
    await ex.stop();
  }
});

function redisCli(port, args) {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-p', String(port), ...args], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

test('garbage and foreign messages on the backplane channels are dropped; the nodes carry on', {
  skip: BACKPLANE !== 'redis' && 'published with redis-cli',
}, async () => {
  const garbage = ['', 'hello', '\x93\x01', '\xdd\xff\xff\xff\xff', '\x92\x90\x81\xa4json\xc4\x05x'];
  const channels = ['all', 'group:x', 'user:u1', 'internal:groups', 'internal:ack:node1', 'internal:return:node1',
    'internal:return:node2'];
  const a = await connect(on(0));
  const b = await connect(on(1));
  for (const ch of channels) {
    for (const g of garbage) await redisCli(cluster.redis.port, ['PUBLISH', `cluster:${ch}`, g]);
  }
  await redisCli(cluster.redis.port, ['PUBLISH', `cluster:connection:${b.connectionId}`, 'junk']);
  const m = uniqueMethod('after-garbage');
  const rec = recordAll({ a, b }, m);
  await a.invoke('SendToAll', m, 1);
  await expectDelivery(rec, { a: [1], b: [1] }, 'after garbage');
  for (const s of cluster.nodes) assert.equal(s.exitInfo, null, `${s.name} died`);
});

test('sticky routing: a request for a connection on another node gets 404', async () => {
  const n = await rawNegotiate(on(0));
  assert.equal(n.status, 200);
  const token = n.json.connectionToken;
  const poll = await fetch(`${on(1)}?id=${token}`);
  assert.equal(poll.status, 404);
  const send = await fetch(`${on(1)}?id=${token}`, { method: 'POST', body: '{}\x1e' });
  assert.equal(send.status, 404);
  const sse = await fetch(`${on(1)}?id=${token}`, { headers: { Accept: 'text/event-stream' } });
  assert.equal(sse.status, 404);
  await sse.text();
  await poll.text();
  await send.text();
});

test(`${BACKPLANE} unreachable at start-up: the server exits at once with a clear error`, async () => {
  const bin = await serverBinary();
  const url = {
    redis: 'redis://127.0.0.1:1/0',
    'redis-cluster': 'redis-cluster://:secret@127.0.0.1:1',
    postgres: 'postgres://postgres:secret@127.0.0.1:1/postgres',
    nats: 'nats://127.0.0.1:1',
  }[BACKPLANE];
  assert.ok(url, `no unreachable URL for ${BACKPLANE}`);
  const child = spawn(bin, ['-conformance', '-addr', '127.0.0.1:0', '-backplane', url], { cwd: REPO_ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const start = Date.now();
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.notEqual(code, 0);
  assert.ok(Date.now() - start < 10000, `took ${Date.now() - start} ms`);
  assert.match(stderr, new RegExp(`${BACKPLANE} at 127\\.0\\.0\\.1:1 unreachable`));
  assert.doesNotMatch(stderr, /listening on|secret/);
});
