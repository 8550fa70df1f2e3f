'use strict';
// The SignalR client the server serves is the npm release, byte for byte, at the version the
// conformance suite pins (see cmd/server/web/vendor/NOTICE.md).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, REPO_ROOT } = require('../lib/harness');

test('the embedded SignalR bundles are the npm packages\' files', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const mine = require('../package.json').dependencies;
  const conformance = require('../../conformance/package.json').dependencies;
  const notice = fs.readFileSync(path.join(REPO_ROOT, 'cmd/server/web/vendor/NOTICE.md'), 'utf8');
  for (const pkg of ['signalr', 'signalr-protocol-msgpack']) {
    const name = `@microsoft/${pkg}`;
    assert.equal(mine[name], conformance[name], `${name}: browser/ and conformance/ pin the same version`);
    assert.equal(require(`${name}/package.json`).version, mine[name], `${name} installed`);
    assert.ok(notice.includes(`\`${name}\` | ${mine[name]} |`), `NOTICE.md names ${name} ${mine[name]}`);
    const npm = fs.readFileSync(require.resolve(`${name}/dist/browser/${pkg}.min.js`));
    const committed = fs.readFileSync(path.join(REPO_ROOT, `cmd/server/web/vendor/${pkg}.min.js`));
    const served = Buffer.from(await (await fetch(`${server.url}/static/vendor/${pkg}.min.js`)).arrayBuffer());
    assert.ok(committed.equals(npm), `cmd/server/web/vendor/${pkg}.min.js differs from the npm release: run cmd/server/web/vendor/update.sh`);
    assert.ok(served.equals(npm), `the served ${pkg}.min.js differs from the npm release`);
  }
});
