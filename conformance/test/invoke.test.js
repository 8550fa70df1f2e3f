'use strict';
// §5.3 invoke_roundtrip and §5.7 method_name_case.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, listen,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

for (const mode of modes()) {
  let c;
  const conn = async () => {
    if (!c) c = await connect(server.hubUrl, { mode });
    return c;
  };

  test(`[${mode.name}] Echo: nested objects, arrays, empty containers`, async () => {
    const c = await conn();
    const values = [
      { a: 1, b: { c: [1, 2, { d: 'e' }], f: null, g: true }, h: [], i: {} },
      [1, 'two', 3.5, null, false, [[]], { k: [{}] }],
      [],
      {},
      { 'key with spaces': 1, 'ключ': 2, '🔑': 3, '': 4 },
    ];
    let deep = { leaf: 'x' };
    for (let i = 0; i < 30; i++) deep = { level: i, child: deep, list: [deep.leaf || i] };
    values.push(deep);
    for (const v of values) assert.deepEqual(await c.invoke('Echo', v), v);
  });

  test(`[${mode.name}] Echo: unicode, emoji, control characters and 0x1E inside strings`, async () => {
    const c = await conn();
    const values = [
      'héllo wörld',
      '日本語テキスト 中文 한국어 العربية עברית',
      '🎉😀👨‍👩‍👧‍👦🏳️‍🌈 \u{1F600}\u{10FFFF}',
      'record\u001eseparator\u001e',
      '\u001e',
      'quote " backslash \\ slash / newline \n tab \t cr \r nul \u0000 bell \u0007',
      '\u2028\u2029 line separators',
      '',
      '{"type":7}\u001e',
    ];
    for (const v of values) assert.equal(await c.invoke('Echo', v), v);
    assert.deepEqual(await c.invoke('Echo', { '\u001e': '\u001e🎉' }), { '\u001e': '\u001e🎉' });
  });

  test(`[${mode.name}] Echo: 20 KB strings (ASCII and multi-byte)`, async () => {
    const c = await conn();
    const ascii = 'abcdefghij'.repeat(2048); // 20480 bytes
    assert.equal(await c.invoke('Echo', ascii), ascii);
    const multi = 'é€🎉'.repeat(2000); // 2+3+4 bytes per repetition: ~18 KB UTF-8
    assert.equal(await c.invoke('Echo', multi), multi);
  });

  test(`[${mode.name}] Echo: large, negative and float numbers`, async () => {
    const c = await conn();
    const values = [
      0, 1, -1, 42, -42, 2147483647, -2147483648, 4294967296,
      Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
      3.141592653589793, -0.5, 0.1, 1e21, 1.5e-7, -2.5e-300,
      Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_VALUE,
    ];
    for (const v of values) assert.equal(await c.invoke('Echo', v), v, `Echo(${v})`);
    assert.deepEqual(await c.invoke('Echo', values), values);
  });

  test(`[${mode.name}] Echo: null, booleans`, async () => {
    const c = await conn();
    assert.equal(await c.invoke('Echo', null), null);
    assert.equal(await c.invoke('Echo', true), true);
    assert.equal(await c.invoke('Echo', false), false);
    assert.deepEqual(await c.invoke('Echo', [true, false, null]), [true, false, null]);
  });

  test(`[${mode.name}] Add(40, 2) === 42 and other sums`, async () => {
    const c = await conn();
    assert.equal(await c.invoke('Add', 40, 2), 42);
    assert.equal(await c.invoke('Add', -5, 3), -2);
    assert.equal(await c.invoke('Add', 0, 0), 0);
  });

  test(`[${mode.name}] Void resolves with null/undefined`, async () => {
    const c = await conn();
    const r = await c.invoke('Void');
    assert.ok(r === null || r === undefined, `Void returned ${JSON.stringify(r)}`);
  });

  test(`[${mode.name}] concurrent invokes each get their own result`, async () => {
    const c = await conn();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => c.invoke('Add', i, 1000)));
    assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i + 1000));
  });

  test(`[${mode.name}] hub method names are case-insensitive (echo, ECHO, eChO, add)`, async () => {
    const c = await conn();
    assert.equal(await c.invoke('echo', 'lower'), 'lower');
    assert.equal(await c.invoke('ECHO', 'upper'), 'upper');
    assert.deepEqual(await c.invoke('eChO', { m: 1 }), { m: 1 });
    assert.equal(await c.invoke('add', 1, 2), 3);
    assert.equal(await c.invoke('GETCONNECTIONID'), c.connectionId);
  });

  test(`[${mode.name}] server send to "ReceiveMsg" fires on("receivemsg") and on("RECEIVEMSG")`, async () => {
    const c = await connect(server.hubUrl, { mode });
    const lower = listen(c, 'receivemsg');
    const upper = listen(c, 'RECEIVEMSG');
    await c.invoke('SendToCaller', 'ReceiveMsg', { hello: 'world' });
    await waitFor(() => lower.length >= 1 && upper.length >= 1, 5000, 'ReceiveMsg delivery');
    assert.deepEqual(lower, [{ hello: 'world' }]);
    assert.deepEqual(upper, [{ hello: 'world' }]);
    await c.stop();
  });
}
