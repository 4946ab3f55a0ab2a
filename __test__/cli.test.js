'use strict';
// The gossiper CLI against a real cluster: members, get, help, and clear
// errors for an unreachable or refusing address; it leaves nothing behind.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { Gossiper } = require('..');
const { stopAll, waitFor } = require('./support/util');

const BASE = 26500;
const cli = path.join(__dirname, '..', 'bin', 'gossiper.js');
let nodes;

function run(...args) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  nodes = [0, 1, 2].map((i) => new Gossiper({ port: BASE + i, seeds: [`127.0.0.1:${BASE}`], address: '127.0.0.1', clusterName: 'cli' }));
  for (const g of nodes) await g.start();
  nodes[1].setLocalState('load', { cpu: 0.5, jobs: [1, 2] });
  await waitFor(() => nodes.every((g) => g.livePeers().length === 3 && g.peerValue(nodes[1].peer_name, 'load')), 20000,
    { message: 'the cluster to form' });
});
after(() => stopAll(...nodes));

test('members prints every peer as alive with its key count, and leaves no trace', { timeout: 60000 }, () => {
  const r = run('members', `127.0.0.1:${BASE}`, '--cluster-name', 'cli', '--wait', '3');
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.match(lines[0], /^PEER\s+STATUS\s+PHI\s+LAST HEARD\s+KEYS/);
  for (const g of nodes) {
    const row = lines.find((l) => l.startsWith(g.peer_name));
    assert.ok(row, `a row for ${g.peer_name}`);
    assert.match(row, /\balive\b/);
  }
  assert.match(lines.find((l) => l.startsWith(nodes[1].peer_name)), /\s1\s*$/, 'one key besides the heartbeat');
  for (const g of nodes) assert.equal(g.allPeers().length, 3, 'the observer never joined the membership');
});

test('get prints a value as JSON, and fails clearly for an unknown key', { timeout: 60000 }, () => {
  const r = run('get', `127.0.0.1:${BASE + 2}`, nodes[1].peer_name, 'load', '--cluster-name', 'cli');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { cpu: 0.5, jobs: [1, 2] });
  const missing = run('get', `127.0.0.1:${BASE}`, nodes[1].peer_name, 'nope', '--cluster-name', 'cli', '--wait', '1');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /has no key "nope"/);
});

test('an unreachable or refusing address is a clear error', { timeout: 60000 }, () => {
  const unreachable = run('members', '127.0.0.1:26599');
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.err, /cannot reach 127\.0\.0\.1:26599/);
  const wrong = run('members', `127.0.0.1:${BASE}`, '--cluster-name', 'other');
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /another cluster \(--cluster-name\) or does it need a key/);
});

test('--help on every command, and usage errors', () => {
  for (const cmd of [[], ['members'], ['watch'], ['get']]) {
    const r = run(...cmd, '--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: gossiper/);
  }
  assert.equal(run('frobnicate').code, 2);
  assert.equal(run('members').code, 2);
  assert.equal(run('members', 'not-an-address').code, 2);
});
