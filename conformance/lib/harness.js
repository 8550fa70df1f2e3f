'use strict';
// Test harness for the actorhub conformance suite.
//
// - builds the Go server once per run (`go build -o <tmp>/actorhub-server ./cmd/server`; node --test runs
//   every test file in its own process, and those processes share one build), or uses ACTORHUB_SERVER_BIN;
// - starts/stops server processes (`-conformance -addr 127.0.0.1:0 ...flags`);
// - builds official @microsoft/signalr HubConnections for a transport x protocol "mode";
// - small polling / recording helpers and raw negotiate / raw WebSocket probes.
//
// Environment:
//   ACTORHUB_SERVER_BIN=path   use this server binary, skip `go build`
//   CONFORMANCE_NODES=N        every startServer() is a deployment of N nodes on one backplane (a
//                              server started for it), and the clients that connect() makes are
//                              spread over the nodes in turn
//   CONFORMANCE_BACKPLANE=K    the backplane of every deployment of several nodes: redis (default),
//                              redis-cluster, postgres or nats (see lib/backplanes.js)
//   CONFORMANCE_DEBUG=1        client Trace logging with message content, client log and server
//                              stderr echoed live
//
// Quiet on success, loud on failure: the official client's log and every server's output are kept,
// in order, and a failing test's error carries what was logged while it ran (see test below).

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const nodeTest = require('node:test');
const signalR = require('@microsoft/signalr');
const WebSocket = require('ws');
const backplanes = require('./backplanes');

const { HttpTransportType, LogLevel, HubConnectionBuilder, HubConnectionState } = signalR;

// conformance/lib -> conformance -> repository root
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const HUB_PATH = '/hubs/conformance';
const DEBUG = process.env.CONFORMANCE_DEBUG === '1';
const RS = '\x1e';

// ---------------------------------------------------------------------------------------------
// Server build and process management

let buildPromise = null;

function goBuild(bin) {
  return new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', bin, './cmd/server'],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 300000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`go build -o ${bin} ./cmd/server failed in ${REPO_ROOT}:\n${stderr || err.message}`));
        else resolve(bin);
      });
  });
}

// Under `node --test` every test file is its own process, child of the runner. They share one build:
// the first to create <tmp>/actorhub-conformance-<runner pid>-<runner start time>/ builds into it,
// the others wait for the binary. Directories of runners that are gone are removed.
function runnerKey(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid}-${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
  } catch {
    return null;
  }
}

function removeStaleBuildDirs() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = /^actorhub-conformance-(\d+)-(\d+)$/.exec(name);
    if (m && runnerKey(Number(m[1])) !== `${m[1]}-${m[2]}`) {
      try { fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true }); } catch { /* ignore */ }
    }
  }
}

