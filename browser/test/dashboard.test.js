'use strict';
// The dashboard shows the connections there are, per hub, and updates by itself (pushed over
// SignalR): people come and go, messages flow, and it follows.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchBrowser, openPage, openChat, say, waitFor } = require('../lib/harness');

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
