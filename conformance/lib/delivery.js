'use strict';
// Helpers for "who received what" assertions over several connections.
const assert = require('node:assert/strict');
const { listen, waitFor, sleep, QUIET_MS } = require('./harness');

let counter = 0;

/** A fresh client-method name, so recorders of different cases never see each other's messages. */
function uniqueMethod(prefix = 'msg') {
  counter += 1;
  return `${prefix}${counter}`;
}

/** Registers a recorder for `method` on every connection in `conns` ({name: conn}); returns {name: array}. */
function recordAll(conns, method) {
  const out = {};
  for (const [name, c] of Object.entries(conns)) out[name] = listen(c, method);
  return out;
}

/**
 * Waits until every recorder has at least the expected number of messages, then waits QUIET_MS more
 * and asserts that each recorder holds exactly the expected messages (no extras, no duplicates).
 */
async function expectDelivery(recorders, expected, what = 'delivery') {
  await waitFor(() => Object.entries(expected).every(([n, exp]) => recorders[n].length >= exp.length), 5000,
    () => `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(recorders)}`);
  await sleep(QUIET_MS);
  for (const [n, exp] of Object.entries(expected)) {
    assert.deepEqual(recorders[n], exp, `${what}: client ${n} received ${JSON.stringify(recorders[n])}, expected ${JSON.stringify(exp)}`);
  }
  for (const n of Object.keys(recorders)) {
    if (!(n in expected)) assert.deepEqual(recorders[n], [], `${what}: client ${n} should receive nothing`);
  }
}

module.exports = { uniqueMethod, recordAll, expectDelivery };
