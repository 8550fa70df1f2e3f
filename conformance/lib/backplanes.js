'use strict';
// The servers a deployment of several nodes scales out on, started for the tests on free loopback
// ports and temporary directories, and stopped (and removed) at the end:
//
//   redis      redis-server, no persistence
//   redis-cluster  a Redis Cluster of 3 masters (redis-server --cluster-enabled yes, no replicas: the
//              Go tests cover failover), no persistence, its nodes.conf in a temporary directory
//   postgres   PostgreSQL from Debian's packages: initdb into a temporary directory (once per run,
//              copied for each server), postgres on 127.0.0.1 with its socket in that directory; as
//              root it runs as the postgres user
//   nats       nats-server with JetStream (-js), its store in a temporary directory
//
// startBackplane(kind) returns {kind, port, url(node), stop(), restart(), process}: url(node) is the
// URL a node gives to -backplane (for postgres it names the node as application_name, so a test can
// find its connections); restart() starts the server again on the same port (Redis empty, PostgreSQL
// and NATS with their data). ./test.sh installs the three servers when missing.

const { spawn, execFile } = require('node:child_process');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const KINDS = ['redis', 'redis-cluster', 'postgres', 'nats'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => { sock.end(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
}

const live = new Set(); // servers running: killed when the process exits
const dirs = new Set(); // temporary directories: removed when the process exits
process.on('exit', () => {
  for (const s of live) {
    try { process.kill(-s.process.pid, 'SIGKILL'); } catch { try { s.process.kill('SIGKILL'); } catch { /* gone */ } }
  }
  for (const d of dirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});

// A server that exits while its tests use it (not stopped by them) is reported on stderr and to the
// listeners of onUnexpectedExit, with its last output and the machine's memory, so that a failing
// run says why a backplane went away (killed by the kernel, crashed, ran out of something).
const expected = new WeakSet(); // the servers this process has sent a signal to
const deaths = new EventEmitter();

/** Calls fn(text) when a backplane server exits that nobody stopped. */
function onUnexpectedExit(fn) {
  deaths.on('exit', fn);
}

function memoryNow() {
  const mib = (b) => `${Math.round(b / 1048576)} MiB`;
  let pressure = '';
  try {
    pressure = `; /proc/pressure/memory: ${fs.readFileSync('/proc/pressure/memory', 'utf8').trim().replace(/\n/g, ' | ')}`;
  } catch { /* not on this kernel */ }
  return `memory ${mib(os.totalmem() - os.freemem())} used of ${mib(os.totalmem())}${pressure}`;
}

function reportExit(name, pid, port, { code, signal }, tail) {
  const how = signal ? `killed by ${signal}` : `exit code ${code}`;
  const text = `backplanes: ${name} (pid ${pid}, port ${port}) exited while tests used it (${how}); ` +
    `${memoryNow()}; its last output:\n${tail.trimEnd()}`;
  process.stderr.write(`${text}\n`);
  deaths.emit('exit', text);
}

// A test process ended by a signal (a runner's timeout) still stops its servers.
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(sig, () => process.exit(code));
}

/**
 * Runs a server process until it prints `ready` (a regexp, on stdout or stderr) or, without one, until
 * its port takes connections. Resolves with {process, exit} or rejects with its output.
 */
function runServer(name, bin, args, port, { ready, spawnOpts = {}, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...spawnOpts });
    } catch (e) {
      reject(e);
      return;
    }
    let out = '';
    let done = false;
    const exit = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
        reject(err);
      } else {
        // A server may outlive the tests that use it (one shared by a file's deployments): it must not
        // keep the test process alive; the exit handler above kills it.
        child.unref();
        child.stdout.unref();
        child.stderr.unref();
        exit.then((info) => { if (!expected.has(child)) reportExit(name, child.pid, port, info, out); });
        resolve({ process: child, exit });
      }
    };
    const onData = (d) => {
      out += d;
      if (out.length > 16384) out = out.slice(-8192); // the latest output, for a report
      if (!done && ready && ready.test(out)) finish();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => finish(new Error(`${name}: ${e.message} (is it installed? ./test.sh installs it)`)));
    exit.then((info) => finish(new Error(`${name} exited (${JSON.stringify(info)}) before it was ready:\n${out}`)));
    const timer = setTimeout(() => finish(new Error(`${name} not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    if (!ready) {
      (async () => {
        while (!done) {
          if (await canConnect(port)) { finish(); return; }
          await sleep(20);
        }
      })();
    }
  });
}

/** Starts a server of `kind` on a free port (retrying when the port is taken meanwhile). */
async function startBackplane(kind) {
  const start = { redis: startRedisOn, 'redis-cluster': startRedisClusterOn, postgres: startPostgresOn, nats: startNatsOn }[kind];
  if (!start) throw new Error(`unknown backplane ${JSON.stringify(kind)}: want one of ${KINDS.join(', ')}`);
  let last;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    try {
      const server = await start(port);
      return wrap(kind, port, server, start);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

// wrap gives a started server its stop() and restart() (same port; the port may linger a moment).
function wrap(kind, port, first, start) {
  const s = {
    kind,
    port,
    url: first.url,
    process: first.process,
    exit: first.exit,
    state: first,
    /** PostgreSQL only: runs SQL as the superuser (psql), resolves with its output. */
    sql: (statement) => s.state.sql(statement),
    async stop() {
      if (!live.has(s)) return;
      live.delete(s);
      await s.state.stop();
    },
    async restart() {
      let last;
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          const again = await start(port, s.state);
          Object.assign(s, { process: again.process, exit: again.exit, state: again });
          live.add(s);
          return;
        } catch (e) {
          last = e;
          await sleep(200);
        }
      }
      throw last;
    },
  };
  live.add(s);
  return s;
}

function killGroup(child, signal) {
  expected.add(child);
  try { process.kill(-child.pid, signal); } catch { try { child.kill(signal); } catch { /* gone */ } }
}

// ---------------------------------------------------------------------------------------------
// Redis

async function startRedisOn(port) {
  const { process: child, exit } = await runServer('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'], port);
  return {
    process: child,
    exit,
    url: () => `redis://127.0.0.1:${port}/0`,
    async stop() { killGroup(child, 'SIGKILL'); await exit; },
  };
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster

function redisCli(port, args) {
  return run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
}

// 3 masters: the first on port, the others (and every node's cluster bus) on free ports kept in the
// state, so that restart() starts the same cluster again (each node's nodes.conf stays in its
// directory; the data does not).
async function startRedisClusterOn(port, previous) {
  let nodes = previous && previous.nodes;
  const fresh = !nodes;
  if (fresh) {
    nodes = [];
    for (let i = 0; i < 3; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actorhub-conformance-rediscluster-'));
      dirs.add(dir);
      nodes.push({ port: i === 0 ? port : await freePort(), bus: await freePort(), dir });
    }
  }
  const started = [];
  try {
    for (const n of nodes) {
      started.push(await runServer('redis-server', 'redis-server', ['--port', String(n.port), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning', '--dir', n.dir,
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(n.bus),
        '--cluster-node-timeout', '2000'], n.port));
    }
    if (fresh) {
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas', '0', '--cluster-yes']);
    }
    const deadline = Date.now() + 30000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => redisCli(n.port, ['cluster', 'info']).catch(() => '')));
      if (infos.every((i) => i.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`redis cluster on ports ${nodes.map((n) => n.port)} not ok within 30 s`);
      await sleep(50);
    }
  } catch (e) {
    for (const s of started) killGroup(s.process, 'SIGKILL');
    await Promise.all(started.map((s) => s.exit));
    throw e;
  }
  return {
    process: started[0].process,
    exit: started[0].exit,
    nodes,
    url: () => `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    async stop() {
      for (const s of started) killGroup(s.process, 'SIGKILL');
      await Promise.all(started.map((s) => s.exit));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// NATS

async function startNatsOn(port, previous) {
  let dir = previous && previous.dir;
  if (!dir) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actorhub-conformance-nats-'));
    dirs.add(dir);
  }
  const { process: child, exit } = await runServer('nats-server', 'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], port, { ready: /Server is ready/ });
  return {
    process: child,
    exit,
    dir,
    url: () => `nats://127.0.0.1:${port}`,
    async stop() { killGroup(child, 'SIGKILL'); await exit; },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** A PostgreSQL program: on PATH, else in the newest /usr/lib/postgresql/<version>/bin. */
function pgBinary(name) {
  for (const d of (process.env.PATH || '').split(':')) {
    const p = path.join(d, name);
    if (d && isExec(p)) return p;
  }
  let versions = [];
  try {
    versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a);
  } catch { /* none */ }
  for (const v of versions) {
    const p = path.join('/usr/lib/postgresql', v, 'bin', name);
    if (isExec(p)) return p;
  }
  throw new Error(`${name} not found on PATH nor in /usr/lib/postgresql/*/bin (./test.sh installs it: apt-get install -y postgresql)`);
}

function isExec(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// As root, PostgreSQL runs as the postgres user (it refuses root).
function pgUser() {
  if (process.getuid() !== 0) return null;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root needs the postgres user (created by Debian\'s postgresql package)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function ownedDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const u = pgUser();
  if (u) {
    fs.chmodSync(dir, 0o755);
    fs.chownSync(dir, u.uid, u.gid);
  }
  return dir;
}

function run(bin, args, opts) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 4 << 20, ...opts }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// One initdb per run: the test files of one `node --test` run (each its own process, children of the
// runner) share a template in <tmp>/actorhub-conformance-pg-<runner pid>-<start time>/ (removed by a
// later run once that runner is gone), or in $CONFORMANCE_PG_TEMPLATE_DIR; each server starts from a
// copy of it. A file run on its own makes a private one.
let templatePromise = null;

function pgTemplate() {
  if (!templatePromise) templatePromise = makeTemplate();
  return templatePromise;
}

function runnerKey(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid}-${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
  } catch {
    return null;
  }
}

function sharedTemplateDir() {
  if (process.env.CONFORMANCE_PG_TEMPLATE_DIR) return process.env.CONFORMANCE_PG_TEMPLATE_DIR;
  const key = process.env.NODE_TEST_CONTEXT ? runnerKey(process.ppid) : null;
  if (!key) return null;
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = /^actorhub-conformance-pg-(\d+)-(\d+)$/.exec(name);
    if (m && runnerKey(Number(m[1])) !== `${m[1]}-${m[2]}`) {
      try { fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true }); } catch { /* ignore */ }
    }
  }
  const dir = path.join(os.tmpdir(), `actorhub-conformance-pg-${key}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

async function initdb(data) {
  const u = pgUser();
  fs.mkdirSync(data, { mode: 0o700 }); // throws EEXIST when another process makes it
  if (u) fs.chownSync(data, u.uid, u.gid);
  await run(pgBinary('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'],
    u ? { uid: u.uid, gid: u.gid } : {});
}

async function makeTemplate() {
  const shared = sharedTemplateDir();
  if (!shared) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actorhub-conformance-pgtemplate-'));
    dirs.add(dir);
    await initdb(path.join(dir, 'data'));
    return path.join(dir, 'data');
  }
  const data = path.join(shared, 'data');
  const mark = path.join(shared, 'ready');
  const failed = path.join(shared, 'failed');
  try {
    await initdb(data);
    fs.writeFileSync(mark, 'ok');
    return data;
  } catch (e) {
    if (e.code !== 'EEXIST') {
      try { fs.writeFileSync(failed, e.message); } catch { /* ignore */ }
      throw e;
    }
  }
  const deadline = Date.now() + 120000;
  while (!fs.existsSync(mark)) {
    if (fs.existsSync(failed)) throw new Error(fs.readFileSync(failed, 'utf8'));
    if (Date.now() > deadline) throw new Error(`timed out waiting for another test process to make ${data}`);
    await sleep(100);
  }
  return data;
}

async function startPostgresOn(port, previous) {
  const u = pgUser();
  let dir = previous && previous.dir;
  if (!dir) {
    dir = ownedDir('actorhub-conformance-pg-');
    dirs.add(dir);
    await run('cp', ['-a', await pgTemplate(), path.join(dir, 'data')]); // as root, keeps the postgres owner
  }
  const { process: child, exit } = await runServer('postgres', pgBinary('postgres'),
    ['-D', path.join(dir, 'data'), '-k', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300', '-c', 'shared_buffers=32MB'],
    port, { ready: /database system is ready to accept connections/, spawnOpts: u ? { uid: u.uid, gid: u.gid } : {} });
  return {
    process: child,
    exit,
    dir,
    url: (node) => `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable${node ? `&application_name=${encodeURIComponent(node)}` : ''}`,
    /** Runs SQL as the superuser (psql); resolves with its output. */
    sql: (statement) => run(pgBinary('psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres',
      '-At', '-v', 'ON_ERROR_STOP=1', '-c', statement]),
    async stop() {
      killGroup(child, 'SIGINT'); // fast shutdown: clients are cut, the data stays
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 10000);
      await exit;
      clearTimeout(t);
    },
  };
}

module.exports = { KINDS, startBackplane, freePort, pgBinary, onUnexpectedExit };