async function sharedBuild(key) {
  removeStaleBuildDirs();
  const dir = path.join(os.tmpdir(), `actorhub-conformance-${key}`);
  const bin = path.join(dir, 'actorhub-server');
  const errFile = path.join(dir, 'build-error.txt');
  let builder = false;
  try {
    fs.mkdirSync(dir);
    builder = true;
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  if (builder) {
    try {
      await goBuild(bin + '.tmp');
      fs.renameSync(bin + '.tmp', bin);
    } catch (e) {
      fs.writeFileSync(errFile, e.message);
      throw e;
    }
    return bin;
  }
  const deadline = Date.now() + 300000;
  for (;;) {
    if (fs.existsSync(bin)) return bin;
    if (fs.existsSync(errFile)) throw new Error(fs.readFileSync(errFile, 'utf8'));
    if (Date.now() > deadline) throw new Error(`timed out waiting for another test process to build ${bin}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function serverBinary() {
  if (process.env.ACTORHUB_SERVER_BIN) {
    return Promise.resolve(path.resolve(process.env.ACTORHUB_SERVER_BIN));
  }
  if (!buildPromise) {
    const key = process.env.NODE_TEST_CONTEXT ? runnerKey(process.ppid) : null;
    if (key) {
      buildPromise = sharedBuild(key);
    } else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actorhub-conformance-build-'));
      process.on('exit', () => {
        try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* ignore */ }
      });
      buildPromise = goBuild(path.join(dir, 'actorhub-server'));
    }
  }
  return buildPromise;
}

const liveServers = new Set();
const logLines = []; // {seq, server, line}: every server's output and the clients' log, in order
let logSeq = 0;

/** Keeps one line of output of source (a server's name, or "client") for failing tests. */
function keepLine(source, line) {
  logLines.push({ seq: ++logSeq, server: source, line });
  if (logLines.length > 5000) logLines.splice(0, logLines.length - 5000);
}

// A backplane server that went away unasked shows in the log of the tests that were running.
backplanes.onUnexpectedExit((text) => {
  for (const line of text.split('\n')) keepLine('backplane', line);
});

process.on('exit', () => {
  for (const s of liveServers) {
    try { s.process.kill('SIGKILL'); } catch { /* ignore */ }
  }
});

const NODES = Number(process.env.CONFORMANCE_NODES || 1);

/**
 * Starts the server under test: `<bin> -conformance -addr 127.0.0.1:0 ...flags`, waiting for
 * `listening on HOST:PORT` on stderr. With CONFORMANCE_NODES=N it is a deployment of N such nodes
 * on a Redis started for it (see startCluster). Returns {url, hubUrl, stop(), logs(), process, exit}.
 */
async function startServer(flags = [], opts = {}) {
  if (NODES > 1) return startCluster(NODES, flags, { ...opts, spread: true });
  return startNode(flags, opts);
}

/** A free TCP port on 127.0.0.1 (free when returned; the caller binds it soon after). */
function freePort() {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a redis-server on a free loopback port. Returns {url, port, stop(), restart(), process}.
 * The test command installs redis-server when it is missing.
 */
async function startRedis() {
  const r = await backplanes.startBackplane('redis');
  r.url = r.url();
  return r;
}

/** The backplane of deployments of several nodes: CONFORMANCE_BACKPLANE, by default redis. */
const BACKPLANE = process.env.CONFORMANCE_BACKPLANE || 'redis';
if (!backplanes.KINDS.includes(BACKPLANE)) {
  throw new Error(`CONFORMANCE_BACKPLANE=${BACKPLANE}: want one of ${backplanes.KINDS.join(', ')}`);
}

// Deployments by the URL of their first node: connect() spreads their clients over the nodes.
const clusters = new Map();

// The deployments that startServer() makes share one backplane server per kind and test file (a
// PostgreSQL server is the costly one to start), each under a prefix of its own.
const sharedBackplanes = new Map(); // kind -> Promise of its server
let deployments = 0;

function sharedBackplane(kind) {
  if (!sharedBackplanes.has(kind)) {
    const p = backplanes.startBackplane(kind);
    p.catch(() => sharedBackplanes.delete(kind));
    sharedBackplanes.set(kind, p);
  }
  return sharedBackplanes.get(kind);
}

/**
 * Starts n nodes on a backplane (opts.backplane, else CONFORMANCE_BACKPLANE, else redis): `-backplane URL
 * -node-id nodeK` plus flags. With opts.spread (the deployments of startServer) the server is shared
 * with the file's other deployments, each under its own -backplane-prefix; else it is the deployment's
 * own, started for it (tests that stop it or cut its connections). The result looks like startServer's
 * for its first node (url, hubUrl, process, exit), plus `nodes` (each node's server) and `backplane` (see
 * lib/backplanes.js; also as `redis` when it is one); stop() stops every node, then its own backplane.
 * With opts.spread, connect() spreads the clients of the first node's URL over the nodes in turn.
 */
async function startCluster(n, flags = [], opts = {}) {
  const kind = opts.backplane || BACKPLANE;
  const own = !opts.spread;
  const backplane = own ? await backplanes.startBackplane(kind) : await sharedBackplane(kind);
  const prefix = own ? [] : ['-backplane-prefix', `d${++deployments}`];
  const started = await Promise.allSettled(Array.from({ length: n }, (_, k) =>
    startNode(['-backplane', backplane.url(`node${k + 1}`), ...prefix, '-node-id', `node${k + 1}`, '-node-expiry', '2s', ...flags], opts)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    // The nodes that did start would keep this process alive: stop them.
    await Promise.all(started.filter((r) => r.status === 'fulfilled').map((r) => r.value.stop()));
    if (own) await backplane.stop();
    throw failed.reason;
  }
  const nodes = started.map((r) => r.value);
  const first = nodes[0];
  const cluster = Object.create(first);
  Object.assign(cluster, {
    nodes,
    backplane,
    redis: backplane.kind === 'redis' ? backplane : undefined,
    next: 0,
    logs: () => nodes.flatMap((s) => s.logs()),
    async stop() {
      clusters.delete(first.url);
      const infos = await Promise.all(nodes.map((s) => s.stop()));
      if (own) await backplane.stop();
      return infos[0];
    },
  });
  if (opts.spread) clusters.set(first.url, cluster);
  return cluster;
}

/**
 * The conformance hub's lifecycle log (`Events`) as `conn` sees it. The log is each node's own: on a
 * deployment of several nodes this asks every node (through an observer connection per node, made
 * once) and joins their logs, so a test sees the events of a connection whatever node it is on.
 */
async function events(conn) {
  const base = conn.baseUrl;
  for (const [url, cluster] of clusters) {
    if (!cluster.nodes.some((s) => base.startsWith(s.url))) continue;
    const hubPath = base.slice(base.indexOf('/', 'http://'.length)).replace(/\?.*$/, '');
    cluster.observers = cluster.observers || {};
    const all = [];
    for (let k = 0; k < cluster.nodes.length; k++) {
      const key = `${k}${hubPath}`;
      if (!cluster.observers[key]) cluster.observers[key] = await connect(url + hubPath, { node: k });
      all.push(...await cluster.observers[key].invoke('Events'));
    }
    return all;
  }
  return conn.invoke('Events');
}

/** The URL a new client of hubUrl uses: with a deployment of several nodes, the next node in turn. */
function spread(hubUrl, node) {
  for (const [url, cluster] of clusters) {
    if (!hubUrl.startsWith(url)) continue;
    const k = node !== undefined ? node : cluster.next++ % cluster.nodes.length;
    return cluster.nodes[k].url + hubUrl.slice(url.length);
  }
  return hubUrl;
}

async function startNode(flags = [], { startTimeoutMs = 20000 } = {}) {
  const bin = await serverBinary();
  const args = ['-conformance', '-addr', '127.0.0.1:0', ...flags];
  const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const name = `server[${flags.join(' ') || 'default'}]#${child.pid}`;
  const lines = [];
  let exitInfo = null;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  let onListening;
  const listening = new Promise((resolve, reject) => {
    onListening = resolve;
    child.on('error', reject);
    exit.then((info) => reject(new Error(`${name} exited (${JSON.stringify(info)}) before listening:\n${lines.join('\n')}`)));
  });

  const addLine = (stream, line) => {
    lines.push(`${stream}: ${line}`);
    keepLine(name, `${stream}: ${line}`);
    if (DEBUG) process.stderr.write(`[${name}] ${stream}: ${line}\n`);
    const m = stream === 'stderr' && /listening on (\S+)/.exec(line);
    if (m) onListening(m[1]);
  };
  for (const [streamName, stream] of [['stderr', child.stderr], ['stdout', child.stdout]]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        addLine(streamName, buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
      }
    });
  }

  let timer;
  const hostPort = await Promise.race([
    listening,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not print "listening on HOST:PORT" within ${startTimeoutMs} ms:\n${lines.join('\n')}`)), startTimeoutMs);
    }),
  ]).finally(() => clearTimeout(timer)).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });

  const url = `http://${hostPort}`;
  const server = {
    name,
    url,
    hubUrl: url + HUB_PATH,
    process: child,
    exit,
    get exitInfo() { return exitInfo; },
    logs: () => lines.slice(),
    /** SIGTERM, then SIGKILL after 5 s; resolves with {code, signal}. */
    async stop() {
      if (exitInfo) { liveServers.delete(server); return exitInfo; }
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => {
        lines.push('harness: no exit 5 s after SIGTERM, sending SIGKILL');
        child.kill('SIGKILL');
      }, 5000);
      const info = await exit;
      clearTimeout(killTimer);
      liveServers.delete(server);
      return info;
    },
  };
  liveServers.add(server);
  return server;
}

// ---------------------------------------------------------------------------------------------
// Transport x protocol matrix

const MATRIX = [
  { name: 'WebSockets+json', transport: HttpTransportType.WebSockets, protocol: 'json' },
  { name: 'WebSockets+messagepack', transport: HttpTransportType.WebSockets, protocol: 'messagepack' },
  { name: 'ServerSentEvents+json', transport: HttpTransportType.ServerSentEvents, protocol: 'json' },
  { name: 'LongPolling+json', transport: HttpTransportType.LongPolling, protocol: 'json' },
  { name: 'LongPolling+messagepack', transport: HttpTransportType.LongPolling, protocol: 'messagepack' },
];

/** The modes every client-driven case runs in: the five transport × protocol pairs
 * (Server-Sent Events carries text only, so it has no MessagePack pair). */
function modes() {
  return MATRIX;
}

const DEFAULT_MODE = MATRIX[0];

function hubProtocolFor(mode) {
  if (mode.protocol === 'messagepack') {
    const { MessagePackHubProtocol } = require('@microsoft/signalr-protocol-msgpack');
    return new MessagePackHubProtocol();
  }
  return new signalR.JsonHubProtocol();
}

// ---------------------------------------------------------------------------------------------
// Official client helpers

const liveConnections = new Set();

/**
 * Builds (and by default starts) a HubConnection.
 * opts: mode, accessToken (string | () => string), reconnect (true | number[] | IRetryPolicy),
 *       serverTimeout, keepAliveInterval, skipNegotiation, httpClient, protocol (IHubProtocol),
 *       headers, statefulReconnect (true | {bufferSize}), start (default true).
 * The connection gets `conn.events = {closed: [], reconnecting: [], reconnected: []}` (errors / ids, in order).
 */
async function connect(hubUrl, opts = {}) {
  const conn = build(hubUrl, opts);
  if (opts.start !== false) await conn.start();
  return conn;
}

/**
 * The official client's logger: its lines (from minLevel up) are kept with the servers' output and
 * shown with a failing test only; CONFORMANCE_DEBUG=1 prints them live too. Many tests expect the
 * client to log errors (a refused connection, a server's Close): a passing run prints none of them.
 */
function clientLogger(minLevel) {
  return {
    log(level, message) {
      if (level < minLevel || level === LogLevel.None) return;
      const line = `${LogLevel[level]}: ${message}`;
      if (DEBUG) process.stderr.write(`[client] ${line}\n`);
      keepLine('client', line);
    },
  };
}

function build(hubUrl, opts = {}) {
  hubUrl = spread(hubUrl, opts.node);
  const mode = opts.mode || DEFAULT_MODE;
  const httpOptions = {
    transport: opts.transport !== undefined ? opts.transport : mode.transport,
    logMessageContent: DEBUG,
  };
  if (opts.skipNegotiation) httpOptions.skipNegotiation = true;
  if (opts.httpClient) httpOptions.httpClient = opts.httpClient;
  if (opts.headers) httpOptions.headers = opts.headers;
  if (opts.accessToken !== undefined) {
    const tok = opts.accessToken;
    httpOptions.accessTokenFactory = typeof tok === 'function' ? tok : () => tok;
  }
  let b = new HubConnectionBuilder()
    .withUrl(hubUrl, httpOptions)
    .withHubProtocol(opts.protocol || hubProtocolFor(mode))
    .configureLogging(clientLogger(DEBUG ? LogLevel.Trace : (opts.logLevel !== undefined ? opts.logLevel : LogLevel.Information)));
  if (opts.reconnect === true) b = b.withAutomaticReconnect();
  else if (opts.reconnect) b = b.withAutomaticReconnect(opts.reconnect);
  if (opts.serverTimeout !== undefined) b = b.withServerTimeout(opts.serverTimeout);
  if (opts.keepAliveInterval !== undefined) b = b.withKeepAliveInterval(opts.keepAliveInterval);
  if (opts.statefulReconnect === true) b = b.withStatefulReconnect();
  else if (opts.statefulReconnect) b = b.withStatefulReconnect(opts.statefulReconnect);
  const conn = b.build();
  conn.events = { closed: [], reconnecting: [], reconnected: [] };
  conn.onclose((err) => conn.events.closed.push(err));
  conn.onreconnecting((err) => conn.events.reconnecting.push(err));
  conn.onreconnected((id) => conn.events.reconnected.push(id));
  liveConnections.add(conn);
  return conn;
}

/** Stops every connection this process created (for `after` hooks). */
async function stopConnections() {
  const all = [...liveConnections];
  liveConnections.clear();
  await Promise.all(all.map((c) => c.stop().catch(() => {})));
}

/** Records every invocation of client method `method` on `conn`: returns the array of first arguments. */
function listen(conn, method) {
  const got = [];
  conn.on(method, (...args) => { got.push(args.length <= 1 ? args[0] : args); });
  return got;
}

/** An HttpClient that counts requests by method + path suffix (e.g. negotiate calls). */
class CountingHttpClient extends signalR.DefaultHttpClient {
  constructor() {
    super(signalR.NullLogger.instance);
    this.requests = [];
  }

  send(request) {
    this.requests.push({ method: request.method, url: request.url });
    return super.send(request);
  }

  count(re) {
    return this.requests.filter((r) => re.test(r.url)).length;
  }
}

// ---------------------------------------------------------------------------------------------
// Polling helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `predicate` (may be async) until truthy; returns its value; throws after timeoutMs. `what` may be a function (evaluated on timeout). */
async function waitFor(predicate, timeoutMs = 5000, what = '') {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr ? ` (last error: ${lastErr && lastErr.message})` : '';
      const desc = typeof what === 'function' ? what() : what;
      throw new Error(`waitFor timed out after ${timeoutMs} ms${desc ? ': ' + desc : ''}${detail}`);
    }
    await sleep(20);
  }
}

