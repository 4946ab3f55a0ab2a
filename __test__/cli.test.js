'use strict';
// The gossiper CLI against a real cluster: members, get, help, and clear
// errors for an unreachable or refusing address; it leaves nothing behind.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const readline = require('node:readline');
const path = require('node:path');
const { Gossiper } = require('..');
const { stopAll, waitFor, sendSignal } = require('./support/util');
const { version } = require('../package.json');

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

test('--version prints the version; no arguments exits non-zero with the help', () => {
  for (const args of [['--version'], ['members', '--version']]) {
    const r = run(...args);
    assert.equal(r.code, 0);
    assert.equal(r.out, `${version}\n`);
  }
  const none = run();
  assert.equal(none.code, 2);
  assert.equal(none.out, '');
  assert.match(none.err, /^Usage: gossiper <command>/);
});

test('members --json and get --json print JSON', { timeout: 60000 }, () => {
  const r = run('members', `127.0.0.1:${BASE}`, '--cluster-name', 'cli', '--wait', '3', '--json');
  assert.equal(r.code, 0, r.err);
  const list = JSON.parse(r.out);
  assert.deepEqual(list.map((p) => p.name), nodes.map((g) => g.peer_name).sort());
  for (const p of list) {
    assert.equal(p.status, 'alive');
    assert.equal(typeof p.phi, 'number');
    assert.equal(typeof p.lastHeardMsAgo, 'number');
    assert.equal(p.keys, p.name === nodes[1].peer_name ? 1 : 0);
  }
  const g = run('get', `127.0.0.1:${BASE}`, nodes[1].peer_name, 'load', '--cluster-name', 'cli', '--json');
  assert.equal(g.code, 0, g.err);
  assert.deepEqual(JSON.parse(g.out), { peer: nodes[1].peer_name, key: 'load', value: { cpu: 0.5, jobs: [1, 2] } });
});

test('watch --json prints one JSON object per line per event', { timeout: 60000 }, async (t) => {
  const child = spawn(process.execPath, [cli, 'watch', `127.0.0.1:${BASE}`, '--cluster-name', 'cli', '--json'], { env: { ...process.env, NO_COLOR: '1' } });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const events = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => events.push(JSON.parse(line)));
  const extra = new Gossiper({ port: BASE + 3, seeds: [`127.0.0.1:${BASE}`], address: '127.0.0.1', clusterName: 'cli' });
  t.after(() => stopAll(extra));
  const seen = (pred, what) => waitFor(() => events.find(pred), 20000, { message: () => `${what}; got ${JSON.stringify(events)} ${stderr}` });
  for (const g of nodes) await seen((e) => e.event === 'new_peer' && e.peer === g.peer_name, `new_peer ${g.peer_name}`);
  nodes[2].setLocalState('watched', [1, 'two']);
  const update = await seen((e) => e.event === 'update' && e.key === 'watched', 'the update');
  assert.deepEqual(update.value, [1, 'two']);
  assert.equal(update.peer, nodes[2].peer_name);
  assert.ok(!Number.isNaN(Date.parse(update.time)));
  nodes[2].deleteLocalState('watched');
  await seen((e) => e.event === 'delete' && e.key === 'watched' && e.peer === nodes[2].peer_name, 'the delete');
  await extra.start();
  await seen((e) => e.event === 'new_peer' && e.peer === extra.peer_name, 'the new peer');
  await extra.leave();
  await seen((e) => e.event === 'peer_left' && e.peer === extra.peer_name, 'the leave');
  assert.ok(events.every((e) => e.key !== '__heartbeat__'), 'no heartbeats');
  sendSignal(child, 'SIGINT');
  assert.equal(await exited, 0, stderr);
});

test('errors name the CLI flags and arguments, not option paths', () => {
  const cases = [
    [['members', '127.0.0.1:99999'], /HOST:PORT has port 99999/],
    [['get', `127.0.0.1:${BASE}`, '127.0.0.1:0', 'k'], /PEER has port 0/],
    [['members', `127.0.0.1:${BASE}`, '--key', 'zz'], /--key #1 must be 32 bytes/],
    [['members', `127.0.0.1:${BASE}`, '--key', 'ab'.repeat(32), '--key', 'zz'], /--key #2 must be 32 bytes/],
    [['members', `127.0.0.1:${BASE}`, '--cluster-name', 'x'.repeat(300)], /--cluster-name must be at most 255 bytes/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
    assert.doesNotMatch(r.err, /options\./);
  }
});

test('localhost and 127.0.0.1 give the same answers and the same messages', { timeout: 60000 }, () => {
  const same = (args) => {
    const [a, b] = ['127.0.0.1', 'localhost'].map((host) => run(...args.map((x) => x.replace('HOST', host))));
    assert.deepEqual(b, a, args.join(' '));
    return a;
  };
  const unreachable = same(['members', 'HOST:26599']);
  assert.equal(unreachable.code, 1);
  const wrong = same(['members', `HOST:${BASE}`, '--cluster-name', 'other', '--wait', '1']);
  assert.equal(wrong.code, 1);
  const peerPort = nodes[1].peer_name.split(':')[1];
  const value = same(['get', `HOST:${BASE}`, `HOST:${peerPort}`, 'load', '--cluster-name', 'cli']);
  assert.equal(value.code, 0, value.err);
  const missing = same(['get', `HOST:${BASE}`, 'HOST:26598', 'load', '--cluster-name', 'cli', '--wait', '1']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no peer 127\.0\.0\.1:26598 in the cluster/);
  const unknown = run('members', 'no-such-host.invalid:9000');
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /cannot resolve no-such-host\.invalid/);
});
