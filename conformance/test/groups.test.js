'use strict';
// §5.9 groups.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes,
} = require('../lib/harness');
const { uniqueMethod, recordAll, expectDelivery } = require('../lib/delivery');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

let gcount = 0;
const group = (name) => `${name}-${++gcount}`;

for (const mode of modes()) {
  const three = async () => {
    const [c1, c2, c3] = await Promise.all([1, 2, 3].map(() => connect(server.hubUrl, { mode })));
    return { c1, c2, c3 };
  };
  const stopAll = (conns) => Promise.all(Object.values(conns).map((c) => c.stop()));

  test(`[${mode.name}] SendToGroup reaches the members only (sender need not be a member)`, async () => {
    const all = await three();
    const A = group('A'); const B = group('B');
    await all.c1.invoke('JoinGroup', A);
    await all.c2.invoke('JoinGroup', A);
    await all.c3.invoke('JoinGroup', B);
    const m = uniqueMethod('grp');
    const rec = recordAll(all, m);
    await all.c3.invoke('SendToGroup', A, m, 'hello A');
    await expectDelivery(rec, { c1: ['hello A'], c2: ['hello A'], c3: [] }, 'SendToGroup(A)');
    const m2 = uniqueMethod('grp');
    const rec2 = recordAll(all, m2);
    await all.c1.invoke('SendToGroup', B, m2, 'hello B');
    await expectDelivery(rec2, { c1: [], c2: [], c3: ['hello B'] }, 'SendToGroup(B)');
    await stopAll(all);
  });

  test(`[${mode.name}] SendToGroup / SendToGroups from a member reach the caller too`, async () => {
    const all = await three();
    const A = group('A'); const B = group('B');
    await all.c1.invoke('JoinGroup', A);
    await all.c2.invoke('JoinGroup', A);
    await all.c1.invoke('JoinGroup', B);
    const m = uniqueMethod('grpself');
    const rec = recordAll(all, m);
    await all.c1.invoke('SendToGroup', A, m, 'from member');
    await expectDelivery(rec, { c1: ['from member'], c2: ['from member'], c3: [] }, 'SendToGroup(A) from member c1');
    const m2 = uniqueMethod('grpsself');
    const rec2 = recordAll(all, m2);
    await all.c1.invoke('SendToGroups', [A, B], m2, 'once');
    await expectDelivery(rec2, { c1: ['once'], c2: ['once'], c3: [] }, 'SendToGroups([A,B]) from member c1');
    await stopAll(all);
  });

  test(`[${mode.name}] SendToGroups: a member of both groups gets the message once`, async () => {
    const all = await three();
    const A = group('A'); const B = group('B'); const C = group('C');
    await all.c1.invoke('JoinGroup', A);
    await all.c1.invoke('JoinGroup', B);
    await all.c2.invoke('JoinGroup', A);
    await all.c3.invoke('JoinGroup', C);
    const m = uniqueMethod('grps');
    const rec = recordAll(all, m);
    await all.c3.invoke('SendToGroups', [A, B], m, 1);
    await expectDelivery(rec, { c1: [1], c2: [1], c3: [] }, 'SendToGroups([A,B])');
    await stopAll(all);
  });

  test(`[${mode.name}] SendToGroupExcept skips the listed connections`, async () => {
    const all = await three();
    const A = group('A');
    for (const c of Object.values(all)) await c.invoke('JoinGroup', A);
    const m = uniqueMethod('grpx');
    const rec = recordAll(all, m);
    await all.c1.invoke('SendToGroupExcept', A, [all.c1.connectionId, all.c3.connectionId], m, 'x');
    await expectDelivery(rec, { c1: [], c2: ['x'], c3: [] }, 'SendToGroupExcept');
    await stopAll(all);
  });

  test(`[${mode.name}] SendToOthersInGroup reaches the members but the caller`, async () => {
    const all = await three();
    const A = group('A');
    await all.c1.invoke('JoinGroup', A);
    await all.c2.invoke('JoinGroup', A);
    const m = uniqueMethod('grpo');
    const rec = recordAll(all, m);
    await all.c1.invoke('SendToOthersInGroup', A, m, { from: 'c1' });
    await expectDelivery(rec, { c1: [], c2: [{ from: 'c1' }], c3: [] }, 'SendToOthersInGroup');
    await stopAll(all);
  });

  test(`[${mode.name}] joining twice still delivers once; LeaveGroup stops delivery`, async () => {
    const all = await three();
    const A = group('A');
    await all.c1.invoke('JoinGroup', A);
    await all.c1.invoke('JoinGroup', A);
    await all.c2.invoke('JoinGroup', A);
    const m = uniqueMethod('grpl');
    const rec = recordAll(all, m);
    await all.c3.invoke('SendToGroup', A, m, 'before');
    await expectDelivery(rec, { c1: ['before'], c2: ['before'], c3: [] }, 'before leave');
    await all.c2.invoke('LeaveGroup', A);
    await all.c3.invoke('SendToGroup', A, m, 'after');
    await expectDelivery(rec, { c1: ['before', 'after'], c2: ['before'], c3: [] }, 'after c2 left');
    await all.c1.invoke('LeaveGroup', A);
    await all.c3.invoke('SendToGroup', A, m, 'empty');
    await expectDelivery(rec, { c1: ['before', 'after'], c2: ['before'], c3: [] }, 'after everyone left');
    await stopAll(all);
  });

  test(`[${mode.name}] LeaveGroup of a group never joined succeeds`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const r = await c.invoke('LeaveGroup', group('never'));
    assert.ok(r === null || r === undefined);
    assert.equal(await c.invoke('Add', 1, 1), 2);
    await c.stop();
  });

  test(`[${mode.name}] group membership is gone after stop/start`, async () => {
    const all = await three();
    const A = group('A');
    await all.c1.invoke('JoinGroup', A);
    await all.c2.invoke('JoinGroup', A);
    const oldId = all.c1.connectionId;
    await all.c1.stop();
    await all.c1.start();
    assert.notEqual(all.c1.connectionId, oldId);
    const m = uniqueMethod('grprestart');
    const rec = recordAll(all, m);
    await all.c3.invoke('SendToGroup', A, m, 'after-restart');
    await expectDelivery(rec, { c1: [], c2: ['after-restart'], c3: [] }, 'group after c1 restart');
    await stopAll(all);
  });
}