/** Resolves with whatever `promise` gives, or rejects after ms with a message. */
function within(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

/** Quiet period used to prove that something does NOT arrive. */
const QUIET_MS = 400;

// ---------------------------------------------------------------------------------------------
// Raw HTTP / WebSocket probes

async function rawNegotiate(hubUrl, query = '?negotiateVersion=1', init = {}) {
  const res = await fetch(`${hubUrl}/negotiate${query}`, { method: 'POST', ...init });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

function wsUrlOf(hubUrl) {
  return hubUrl.replace(/^http/, 'ws');
}

/**
 * Opens a raw WebSocket (package `ws`) to the hub. Collects frames; records are split at 0x1E.
 * Returns a probe: {ws, opened (promise: 'open' or {status}), closed (promise {code, reason}), frames, records(),
 *   send(text), sendRecord(obj), handshake(), waitForRecord(pred, ms)}.
 */
function rawWs(hubUrl, { id, query = '', headers } = {}) {
  let url = wsUrlOf(hubUrl);
  const params = [];
  if (id !== undefined) params.push(`id=${id}`);
  if (query) params.push(query);
  if (params.length) url += '?' + params.join('&');
  const ws = new WebSocket(url, { headers });
  const probe = {
    ws,
    frames: [], // {text, binary}
    closeInfo: null,
    records() {
      const out = [];
      for (const f of this.frames) {
        for (const part of f.text.split(RS)) {
          if (part === '') continue;
          let v;
          try { v = JSON.parse(part); } catch { v = { unparsable: part }; }
          out.push(v);
        }
      }
      return out;
    },
    rawText() { return this.frames.map((f) => f.text).join(''); },
    send(text) { ws.send(text); },
    sendRecord(obj) { ws.send(JSON.stringify(obj) + RS); },
    async handshake(protocol = 'json', version = 1) {
      await this.opened;
      ws.send(JSON.stringify({ protocol, version }) + RS);
      await waitFor(() => this.frames.length > 0, 5000, 'handshake response');
      return this.frames[0].text;
    },
    waitForRecord(pred, ms = 5000, what = 'record') {
      return waitFor(() => this.records().find(pred), ms, what);
    },
    close() { try { ws.close(); } catch { /* ignore */ } },
    terminate() { try { ws.terminate(); } catch { /* ignore */ } },
  };
  probe.opened = new Promise((resolve, reject) => {
    ws.on('open', () => resolve('open'));
    ws.on('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
      req.destroy();
    });
    ws.on('error', (e) => reject(e));
  });
  probe.opened.catch(() => {});
  probe.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      probe.closeInfo = { code, reason: reason.toString() };
      resolve(probe.closeInfo);
    });
  });
  ws.on('message', (data, isBinary) => {
    probe.frames.push({ text: Buffer.from(data).toString('utf8'), binary: isBinary });
  });
  ws.on('error', () => {});
  return probe;
}

