'use strict';
// The smoke suite that Bun and Deno run (support/smoke.mjs, see
// scripts/runtimes.js), run here by whichever runtime runs this file: a child
// process that must form a cluster, pass a value, report a leave and then exit
// by itself with code 0.
//
//   node --test __test__/smoke.test.js

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { runNode } = require('./support/util');

test('smoke: a three-member cluster forms, values and events flow, the process exits after stop()', async () => {
  const r = await runNode([path.join(__dirname, 'support', 'smoke.mjs')], { timeout: 30000 });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const detail = `exit ${r.code}, signal ${r.signal}${r.timedOut ? ', killed at the deadline' : ''}\n${r.stdout}${r.stderr}`;
  assert.equal(r.timedOut, false, detail);
  assert.equal(r.code, 0, detail);
  assert.deepEqual(lines.map((l) => l.step || (l.ok ? 'ok' : 'failed')), ['formed', 'values', 'left', 'ok'], detail);
  const { events } = lines[3];
  assert.ok(events.new_peer >= 4 && events.update > 0 && events.peer_left >= 1, detail);
});
