'use strict';
// The README's quick-start clients, as printed there, against a real server: the snippet for the
// browser console (in Chromium, on the chat page) and the Node script (the official client on Node).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { startServer, launchBrowser, openPage, REPO_ROOT } = require('../lib/harness');

// snippet returns the code block that follows `<!-- readme-test: name -->` in the README.
function snippet(name) {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- readme-test: ${name} -->\\n\`\`\`js\\n([\\s\\S]*?)\\n\`\`\`\\n`).exec(readme);
  assert.ok(m, `README.md has no js block after <!-- readme-test: ${name} -->`);
  return m[1];
}

test("the README's clients", async (t) => {
  const server = await startServer();
  const browser = await launchBrowser();
  t.after(async () => { await browser.close(); await server.stop(); });

  // A chat page is open meanwhile: it shows what the snippets send, as the README says.
  const watcher = await openPage(browser);
  await watcher.goto(`${server.url}/?name=watcher&room=lobby`);
  await watcher.waitForSelector('body[data-joined="lobby"]');
  const shown = (text) => watcher.evaluate((t) => [...document.querySelectorAll('#messages li.message .text')]
    .some((e) => e.textContent === t), text);

  await t.test('browser console snippet', async () => {
    const page = await openPage(browser);
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => typeof signalR === 'object');
    // As the console runs it: top-level await, in the page.
    await page.evaluate(`(async () => {\n${snippet('browser')}\n})()`);
    assert.ok(page.consoleLines.includes('log: console: hello from the browser'), page.consoleLines.join('\n'));
    assert.ok(await shown('hello from the browser'), 'the chat page shows it');
    assert.deepEqual(page.errors, []);
  });

  await t.test('Node script', async () => {
    // Written beside browser/node_modules, which has @microsoft/signalr, as `npm install` would.
    const file = path.join(__dirname, '..', `hello-readme-${process.pid}.mjs`);
    fs.writeFileSync(file, snippet('node').replaceAll('http://localhost:5000', server.url));
    t.after(() => fs.rmSync(file, { force: true }));
    const out = await new Promise((resolve, reject) => {
      execFile(process.execPath, [file], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    assert.equal(out, 'node: hello from Node\n');
    assert.ok(await shown('hello from Node'), 'the chat page shows it');
  });
  assert.deepEqual(watcher.errors, []);
});
