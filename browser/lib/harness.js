'use strict';
// Harness of the browser tests: the real server (cmd/server) on loopback, and Debian's Chromium
// driven by playwright-core (no browser download: it runs /usr/bin/chromium).
//
// Environment:
//   ACTORHUB_SERVER_BIN=path   use this server binary instead of `go build ./cmd/server`
//   CHROMIUM=path              the Chromium to drive (default /usr/bin/chromium)
//   SCREENSHOTS_DIR=dir        where the screenshot test writes its PNGs (default: a temporary dir)
//   BROWSER_DEBUG=1            echo the server's log and the pages' console

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DEBUG = process.env.BROWSER_DEBUG === '1';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls cond until it returns something truthy (returned), or fails after timeoutMs. */
async function waitFor(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// The server

let binary = null;

/** The server binary: ACTORHUB_SERVER_BIN, else built once per test process into a temporary dir. */
function serverBinary() {
  if (process.env.ACTORHUB_SERVER_BIN) return Promise.resolve(path.resolve(process.env.ACTORHUB_SERVER_BIN));
  if (!binary) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actorhub-browser-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const bin = path.join(dir, 'actorhub-server');
    binary = new Promise((resolve, reject) => {
      execFile('go', ['build', '-o', bin, './cmd/server'], { cwd: REPO_ROOT, timeout: 300000, maxBuffer: 16 << 20 },
        (err, _out, stderr) => (err ? reject(new Error(`go build ./cmd/server: ${stderr || err.message}`)) : resolve(bin)));
    });
  }
  return binary;
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Starts the server with flags (default address 127.0.0.1:0) and waits for "listening on".
 * Returns {url, port, logs(), kill(), stop(), exited}.
 */
async function startServer(flags = [], { addr = '127.0.0.1:0', env = {} } = {}) {
  const bin = await serverBinary();
  const child = spawn(bin, ['-addr', addr, ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(child);
  const lines = [];
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); }));
  let buf = '';
  const onData = (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      if (DEBUG) console.error(`[server] ${buf.slice(0, i)}`);
      buf = buf.slice(i + 1);
    }
  };
  child.stderr.setEncoding('utf8').on('data', onData);
  child.stdout.setEncoding('utf8').on('data', onData);
  let gone = false;
  exited.then(() => { gone = true; });
  const listening = await waitFor(() => {
    if (gone) throw new Error(`server exited: ${lines.join('\n')}`);
    return lines.map((l) => /^listening on (\S+):(\d+)$/.exec(l)).find(Boolean);
  }, 20000, 'the server to listen');
  const port = Number(listening[2]);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    logs: () => lines.join('\n'),
    exited,
    /** Ends the process at once (SIGKILL): the clients see their connections drop. */
    async kill() { child.kill('SIGKILL'); await exited; },
    /** Ends it as an operator would (SIGTERM), waiting for it to exit. */
    async stop() { child.kill('SIGTERM'); await exited; },
  };
}

/** A free TCP port on 127.0.0.1 (free when returned). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('node:net').createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a redis-server (Debian's; ./test.sh installs it) on a free loopback port. Returns {url, stop()}. */
async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  live.add(child);
  const exited = new Promise((resolve) => child.on('exit', () => { live.delete(child); resolve(); }));
  await waitFor(() => new Promise((resolve) => {
    const sock = require('node:net').connect(port, '127.0.0.1', () => { sock.end(); resolve(true); });
    sock.on('error', () => resolve(false));
  }), 10000, `redis-server on ${port}`);
  return { url: `redis://127.0.0.1:${port}/0`, async stop() { child.kill('SIGKILL'); await exited; } };
}

// ---------------------------------------------------------------------------------------------
// The browser

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Launches Chromium. playwright-core gives every launch a fresh, temporary --user-data-dir of its
 * own (and removes it on close).
 */
async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: ./test.sh installs Debian's chromium package`);
  }
  return chromium.launch({ executablePath, args: CHROMIUM_FLAGS, headless: true, timeout: 60000 });
}

/**
 * Opens a page in a fresh context (its own storage: another user) and records what its console
 * shows as errors: console.error calls, uncaught exceptions, and the entries Chromium itself logs,
 * such as "Failed to load resource: the server responded with a status of 404" (read through the
 * DevTools Log domain, as a person with the console open would see them).
 * Returns the page with page.errors (strings), page.consoleLines.
 */
async function openPage(browser, { viewport = { width: 1280, height: 800 }, init } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.errors = [];
  page.consoleLines = [];
  if (init) await page.addInitScript(init);
  page.on('console', (m) => {
    page.consoleLines.push(`${m.type()}: ${m.text()}`);
    if (DEBUG) console.error(`[console ${m.type()}] ${m.text()}`);
    if (m.type() === 'error') page.errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.errors.push(`uncaught: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) page.errors.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  const cdp = await context.newCDPSession(page);
  cdp.on('Log.entryAdded', ({ entry }) => {
    if (DEBUG) console.error(`[log ${entry.level}] ${entry.text} ${entry.url || ''}`);
    if (entry.level === 'error') page.errors.push(`${entry.source}: ${entry.text} ${entry.url || ''}`.trim());
  });
  await cdp.send('Log.enable');
  return page;
}

/** Opens the chat page as name in room with the given transport and protocol, and waits until it has joined. */
async function openChat(browser, base, { name, room, transport = 'auto', protocol = 'json', init } = {}) {
  const page = await openPage(browser, { init });
  await gotoChat(page, base, { name, room, transport, protocol });
  return page;
}

/** Loads the chat page in page (as name, in room, with transport and protocol) and waits until it has joined. */
async function gotoChat(page, base, { name, room, transport = 'auto', protocol = 'json' }) {
  const q = new URLSearchParams({ name, room, transport, protocol });
  await page.goto(`${base}/?${q}`);
  await page.waitForSelector(`body[data-joined="${room}"]`, { timeout: 20000 });
}

/** Sends text from the chat page (typing it and pressing Enter, as a person does). */
async function say(page, text) {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
}

/** Waits until the page shows a message with this text (and returns its author). */
async function seen(page, text, timeout = 10000) {
  return waitFor(() => page.evaluate((t) => {
    for (const li of document.querySelectorAll('#messages li.message')) {
      if (li.querySelector('.text').textContent === t) return li.querySelector('.author').textContent;
    }
    return null;
  }, text), timeout, `message "${text}"`);
}

/** Waits until the page shows a notice containing text. */
async function noticed(page, text, timeout = 10000) {
  return waitFor(() => page.evaluate((t) => [...document.querySelectorAll('#messages li.notice')]
    .some((li) => li.textContent.includes(t)), text), timeout, `notice "${text}"`);
}

function screenshotsDir() {
  const dir = process.env.SCREENSHOTS_DIR ? path.resolve(REPO_ROOT, process.env.SCREENSHOTS_DIR)
    : fs.mkdtempSync(path.join(os.tmpdir(), 'actorhub-screenshots-'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

module.exports = {
  REPO_ROOT, sleep, waitFor, serverBinary, startServer, startRedis, launchBrowser, openPage, openChat, gotoChat, say, seen, noticed,
  screenshotsDir,
};
