'use strict';
// Screenshots of the chat page and the dashboard, as they are: a few people chat over different
// transports while programs on the official Node client keep the server busy. They go to
// SCREENSHOTS_DIR (`npm run screenshots` writes docs/img/, which the README shows), else to a
// temporary directory.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const signalR = require('@microsoft/signalr');
const { MessagePackHubProtocol } = require('@microsoft/signalr-protocol-msgpack');
const { REPO_ROOT, startServer, launchBrowser, openPage, openChat, say, seen, sleep, waitFor, screenshotsDir } = require('../lib/harness');

const LOAD_SECONDS = Number(process.env.SCREENSHOT_LOAD_SECONDS || 8);

test('screenshots of the chat page and the dashboard', async (t) => {
  const server = await startServer();
  const browser = await launchBrowser();
  const bots = [];
  t.after(async () => {
    await Promise.all(bots.map((b) => b.stop().catch(() => {})));
    await browser.close();
    await server.stop();
  });
  const dir = screenshotsDir();

  const dash = await openPage(browser, { viewport: { width: 1280, height: 900 } });
  await dash.goto(`${server.url}/dashboard`);
  await dash.waitForSelector('body[data-state="connected"]');

  // Programs: connections over every transport and both protocols, chatting in rooms.
  const transports = [signalR.HttpTransportType.WebSockets, signalR.HttpTransportType.ServerSentEvents, signalR.HttpTransportType.LongPolling];
  for (let i = 0; i < 24; i++) {
    const transport = transports[i % 3];
    const builder = new signalR.HubConnectionBuilder()
      .withUrl(`${server.url}/hubs/chat`, { transport })
      .configureLogging(signalR.LogLevel.None);
    if (transport !== signalR.HttpTransportType.ServerSentEvents && i % 2) builder.withHubProtocol(new MessagePackHubProtocol());
    const c = builder.build();
    await c.start();
    await c.invoke('JoinRoom', `bots-${i % 4}`, `bot-${i}`);
    bots.push(c);
  }
  const started = Date.now();
  const load = (async () => {
    const end = Date.now() + LOAD_SECONDS * 1000;
    for (let tick = 0; Date.now() < end; tick++) {
      const n = 5 + Math.round(5 * Math.sin(tick / 4) + 5); // a load that breathes
      await Promise.all(bots.slice(0, n).map((b, i) => b.invoke('SendToRoom', `bots-${i % 4}`, `tick ${tick}`)));
      await sleep(250);
    }
  })();

  const ann = await openChat(browser, server.url, { name: 'Ann', room: 'lobby', transport: 'WebSockets' });
  const ben = await openChat(browser, server.url, { name: 'Ben', room: 'lobby', transport: 'ServerSentEvents' });
  const cat = await openChat(browser, server.url, { name: 'Cat', room: 'lobby', transport: 'LongPolling', protocol: 'messagepack' });
  const lines = [
    [ben, 'Morning! Is the new build out?'],
    [ann, 'Yes, deployed 5 minutes ago. Open /dashboard to watch it.'],
    [cat, "I'm on long polling behind the office proxy and it just works."],
    [ben, 'Same here over Server-Sent Events.'],
    [ann, 'WebSockets here. Ship it!'],
  ];
  for (const [page, text] of lines) {
    await say(page, text);
    await seen(ann, text);
  }
  const chatPng = path.join(dir, 'chat.png');
  const dashPng = path.join(dir, 'dashboard.png');
  await ann.screenshot({ path: chatPng });
  await sleep(Math.max(0, started + LOAD_SECONDS * 800 - Date.now())); // the dashboard while the load runs
  await waitFor(() => dash.$eval('#health', (e) => e.dataset.health === 'ok'), 5000, 'a healthy dashboard');
  await dash.screenshot({ path: dashPng, fullPage: true });
  await load;
  for (const f of [chatPng, dashPng]) {
    const size = fs.statSync(f).size;
    assert.ok(size > 20000 && size < 1500000, `${f}: ${size} bytes`);
  }
  for (const p of [dash, ann, ben, cat]) assert.deepEqual(p.errors, []);
  t.diagnostic(`screenshots in ${dir}`);
});

// The README shows the screenshots this test takes (a merge once dropped them unnoticed).
test('the README shows the chat page and the dashboard', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  for (const img of ['docs/img/chat.png', 'docs/img/dashboard.png']) {
    assert.match(readme, new RegExp(`!\\[[^\\]]+\\]\\(${img.replace(/\./g, '\\.')}\\)`), `README.md shows ${img}`);
    assert.ok(fs.statSync(path.join(REPO_ROOT, img)).size > 20000, `${img} is in the repository`);
  }
});
