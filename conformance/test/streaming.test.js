'use strict';
// §5.11 server_stream, §5.12 stream_cancel, §5.13 client_upload_stream.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, connect, stopConnections, modes, waitFor, sleep, signalR, QUIET_MS, rawWs, RS,
} = require('../lib/harness');

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopConnections(); await server.stop(); });

/** Subscribes to a stream; resolves {items, error, completed} when it ends. */
function collect(c, method, ...args) {
  const items = [];
  return new Promise((resolve) => {
    c.stream(method, ...args).subscribe({
      next: (v) => items.push(v),
      error: (e) => resolve({ items, error: e }),
      complete: () => resolve({ items, completed: true }),
    });
  });
}

for (const mode of modes()) {
  let c;
  const conn = async () => {
    if (!c) c = await connect(server.hubUrl, { mode });
    return c;
  };

  test(`[${mode.name}] stream("Counter", 5, 10) gives 0..4 then complete`, async () => {
    const r = await collect(await conn(), 'Counter', 5, 10);
    assert.deepEqual(r, { items: [0, 1, 2, 3, 4], completed: true });
  });

  test(`[${mode.name}] FailingStream gives its items, then the streaming error`, async () => {
    const r = await collect(await conn(), 'FailingStream', 3);
    assert.deepEqual(r.items, [0, 1, 2]);
    assert.ok(r.error instanceof Error);
    assert.equal(r.error.message, 'An error occurred on the server while streaming results.');
  });

  test(`[${mode.name}] invoke("Counter") is refused as a non-streaming invocation`, async () => {
    await assert.rejects((await conn()).invoke('Counter', 3, 0), (e) => {
      assert.match(e.message, /The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation\./);
      return true;
    });
    assert.equal(await (await conn()).invoke('Echo', 'still usable'), 'still usable');
  });

  test(`[${mode.name}] stream("Echo") is refused as a streaming invocation`, async () => {
    const r = await collect(await conn(), 'Echo', 1);
    assert.equal(r.error.message, "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.");
  });

  test(`[${mode.name}] dispose() after 3 items: no more items, the server logs cancelled:<id>`, async () => {
    const c = await conn();
    const items = [];
    let ended = false;
    const sub = c.stream('Counter', 1000, 20).subscribe({
      next: (v) => items.push(v),
      error: () => { ended = true; },
      complete: () => { ended = true; },
    });
    await waitFor(() => items.length >= 3, 5000, '3 items');
    const startedAt = Date.now();
    sub.dispose();
    const count = items.length;
    const events = await waitFor(async () => {
      const ev = await c.invoke('Events');
      return ev.some((e) => e.startsWith('cancelled:')) && ev;
    }, 2000, 'cancelled:<id> in Events');
    assert.ok(Date.now() - startedAt < 1000, `cancelled after ${Date.now() - startedAt} ms`);
    await sleep(QUIET_MS);
    assert.equal(items.length, count, 'items after dispose()');
    assert.equal(ended, false, 'a disposed stream calls neither error nor complete');
    assert.ok(events.filter((e) => e.startsWith('cancelled:')).length >= 1);
  });

  test(`[${mode.name}] invoke("Sum", subject) with 1..10 gives 55`, async () => {
    const c = await conn();
    const subject = new signalR.Subject();
    const sum = c.invoke('Sum', subject);
    for (let i = 1; i <= 10; i++) subject.next(i);
    subject.complete();
    assert.equal(await sum, 55);
  });

  test(`[${mode.name}] Sum reads items sent while it runs, and 100 of them`, async () => {
    const c = await conn();
    const subject = new signalR.Subject();
    const sum = c.invoke('Sum', subject);
    let want = 0;
    for (let i = 1; i <= 100; i++) {
      subject.next(i);
      want += i;
      if (i % 25 === 0) await sleep(10);
    }
    subject.complete();
    assert.equal(await sum, want);
  });

  test(`[${mode.name}] two upload streams in one connection at once`, async () => {
    const c = await conn();
    const a = new signalR.Subject();
    const b = new signalR.Subject();
    const sa = c.invoke('Sum', a);
    const sb = c.invoke('Sum', b);
    a.next(1); b.next(10); a.next(2); b.next(20);
    b.complete(); a.complete();
    assert.deepEqual(await Promise.all([sa, sb]), [3, 30]);
  });

  test(`[${mode.name}] two streams in one call to Sum (one stream): the stream-count error`, async () => {
    // Not with the official client: its _replaceStreamingParams splices while
    // iterating, so of two adjacent Subjects the second goes as an argument.
    const probe = rawWs(server.hubUrl, { id: undefined });
    try {
      assert.equal(await probe.handshake(), '{}' + RS);
      probe.send([
        { type: 1, invocationId: '2', target: 'Sum', arguments: [], streamIds: ['0', '1'] },
        { type: 2, invocationId: '0', item: 1 },
        { type: 2, invocationId: '1', item: 2 },
        { type: 3, invocationId: '0' },
        { type: 3, invocationId: '1' },
      ].map((m) => JSON.stringify(m) + RS).join(''));
      const done = await probe.waitForRecord((r) => r.type === 3 && r.invocationId === '2');
      assert.equal(done.error, "An unexpected error occurred invoking 'Sum' on the server. HubException: Client sent 2 stream(s), Hub method expects 1.");
    } finally {
      probe.close();
    }
  });

  test(`[${mode.name}] send("Sum", subject) streams too (no Completion)`, async () => {
    const c = await conn();
    const subject = new signalR.Subject();
    await c.send('Sum', subject);
    subject.next(1);
    subject.complete();
    assert.equal(await c.invoke('Echo', 'after'), 'after');
  });

  test(`[${mode.name}] subject.error(new Error("x")): the server sees it and the invocation fails`, async () => {
    const c = await conn();
    const subject = new signalR.Subject();
    const sum = c.invoke('Sum', subject);
    subject.next(1);
    subject.error(new Error('x'));
    await assert.rejects(sum, (e) => {
      assert.match(e.message, /An unexpected error occurred invoking 'Sum' on the server\./);
      return true;
    });
    assert.equal(await c.invoke('Echo', 'still usable'), 'still usable');
  });
}
