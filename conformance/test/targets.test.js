'use strict';
// §5.8 broadcast_targets: every Clients target with three clients.
const {
  test, before, after, startServer, connect, stopConnections, modes,
} = require('../lib/harness');
const { uniqueMethod, recordAll, expectDelivery } = require('../lib/delivery');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  let c1; let c2; let c3; let all;
  const setup = async () => {
    if (c1) return;
    [c1, c2, c3] = await Promise.all([1, 2, 3].map(() => connect(server.hubUrl, { mode })));
    all = { c1, c2, c3 };
  };

  test(`[${mode.name}] SendToAll reaches all three clients exactly once`, async () => {
    await setup();
    const m = uniqueMethod('all');
    const rec = recordAll(all, m);
    await c1.invoke('SendToAll', m, { n: 1 });
    await expectDelivery(rec, { c1: [{ n: 1 }], c2: [{ n: 1 }], c3: [{ n: 1 }] }, 'SendToAll');
  });

  test(`[${mode.name}] SendToOthers reaches everyone but the caller`, async () => {
    await setup();
    const m = uniqueMethod('others');
    const rec = recordAll(all, m);
    await c2.invoke('SendToOthers', m, 'x');
    await expectDelivery(rec, { c1: ['x'], c2: [], c3: ['x'] }, 'SendToOthers');
  });

  test(`[${mode.name}] SendToCaller reaches only the caller`, async () => {
    await setup();
    const m = uniqueMethod('caller');
    const rec = recordAll(all, m);
    await c3.invoke('SendToCaller', m, [1, 2]);
    await expectDelivery(rec, { c1: [], c2: [], c3: [[1, 2]] }, 'SendToCaller');
  });

  test(`[${mode.name}] SendToConnection reaches exactly that connection`, async () => {
    await setup();
    const m = uniqueMethod('conn');
    const rec = recordAll(all, m);
    await c1.invoke('SendToConnection', c2.connectionId, m, 'to-c2');
    await expectDelivery(rec, { c1: [], c2: ['to-c2'], c3: [] }, 'SendToConnection');
  });

  test(`[${mode.name}] SendToConnection to an unknown id delivers nothing and does not fail`, async () => {
    await setup();
    const m = uniqueMethod('connunknown');
    const rec = recordAll(all, m);
    await c1.invoke('SendToConnection', 'AAAAAAAAAAAAAAAAAAAAAA', m, 'nobody');
    await expectDelivery(rec, { c1: [], c2: [], c3: [] }, 'SendToConnection(unknown)');
  });

  test(`[${mode.name}] SendToConnections reaches exactly those connections, once each`, async () => {
    await setup();
    const m = uniqueMethod('conns');
    const rec = recordAll(all, m);
    await c2.invoke('SendToConnections', [c1.connectionId, c3.connectionId, c1.connectionId], m, 7);
    await expectDelivery(rec, { c1: [7], c2: [], c3: [7] }, 'SendToConnections');
  });

  test(`[${mode.name}] SendToConnection / SendToConnections that name the caller reach the caller too`, async () => {
    await setup();
    const m = uniqueMethod('connself');
    const rec = recordAll(all, m);
    await c1.invoke('SendToConnection', c1.connectionId, m, 'self');
    await expectDelivery(rec, { c1: ['self'], c2: [], c3: [] }, 'SendToConnection(caller)');
    const m2 = uniqueMethod('connsself');
    const rec2 = recordAll(all, m2);
    await c1.invoke('SendToConnections', [c1.connectionId, c2.connectionId], m2, 'self+c2');
    await expectDelivery(rec2, { c1: ['self+c2'], c2: ['self+c2'], c3: [] }, 'SendToConnections([caller, c2])');
  });

  test(`[${mode.name}] SendToAllExcept skips the listed connections`, async () => {
    await setup();
    const m = uniqueMethod('except');
    const rec = recordAll(all, m);
    await c1.invoke('SendToAllExcept', [c1.connectionId, c3.connectionId], m, null);
    await expectDelivery(rec, { c1: [], c2: [null], c3: [] }, 'SendToAllExcept');
    const m1 = uniqueMethod('except');
    const rec1 = recordAll(all, m1);
    await c1.invoke('SendToAllExcept', [c2.connectionId], m1, 'not c2');
    await expectDelivery(rec1, { c1: ['not c2'], c2: [], c3: ['not c2'] }, 'SendToAllExcept([c2]) from c1');
    const m2 = uniqueMethod('except');
    const rec2 = recordAll(all, m2);
    await c1.invoke('SendToAllExcept', [], m2, 'everyone');
    await expectDelivery(rec2, { c1: ['everyone'], c2: ['everyone'], c3: ['everyone'] }, 'SendToAllExcept([])');
  });

  test(`[${mode.name}] a stopped connection no longer receives broadcasts (SendToOthers)`, async () => {
    await setup();
    const c4 = await connect(server.hubUrl, { mode });
    const m = uniqueMethod('gone');
    const rec = recordAll({ ...all, c4 }, m);
    await c4.stop();
    await c1.invoke('SendToOthers', m, 'after-stop');
    await expectDelivery(rec, { c1: [], c2: ['after-stop'], c3: ['after-stop'], c4: [] }, 'SendToOthers after c4 stopped');
  });
}
