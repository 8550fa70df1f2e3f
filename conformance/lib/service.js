'use strict';
// Helpers of the "actorhub as a service" cases: access key tokens minted here with node:crypto (not with
// actorhub's Go helper), REST calls, an application server that answers negotiate with a redirect, and an
// upstream backend that records what actorhub POSTs and answers as a serverless app would.

const crypto = require('node:crypto');
const http = require('node:http');

const ACCESS_KEY = 'conformance-access-key-0123456789-abcdefgh';
const API_VERSION = '2022-06-01';

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

/** An HS256 JWT signed with `key`: aud, exp (ttlSeconds from now) and the claims. */
function token(aud, claims = {}, { key = ACCESS_KEY, ttlSeconds = 300, alg = 'HS256' } = {}) {
  const header = b64url({ alg, typ: 'JWT' });
  const payload = b64url({ ...claims, aud, exp: Math.floor(Date.now() / 1000) + ttlSeconds });
  const sig = crypto.createHmac('sha256', key).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${sig}`;
}

/**
 * A REST call on `baseUrl` (a node's URL): path like '/api/hubs/conformance/:send', query without
 * api-version. Returns {status, text, json}. opts: body (object, or a string sent as is), auth (the whole
 * Authorization header; default: a good token for the URL), apiVersion (false: none).
 */
async function rest(baseUrl, method, path, opts = {}) {
  const q = [];
  if (opts.apiVersion !== false) q.push(`api-version=${opts.apiVersion || API_VERSION}`);
  if (opts.query) q.push(opts.query);
  const url = `${baseUrl}${path}${q.length ? '?' + q.join('&') : ''}`;
  const headers = {};
  const auth = opts.auth !== undefined ? opts.auth : `Bearer ${token(`${baseUrl}${path}`)}`;
  if (auth) headers.Authorization = auth;
  let body;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

/** Starts an HTTP server on 127.0.0.1:0 with `handler`; returns {url, close()}. */
function listenHttp(handler) {
  return new Promise((resolve, reject) => {
    const srv = http.createServer(handler);
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
      });
    });
  });
}

/**
 * An application server: POST /<hub>/negotiate?user=<user> answers {url, accessToken} for actorhub's
 * client URL of <hub> on one of `nodeUrls()` (in turn), with a token naming the user (asrs.s.uid) and
 * a "role" claim. The official client follows the redirect by itself.
 */
async function startAppServer(nodeUrls) {
  let next = 0;
  const app = await listenHttp((req, res) => {
    const u = new URL(req.url, 'http://x');
    const m = /^\/([^/]+)\/negotiate$/.exec(u.pathname);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404).end();
      return;
    }
    const urls = nodeUrls();
    const base = urls[next++ % urls.length];
    const clientUrl = `${base}/client/?hub=${encodeURIComponent(m[1])}`;
    const claims = { role: 'tester' };
    const user = u.searchParams.get('user');
    if (user) claims['asrs.s.uid'] = user;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ url: clientUrl, accessToken: token(clientUrl, claims) }));
  });
  return app;
}

/** The signature actorhub puts in X-ASRS-Signature for a connection, for one key. */
function signature(connectionId, key = ACCESS_KEY) {
  return 'sha256=' + crypto.createHmac('sha256', key).update(connectionId).digest('hex');
}

/**
 * An upstream backend: records every request ({path, headers, body (Buffer), signatureOk}) and answers
 * by event: echo -> its first argument (JSON body, the result); completion -> a SignalR Completion message
 * as the Azure Functions extension writes it (JSON clients); fail -> 500; slow -> waits for release(); void
 * -> 200 empty; others -> 200 empty.
 */
async function startBackend() {
  const requests = [];
  let gate = null;
  const backend = await listenHttp((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const id = req.headers['x-asrs-connection-id'] || '';
      const sigs = String(req.headers['x-asrs-signature'] || '').split(',').map((s) => s.trim().toLowerCase());
      const entry = { path: req.url, headers: req.headers, body, signatureOk: sigs.includes(signature(id)) };
      requests.push(entry);
      const event = req.headers['x-asrs-event'];
      const json = req.headers['content-type'] === 'application/json';
      let inv = null;
      if (json && req.headers['x-asrs-category'] === 'messages') inv = JSON.parse(body.toString('utf8'));
      if (!json && req.headers['x-asrs-category'] === 'messages') {
        const { decode } = require('@msgpack/msgpack');
        const arr = decode(body); // [1, headers, invocationId, target, arguments, ...]
        inv = { invocationId: arr[2], target: arr[3], arguments: arr[4] };
      }
      entry.invocation = inv;
      if (event === 'slow' && gate) await gate.promise;
      switch (event) {
        case 'echo':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(inv.arguments[0]));
          return;
        case 'completion':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ type: 3, invocationId: inv.invocationId, result: { via: 'completion', arg: inv.arguments[0] } }) + '\x1e');
          return;
        case 'fail':
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end('a secret the client must not see');
          return;
        case 'slow':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(inv.arguments[0]));
          return;
        default:
          res.writeHead(200);
          res.end();
      }
    });
  });
  return {
    ...backend,
    requests,
    /** The requests of one connection, as "event". */
    events(connectionId) {
      return requests.filter((r) => r.headers['x-asrs-connection-id'] === connectionId).map((r) => r.headers['x-asrs-event']);
    },
    /** Makes "slow" requests wait until the returned function is called. */
    hold() {
      let release;
      gate = { promise: new Promise((r) => { release = r; }) };
      return () => { gate = null; release(); };
    },
  };
}

module.exports = { ACCESS_KEY, API_VERSION, token, rest, startAppServer, startBackend, signature, listenHttp };
