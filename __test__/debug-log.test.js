'use strict';
// The debug log is off by default and, with GOSSIPER_DEBUG=1, names the
// peer and the reason of every connection closed early.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const script = `
const net = require('net');
const { Gossiper } = require(${JSON.stringify(path.join(__dirname, '..'))});
(async () => {
  const g = new Gossiper({ port: 0, address: '127.0.0.1', seeds: ['127.0.0.1:1'], gossipIntervalMs: 50 });
  await g.start();
  const s = net.connect(Number(g.peer_name.split(':')[1]), '127.0.0.1', () => s.write(Buffer.from([0xc1])));
  s.on('error', () => {});
  await new Promise((r) => setTimeout(r, 400));
  await g.stop();
})();
`;

function run(env) {
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

test('GOSSIPER_DEBUG=1 logs refused connections and unreachable peers; unset, nothing', () => {
  const on = run({ GOSSIPER_DEBUG: '1' });
  assert.match(on, /gossiper\[127\.0\.0\.1:\d+\]: closed the connection from 127\.0\.0\.1:\d+: malformed/);
  assert.match(on, /cannot connect to 127\.0\.0\.1:1/);
  const off = run({ GOSSIPER_DEBUG: '' });
  assert.equal(off, '');
});
