'use strict';
// One broadcast reaching clients of every transport × protocol pair at once: each gets it exactly
// once, and every client decodes the same payload (the server encodes once per protocol).
const {
  test, before, after, startServer, connect, stopConnections, MATRIX,
} = require('../lib/harness');
const { uniqueMethod, recordAll, expectDelivery } = require('../lib/delivery');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

const PAYLOAD = {
  text: 'héllo wörld \u001e 🚀 日本語',
  n: [0, -1, 42, 2 ** 40, -2.5, 1e-7],
  nested: { a: [true, false, null], b: { c: 'd' } },
  empty: { list: [], obj: {} },
};

for (const sender of MATRIX) {
  test(`a SendToAll from ${sender.name} reaches a client of every pair once, with identical payloads`, async () => {
    const conns = {};
    await Promise.all(MATRIX.map(async (mode) => { conns[mode.name] = await connect(server.hubUrl, { mode }); }));
    try {
      const m = uniqueMethod('matrix');
      const rec = recordAll(conns, m);
      await conns[sender.name].invoke('SendToAll', m, PAYLOAD);
      const expected = {};
      for (const mode of MATRIX) expected[mode.name] = [PAYLOAD];
      await expectDelivery(rec, expected, `broadcast from ${sender.name}`);
    } finally {
      await Promise.all(Object.values(conns).map((c) => c.stop()));
    }
  });
}
