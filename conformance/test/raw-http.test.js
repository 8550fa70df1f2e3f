'use strict';
// §5.24 raw_transport_rules for the HTTP transports: raw fetch probes of Server-Sent Events, long polling
// and POST (no client library). Server: -longpoll-timeout 700ms.
const assert = require('node:assert/strict');
const {
  test, before, after, startServer, rawNegotiate, rawWs, RS, within,
} = require('../lib/harness');

const POLL_TIMEOUT_MS = 700;

let server;
before(async () => { server = await startServer(['-longpoll-timeout', `${POLL_TIMEOUT_MS}ms`]); });
after(async () => { await server.stop(); });

async function newToken() {
  const r = await rawNegotiate(server.hubUrl, '?negotiateVersion=1');
  assert.equal(r.status, 200, r.text);
  return r.json.connectionToken;
}

/** A request; resolves with {status, headers, text, ms}. */
async function request(method, query, { body, headers, signal } = {}) {
  const t0 = Date.now();
  const res = await fetch(`${server.hubUrl}${query}`, { method, body, headers, signal });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: Date.now() - t0 };
}

const poll = (token, opts) => request('GET', `?id=${token}&_=${Date.now()}`, opts);
const post = (token, body) => request('POST', `?id=${token}`, { body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } });

/** Opens an SSE stream; returns {res, read(predicate, ms) -> all text so far once predicate(text), abort()}. */
async function openSse(token) {
  const ac = new AbortController();
  const res = await fetch(`${server.hubUrl}?id=${token}`, { headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-cache' }, signal: ac.signal });
  const stream = { res, text: '', abort: () => ac.abort() };
  if (res.status !== 200) {
    await res.arrayBuffer();
    return stream;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  stream.done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'end';
        stream.text += decoder.decode(value, { stream: true });
      }
    } catch (e) {
      return 'error';
    }
  })();
  stream.read = async (predicate, ms = 5000, what = 'SSE data') => {
    const deadline = Date.now() + ms;
    while (!predicate(stream.text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(stream.text)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return stream.text;
  };
  return stream;
}

test('SSE: headers, first bytes ":\\r\\n", each write one "data: ...\\r\\n\\r\\n" event, a second SSE GET gets 409', async () => {
  const token = await newToken();
  const s = await openSse(token);
  assert.equal(s.res.status, 200);
  assert.equal(s.res.headers.get('content-type'), 'text/event-stream');
  assert.equal(s.res.headers.get('cache-control'), 'no-cache,no-store');
  assert.equal(s.res.headers.get('pragma'), 'no-cache');
  assert.equal(s.res.headers.get('content-encoding'), 'identity');
  assert.equal(await s.read((t) => t.length >= 3, 2000, 'the first bytes'), ':\r\n');

  const second = await openSse(token);
  assert.equal(second.res.status, 409, 'a second SSE GET on an active connection');

  assert.equal((await post(token, JSON.stringify({ protocol: 'json', version: 1 }) + RS)).status, 200);
  assert.equal(await s.read((t) => t.length > 3), `:\r\ndata: {}${RS}\r\n\r\n`);
  const inv = { type: 1, invocationId: '1', target: 'Echo', arguments: ['a\nb'] };
  assert.equal((await post(token, JSON.stringify(inv) + RS)).status, 200);
  const text = await s.read((t) => t.includes('"invocationId":"1"') && t.endsWith('\r\n\r\n'));
  const event = text.slice(`:\r\ndata: {}${RS}\r\n\r\n`.length);
  assert.match(event, /^data: [^\r\n]*\x1e\r\n\r\n$/, `one event with one data line: ${JSON.stringify(event)}`);
  assert.deepEqual(JSON.parse(event.slice(6, event.indexOf(RS))), { type: 3, invocationId: '1', result: 'a\nb' });

  // The client's stop: a hub Close by POST; the stream ends.
  assert.equal((await post(token, JSON.stringify({ type: 7 }) + RS)).status, 200);
  assert.equal(await within(s.done, 5000, 'the end of the event stream'), 'end');
  assert.equal((await post(token, JSON.stringify({ type: 6 }) + RS)).status, 404, 'POST after the end');
});

test('long polling: the first GET is 200 with an empty body at once; a second concurrent poll makes the first return 204', async () => {
  const token = await newToken();
  const first = await poll(token);
  assert.equal(first.status, 200);
  assert.equal(first.text, '');
  assert.equal(first.headers.get('content-length'), '0');
  assert.ok(first.ms < 1000, `the first poll took ${first.ms} ms`);
  assert.equal(first.headers.get('cache-control'), 'no-cache, no-store');
  assert.equal(first.headers.get('pragma'), 'no-cache');
  assert.equal(first.headers.get('expires'), 'Thu, 01 Jan 1970 00:00:00 GMT');

  assert.equal((await post(token, JSON.stringify({ protocol: 'json', version: 1 }) + RS)).status, 200);
  const hs = await poll(token);
  assert.equal(hs.status, 200);
  assert.equal(hs.headers.get('content-type'), 'application/octet-stream');
  assert.equal(hs.text, `{}${RS}`);

  const older = poll(token);
  await new Promise((r) => setTimeout(r, 100));
  const newer = poll(token);
  assert.equal((await within(older, 5000, 'the older poll')).status, 204);
  const inv = { type: 1, invocationId: '1', target: 'Add', arguments: [40, 2] };
  assert.equal((await post(token, JSON.stringify(inv) + RS)).status, 200);
  const got = await within(newer, 5000, 'the newer poll');
  assert.equal(got.status, 200);
  assert.deepEqual(JSON.parse(got.text.split(RS)[0]), { type: 3, invocationId: '1', result: 42 });
  assert.equal((await request('DELETE', `?id=${token}`)).status, 202);
});

test(`long polling: a poll with nothing to carry returns 200 empty after the poll timeout (-longpoll-timeout ${POLL_TIMEOUT_MS}ms)`, async () => {
  const token = await newToken();
  assert.equal((await poll(token)).status, 200);
  const r = await poll(token);
  assert.equal(r.status, 200);
  assert.equal(r.text, '');
  assert.ok(r.ms >= POLL_TIMEOUT_MS - 50, `returned after ${r.ms} ms`);
  assert.ok(r.ms < POLL_TIMEOUT_MS + 3000, `returned after ${r.ms} ms`);
  assert.equal((await request('DELETE', `?id=${token}`)).status, 202);
});

test('long polling: DELETE gives 202 and the pending poll 204; afterwards POST and GET give 404', async () => {
  const token = await newToken();
  assert.equal((await poll(token)).status, 200);
  const pending = poll(token);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await request('DELETE', `?id=${token}`)).status, 202);
  assert.equal((await within(pending, 5000, 'the pending poll')).status, 204);
  assert.equal((await post(token, JSON.stringify({ type: 6 }) + RS)).status, 404);
  assert.equal((await poll(token)).status, 404);
  assert.equal((await request('DELETE', `?id=${token}`)).status, 404);
});

test('missing id gives 400 "Connection ID required" on POST and GET (long poll and SSE); an unknown id 404', async () => {
  for (const [method, headers] of [['POST', {}], ['GET', {}], ['GET', { Accept: 'text/event-stream' }]]) {
    const r = await request(method, '', { headers });
    assert.equal(r.status, 400, `${method} ${JSON.stringify(headers)}`);
    assert.equal(r.text.trim(), 'Connection ID required');
    const u = await request(method, '?id=nope', { headers });
    assert.equal(u.status, 404, `${method} ${JSON.stringify(headers)} unknown id`);
  }
});

test('POST to a WebSocket connection gives 405; SSE or long polling on it gives 400', async () => {
  const token = await newToken();
  const p = rawWs(server.hubUrl, { id: token });
  assert.equal(await p.handshake('json', 1), `{}${RS}`);
  assert.equal((await post(token, JSON.stringify({ type: 6 }) + RS)).status, 405);
  const sse = await openSse(token);
  assert.equal(sse.res.status, 400);
  const lp = await poll(token);
  assert.equal(lp.status, 400);
  assert.equal(lp.text.trim(), 'Cannot change transports mid-connection');
  p.close();
  await p.closed;
});
