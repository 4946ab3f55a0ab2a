'use strict';
// Cluster isolation and encryption over real sockets: clusters with other
// names or keys never mix, keys rotate across a running 5-node cluster with
// no false failure, and a raw socket without the key learns and changes nothing.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const { encode } = require('@msgpack/msgpack');
const { Gossiper } = require('..');
const { waitFor, stopAll } = require('./support/util');

const BASE = 26000;
const ROUND = { gossipIntervalMs: 100, address: '127.0.0.1' };
const keyA = crypto.randomBytes(32);
const keyB = crypto.randomBytes(32);

async function cluster(t, ports, options) {
  const seed = `127.0.0.1:${ports[0]}`;
  const gs = ports.map((port) => new Gossiper({ port, seeds: [seed], ...ROUND, ...options }));
  t.after(() => stopAll(...gs));
  for (const g of gs) await g.start();
  return gs;
}

test('clusters with different names, or different keys, on one port range never mix', { timeout: 60000 }, async (t) => {
  // both clusters seed each other's first node too: only their names/keys keep them apart
  const crossSeeds = [`127.0.0.1:${BASE}`, `127.0.0.1:${BASE + 10}`, `127.0.0.1:${BASE + 20}`];
  const make = (port, extra) => new Gossiper({ port, seeds: crossSeeds, ...ROUND, ...extra });
  const red = [0, 1, 2].map((i) => make(BASE + i, { clusterName: 'red' }));
  const blue = [0, 1, 2].map((i) => make(BASE + 10 + i, { clusterName: 'blue' }));
  const keyed = [0, 1, 2].map((i) => make(BASE + 20 + i, { keys: [keyA] }));
  const all = [...red, ...blue, ...keyed];
  t.after(() => stopAll(...all));
  for (const g of all) await g.start();
  for (const g of all) g.setLocalState('who', g.options.clusterName || 'keyed');
  const members = (group) => group.map((g) => g.peer_name);
  for (const group of [red, blue, keyed]) {
    await waitFor(() => group.every((g) => members(group).every((p) => g.peerValue(p, 'who') !== undefined)), 15000,
      { message: 'each cluster to converge inside' });
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const group of [red, blue, keyed]) {
    const own = new Set(members(group));
    for (const g of group) {
      const strangers = g.allPeers().filter((p) => !own.has(p) && g.peerValue(p, 'who') !== undefined);
      assert.deepEqual(strangers, [], `${g.peer_name} holds state of another cluster`);
      for (const p of g.allPeers()) {
        if (!own.has(p)) assert.equal(g.peerKeys(p).length, 0, `${g.peer_name} learnt keys of ${p}`);
      }
    }
  }
  const refusedRed = red.reduce((n, g) => n + g.stats().refused.wrongCluster, 0);
  const refusedKeyed = keyed.reduce((n, g) => n + g.stats().refused.unauthenticated, 0);
  assert.ok(refusedRed > 0, 'red refused blue (wrongCluster counted)');
  assert.ok(refusedKeyed > 0, 'the keyed cluster refused plaintext peers (unauthenticated counted)');
});

test('keys rotate across a running 5-node cluster with no false failure', { timeout: 60000 }, async (t) => {
  const ports = [0, 1, 2, 3, 4].map((i) => BASE + 100 + i);
  const gs = await cluster(t, ports, { keys: [keyA], acceptablePauseMs: 400 });
  const failures = [];
  for (const g of gs) g.on('peer_failed', (p) => failures.push([g.peer_name, p]));
  await waitFor(() => gs.every((g) => g.livePeers().length === 5), 15000, { message: 'all five alive' });
  let step = 0;
  const converge = async () => {
    step++;
    gs[step % 5].setLocalState('step', step);
    await waitFor(() => gs.every((g) => g.peerValue(gs[step % 5].peer_name, 'step') === step), 10000,
      { message: `step ${step} to reach everyone` });
  };
  await converge();
  // 1: add the new key everywhere, one node at a time (the old one still seals)
  for (const g of gs) {
    g.setKeys([keyA, keyB]);
    await new Promise((r) => setTimeout(r, 150));
  }
  await converge();
  // 2: make the new key primary, one node at a time (every node opens both)
  for (const g of gs) {
    g.setKeys([keyB, keyA]);
    await new Promise((r) => setTimeout(r, 150));
  }
  await converge();
  // 3: drop the old key
  for (const g of gs) {
    g.setKeys([keyB]);
    await new Promise((r) => setTimeout(r, 150));
  }
  await converge();
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(failures, [], 'no peer was reported failed during the rotation');
  const unauthenticated = gs.reduce((n, g) => n + g.stats().refused.unauthenticated, 0);
  assert.equal(unauthenticated, 0, 'no message failed to open during a correct rotation');
  // a node still on the old key alone is now locked out
  const stale = new Gossiper({ port: BASE + 110, seeds: [gs[0].peer_name], ...ROUND, keys: [keyA] });
  t.after(() => stopAll(stale));
  await stale.start();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(stale.peerValue(gs[1].peer_name, 'step'), undefined);
  assert.ok(gs.every((g) => !g.allPeers().includes(stale.peer_name)));
});

test('a raw socket without the key gets no plaintext back and changes nothing', { timeout: 30000 }, async (t) => {
  const [a] = await cluster(t, [BASE + 200], { keys: [keyA], clusterName: 'secret-cluster' });
  a.setLocalState('password', 'hunter2-secret-value');
  const port = BASE + 200;
  const request = encode({ type: 0, digest: { '127.0.0.1:26299': 0, [a.peer_name]: 0 }, gossiper: 1, cluster: 'secret-cluster' });
  const update = encode({ type: 2, updates: [[a.peer_name, 'password', 'overwritten', 2 ** 52], ['127.0.0.1:26299', 'evil', 1, 5]] });
  for (const bytes of [request, update, Buffer.concat([Buffer.from([0, 0, 0, 40]), crypto.randomBytes(40)])]) {
    const received = await new Promise((resolve) => {
      const chunks = [];
      const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
      s.on('data', (d) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.setTimeout(3000, () => s.destroy());
    });
    assert.equal(received.length, 0, 'nothing is sent back to a peer without the key');
    assert.ok(!received.includes('hunter2'));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.getLocalState('password'), 'hunter2-secret-value');
  assert.deepEqual(a.allPeers(), [a.peer_name], 'no peer was injected');
  assert.ok(a.stats().refused.unauthenticated >= 3);

  // and what a keyed peer sends is sealed: no plaintext crosses the wire
  const seen = [];
  const tap = net.createServer((c) => c.on('data', (d) => seen.push(d)));
  await new Promise((r) => tap.listen(BASE + 201, '127.0.0.1', r));
  t.after(() => tap.close());
  const b = new Gossiper({ port: BASE + 202, seeds: [`127.0.0.1:${BASE + 201}`], ...ROUND, keys: [keyA], clusterName: 'secret-cluster' });
  t.after(() => stopAll(b));
  b.setLocalState('password', 'hunter2-secret-value');
  await b.start();
  await waitFor(() => seen.length > 0, 5000, { message: 'a sealed request to reach the tap' });
  const wire = Buffer.concat(seen);
  for (const plain of ['hunter2', 'digest', 'secret-cluster', '127.0.0.1', 'type']) {
    assert.ok(!wire.includes(plain), `"${plain}" is not readable on the wire`);
  }
});