// ---------------------------------------------------------------------------------------------
// node:test wrapper that attaches the logs to failures

/** Appends to e (made an Error if it is not) the log lines kept while the test ran. */
function withLog(e, lines) {
  const err = e instanceof Error ? e : new Error(String(e));
  if (!lines.length) return err;
  const shown = lines.slice(-150);
  const text = `\n\nclient log and server output during this test` +
    (shown.length < lines.length ? ` (the last ${shown.length} of ${lines.length} lines)` : '') + ':\n' +
    shown.map((l) => `  [${l.server}] ${l.line}`).join('\n');
  // The reporters print an error's stack (which starts with its message): the lines go there.
  try {
    if (typeof err.stack === 'string') err.stack += text;
    else err.message += text;
  } catch { /* a frozen error: reported as it is */ }
  return err;
}

/**
 * node:test's test, whose failure carries the client log and server output kept while it ran
 * (passing tests print nothing of them). It keeps its own timeout (opts.timeout, default 30 s),
 * shortly before node:test's, so that a test that hangs shows its logs too.
 */
function test(name, opts, fn) {
  if (typeof opts === 'function') { fn = opts; opts = {}; }
  const limit = opts.timeout !== undefined ? opts.timeout : 30000;
  const options = { ...opts, timeout: Number.isFinite(limit) ? limit + 5000 : limit };
  return nodeTest.test(name, options, async (t) => {
    const mark = logSeq;
    let timer;
    const timedOut = new Promise((_, reject) => {
      if (Number.isFinite(limit)) timer = setTimeout(() => reject(new Error(`test timed out after ${limit} ms`)), limit);
    });
    try {
      await Promise.race([fn(t), timedOut]);
    } catch (e) {
      throw withLog(e, logLines.filter((l) => l.seq > mark));
    } finally {
      clearTimeout(timer);
    }
  });
}

module.exports = {
  REPO_ROOT,
  HUB_PATH,
  RS,
  signalR,
  HttpTransportType,
  HubConnectionState,
  LogLevel,
  MATRIX,
  modes,
  serverBinary,
  startServer,
  startNode,
  startCluster,
  startRedis,
  NODES,
  BACKPLANE,
  events,
  connect,
  build,
  stopConnections,
  listen,
  CountingHttpClient,
  sleep,
  waitFor,
  within,
  QUIET_MS,
  rawNegotiate,
  rawWs,
  wsUrlOf,
  test,
  before: nodeTest.before,
  after: nodeTest.after,
  describe: nodeTest.describe,
};
