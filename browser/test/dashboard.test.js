'use strict';
// The dashboard shows the connections there are, per hub, and updates by itself (pushed over
// SignalR): people come and go, messages flow, and it follows.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, startRedis, launchBrowser, openPage, openChat, say, waitFor } = require('../lib/harness');

test('the dashboard follows the server live', async (t) => {
  const server = await startServer();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await server.stop(); });

  const dash = await openPage(browser, { viewport: { width: 1280, height: 900 } });
  await dash.goto(`${server.url}/dashboard`);
  await dash.waitForSelector('body[data-state="connected"]');
  const lastSample = () => dash.$eval('#last-update', (e) => Number(e.dataset.t));
  await waitFor(async () => (await lastSample()) > 0, 10000, 'a first sample');
  const hubRow = (name) => dash.evaluate((n) => {
    for (const tr of document.querySelectorAll('#table-hubs tr')) {
      if (tr.cells[0].textContent === n) return Number(tr.cells[1].textContent.replace(/,/g, ''));
    }
    return null;
  }, name);
  const total = () => dash.$eval('#kpi-connections', (e) => Number(e.dataset.value));

  // Only the dashboard's own connection at first.
  await waitFor(async () => (await hubRow('dashboard')) === 1 && (await hubRow('chat')) === 0, 10000, 'dashboard 1, chat 0');
  assert.equal(await total(), 1);

  const ann = await openChat(browser, server.url, { name: 'ann', room: 'ops', transport: 'WebSockets' });
  const ben = await openChat(browser, server.url, { name: 'ben', room: 'ops', transport: 'LongPolling', protocol: 'messagepack' });
  await waitFor(async () => (await hubRow('chat')) === 2, 10000, 'the dashboard to count 2 chat connections');
  await waitFor(async () => (await total()) === 3, 5000, 'the total to be 3');
  // By transport and protocol: the dashboard's own connection is a WebSocket with JSON too.
  const rows = (id) => dash.evaluate((i) => Object.fromEntries([...document.querySelectorAll(`#${i} tr`)]
    .filter((tr) => tr.cells.length === 2).map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])), id);
  await waitFor(async () => {
    const tr = await rows('table-transports');
    const pr = await rows('table-protocols');
    return tr.WebSockets === '2' && tr['Long Polling'] === '1' && pr.JSON === '2' && pr.MessagePack === '1';
  }, 5000, 'by transport WebSockets 2, Long Polling 1; by protocol JSON 2, MessagePack 1');

  // It keeps updating by itself, and sees the messages.
  const t1 = await lastSample();
  for (let i = 0; i < 20; i++) await say(ann, `burst ${i}`);
  await waitFor(async () => (await lastSample()) > t1, 5000, 'a newer sample');
  await waitFor(() => dash.evaluate(() => {
    const n = (id) => parseFloat(document.getElementById(id).textContent);
    return n('kpi-msgs-in') > 0 && n('kpi-msgs-out') > 0;
  }), 10000, 'messages in and out per second above zero');

  await ben.click('#toggle'); // Disconnect
  await waitFor(async () => (await hubRow('chat')) === 1, 10000, 'the dashboard to count 1 chat connection');
  await waitFor(() => dash.evaluate(() => [...document.querySelectorAll('#table-closes tr')]
    .some((tr) => tr.cells[0].textContent === 'client')), 10000, "a close by the client in 'Closes by reason'");

  // Healthy, and the plots have something on them.
  assert.equal(await dash.$eval('#health', (e) => e.dataset.health), 'ok');
  const inked = await dash.evaluate(() => {
    const c = document.getElementById('chart-connections');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  assert.ok(inked > 500, `the connections plot is drawn (${inked} pixels)`);
  for (const p of [dash, ann, ben]) assert.deepEqual(p.errors, []);
});

test('with a backplane, the dashboard shows every node', async (t) => {
  const redis = await startRedis();
  const n1 = await startServer(['-redis', redis.url, '-node-id', 'n1']);
  const n2 = await startServer(['-redis', redis.url, '-node-id', 'n2']);
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await n1.stop(); await n2.stop(); await redis.stop(); });

  await openChat(browser, n1.url, { name: 'uno', room: 'nodes' });
  const duo = await openChat(browser, n2.url, { name: 'duo', room: 'nodes', transport: 'ServerSentEvents' });
  await openChat(browser, n2.url, { name: 'tre', room: 'nodes', transport: 'LongPolling' });
  // One room across the nodes: the count is the deployment's.
  await waitFor(() => duo.$eval('#members', (e) => e.dataset.count === '3'), 10000, 'a room of 3 across 2 nodes');

  const dash = await openPage(browser);
  await dash.goto(`${n1.url}/dashboard`);
  const nodes = () => dash.evaluate(() => Object.fromEntries([...document.querySelectorAll('#table-nodes tr')]
    .filter((tr) => tr.cells.length === 2).map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])));
  await waitFor(async () => {
    const got = await nodes();
    return got['n1 (this node)'] === '1' && got.n2 === '2';
  }, 15000, 'the nodes table to show n1 (this node) 1 and n2 2');
  assert.match(await dash.$eval('#node', (e) => e.textContent), /node n1 on redis/);
  assert.deepEqual(dash.errors, []);
});
