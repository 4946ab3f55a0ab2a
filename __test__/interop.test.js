'use strict';
// A mixed cluster in one process: two ORIGINAL node-gossip 0.0.3 nodes (over
// the msgpack shim) and two gossipers. Values cross both ways, the original
// hears gossiper's writes as 'update' events, a gossiper restarted on the
// same port (a new process: versions seeded from the clock) is taken back by
// the original, and a deleted key reads as null on the original.
// The original runs fixed 1 s rounds and its failure detector learns the
// gossipers' (much faster) heartbeat rate, so it notices a stop in seconds.
// Ports 24500-24999.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { loadOriginal, originalSelfAddress } = require('./support/original');
const { waitFor, startGossiper, stopGossiper, stopAll } = require('./support/raw-peer');

const P = { o1: 24500, o2: 24501, g1: 24502, g2: 24503 };
let host; // what the original calls itself: the address `hostname` resolves to
const name = (port) => `${host}:${port}`;

// The originals beat once a second: tell the gossipers (100 ms rounds) so
// they do not take the originals' 1 s silences for failures.
const GOSSIPER = {
  gossipIntervalMs: 100,
  initialIntervalMs: 1000,
  acceptablePauseMs: 1000,
  minStdDevMs: 250,
};

const originals = [];
let O1, O2, G1, G2;
const uncaught = [];
const onUncaught = (e) => uncaught.push(e);

function startOriginal(port, seeds) {
  const Original = loadOriginal();
  const o = new Original(port, seeds); // no ipToBind: the original names itself ":port" with it
  o.recorded = { update: [], new_peer: [], peer_alive: [], peer_failed: [], error: [] };
  for (const ev of ['update', 'peer_alive', 'peer_failed', 'new_peer']) {
    o.on(ev, (...args) => o.recorded[ev].push(args));
  }
  o.on('error', (e) => o.recorded.error.push(e));
  originals.push(o);
  return new Promise((resolve, reject) => {
    o.start(() => resolve(o));
    o.server.on('error', reject);
  });
}

/** The original's peerValue throws for a peer it does not know. */
function origValue(o, peer, key) {
  return o.peers[peer] ? o.peerValue(peer, key) : undefined;
}

before(async () => {
  process.on('uncaughtException', onUncaught);
  host = await originalSelfAddress();
  assert.match(host, /^127\./, `the original must name itself on loopback here, got ${host}`);
  O1 = await startOriginal(P.o1, []);
  O2 = await startOriginal(P.o2, [name(P.o1)]);
  G1 = await startGossiper(P.g1, { ...GOSSIPER, address: host, seeds: [name(P.o1)] });
  G2 = await startGossiper(P.g2, { ...GOSSIPER, address: host, seeds: [name(P.o1)] });
  assert.equal(O1.peer_name, name(P.o1));
  assert.equal(G1.peer_name, name(P.g1));
});

after(async () => {
  for (const o of originals) o.stop();
  await stopAll();
  process.removeListener('uncaughtException', onUncaught);
  assert.deepEqual(uncaught, [], 'nothing threw inside socket handlers');
  for (const o of originals) assert.deepEqual(o.recorded.error, []);
});

test('values set on every node reach all others, both ways', { timeout: 30000 }, async (t) => {
  const nodes = [
    { n: 'o1', g: O1, orig: true },
    { n: 'o2', g: O2, orig: true },
    { n: 'g1', g: G1, orig: false },
    { n: 'g2', g: G2, orig: false },
  ];
  for (const x of nodes) {
    x.g.setLocalState('color', `${x.n}-blue`);
    x.g.setLocalState('shape', { sides: P[x.n] % 10, tags: [x.n, 'x'.repeat(40)] });
  }
  const t0 = Date.now();
  const missing = () => {
    const out = [];
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        const peer = name(P[b.n]);
        const v = a.orig ? origValue(a.g, peer, 'color') : a.g.peerValue(peer, 'color');
        if (v !== `${b.n}-blue`) out.push(`${a.n} lacks ${b.n}`);
      }
    }
    return out;
  };
  await waitFor(() => missing().length === 0, {
    timeout: 25000, interval: 50, message: 'every node to see every other node\'s value',
  }).catch((e) => { throw new Error(`${e.message}; still missing: ${missing().join(', ')}`); });
  t.diagnostic(`mixed cluster converged in ${Date.now() - t0} ms`);

  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      const peer = name(P[b.n]);
      const shape = a.orig ? origValue(a.g, peer, 'shape') : a.g.peerValue(peer, 'shape');
      assert.deepEqual(shape, { sides: P[b.n] % 10, tags: [b.n, 'x'.repeat(40)] }, `${a.n} reads ${b.n}'s object`);
    }
  }
  // membership as each side reports it
  for (const o of [O1, O2]) {
    for (const g of [G1, G2]) assert.ok(o.livePeers().includes(g.peer_name), `${o.peer_name} lists ${g.peer_name} live`);
  }
  for (const g of [G1, G2]) {
    await waitFor(() => [O1, O2].every((o) => g.livePeers().includes(o.peer_name)),
      { message: `${g.peer_name} to list both originals live` });
  }
  // the original hears gossiper's writes as 'update' events, with the right peer
  for (const o of [O1, O2]) {
    for (const [g, n] of [[G1, 'g1'], [G2, 'g2']]) {
      assert.ok(o.recorded.update.some(([p, k, v]) => p === g.peer_name && k === 'color' && v === `${n}-blue`),
        `${o.peer_name} emitted update(${g.peer_name}, color)`);
      assert.ok(o.recorded.update.some(([p, k]) => p === g.peer_name && k === '__heartbeat__'),
        `${o.peer_name} sees ${g.peer_name}'s heartbeat`);
    }
  }
  // and gossiper hears the original's
  assert.ok(G1.recorded.update.some(([p, k, v]) => p === O2.peer_name && k === 'color' && v === 'o2-blue'));

  // a later write on a gossiper shows up at the original as an update event
  G1.setLocalState('color', 'g1-red');
  await waitFor(() => O2.recorded.update.some(([p, k, v]) => p === G1.peer_name && k === 'color' && v === 'g1-red'),
    { timeout: 10000, message: 'O2 to emit the new value of G1' });
  await waitFor(() => origValue(O1, G1.peer_name, 'color') === 'g1-red', { timeout: 10000, message: 'O1 to read the new value' });
});

test('deleting a key on gossiper reads as null on the original', { timeout: 20000 }, async () => {
  G2.setLocalState('temp', 'to be deleted');
  await waitFor(() => [O1, O2].every((o) => origValue(o, G2.peer_name, 'temp') === 'to be deleted')
    && G1.peerValue(G2.peer_name, 'temp') === 'to be deleted', { timeout: 10000, message: 'temp to spread' });
  assert.equal(G2.deleteLocalState('temp'), true);
  await waitFor(() => [O1, O2].every((o) => origValue(o, G2.peer_name, 'temp') === null),
    { timeout: 10000, message: 'the originals to read the deleted key as null' });
  for (const o of [O1, O2]) {
    assert.ok(o.peerKeys(G2.peer_name).includes('temp'), 'the original keeps the key, with value null');
    assert.ok(o.recorded.update.some(([p, k, v]) => p === G2.peer_name && k === 'temp' && v === null));
  }
  // G1 hears of the deletion from G2 itself or through an original (which
  // relays it as a plain null, held back until a gossiper peer confirms it)
  await waitFor(() => G1.peerValue(G2.peer_name, 'temp') === undefined,
    { message: 'G1 to drop the deleted key' });
});

test('a gossiper restarted on the same port is taken back by the original with its new values', { timeout: 30000 }, async (t) => {
  const g2name = G2.peer_name;
  G2.setLocalState('old-only', 'before restart');
  await waitFor(() => origValue(O1, g2name, 'old-only') === 'before restart', { timeout: 10000, message: 'old-only to reach O1' });
  const oldVersion = O1.peers[g2name].max_version_seen;
  const oldGeneration = G2.stats().peers.find((p) => p.name === g2name).generation;
  await stopGossiper(G2);

  const t0 = Date.now();
  await waitFor(() => O1.deadPeers().includes(g2name), { timeout: 15000, interval: 100, message: 'O1 to mark the stopped gossiper failed' });
  t.diagnostic(`original noticed the stop after ${Date.now() - t0} ms`);
  assert.ok(O1.recorded.peer_failed.some(([p]) => p === g2name), 'O1 emitted peer_failed');

  // a new process on the same port: a new generation, versions from the clock
  G2 = await startGossiper(P.g2, { ...GOSSIPER, address: host, seeds: [name(P.o1)] });
  assert.equal(G2.peer_name, g2name);
  const generation = G2.stats().peers.find((p) => p.name === g2name).generation;
  assert.ok(generation > oldVersion, `new generation ${generation} above everything the original saw (${oldVersion})`);
  assert.ok(generation > oldGeneration);
  G2.setLocalState('color', 'g2-after-restart');

  const alive = O1.recorded.peer_alive.length;
  await waitFor(() => origValue(O1, g2name, 'color') === 'g2-after-restart' && O1.livePeers().includes(g2name)
    && origValue(O2, g2name, 'color') === 'g2-after-restart',
  { timeout: 15000, interval: 50, message: 'the originals to take the restarted gossiper back' });
  await waitFor(() => O1.recorded.peer_alive.slice(alive).some(([p]) => p === g2name),
    { timeout: 5000, message: 'O1 to emit peer_alive' });
  assert.ok(O1.peers[g2name].max_version_seen > oldVersion);
  assert.ok(O1.recorded.update.some(([p, k, v]) => p === g2name && k === 'color' && v === 'g2-after-restart'));
  // the original keeps pre-restart keys forever (its known defect); gossiper drops them
  assert.equal(origValue(O1, g2name, 'old-only'), 'before restart');
  await waitFor(() => G1.peerValue(g2name, 'old-only') === undefined && G1.peerValue(g2name, 'color') === 'g2-after-restart',
    { timeout: 10000, message: 'G1 to see the new incarnation' });
  // and the restarted gossiper learns the whole cluster again
  await waitFor(() => [O1, O2, G1].every((x) => G2.peerValue(x.peer_name, 'color') !== undefined),
    { timeout: 15000, message: 'the restarted gossiper to learn everyone' });
  assert.equal(G2.peerValue(O2.peer_name, 'color'), 'o2-blue');
});

test('a deletion relayed by an old peer still deletes on gossiper peers', async () => {
  // Deterministic form of what happens when an original relays a gossiper's
  // deletion before the owner's own tombstone arrives: X is a gossiper (v1)
  // peer and R an original, both played over raw sockets. R forwards X's
  // tombstone exactly as node-gossip does, as a 4-tuple whose value is nil.
  const { RawConn } = require('./support/raw-peer');
  const X = name(24520);
  const R = name(24521);
  const gen = 1_700_000_000_000_000;
  const exchange = async (request, second) => {
    const c = await RawConn.connect(P.g1);
    c.send(request);
    await c.next();
    c.send(second);
    await c.closed();
  };
  await exchange({ type: 0, digest: { [X]: gen + 1 }, gossiper: 1, gens: [gen] },
    { type: 2, updates: [[X, '__heartbeat__', 1, gen], [X, 'temp', 'x', gen + 1]], gossiper: 1, gens: { [X]: gen } });
  await waitFor(() => G1.peerValue(X, 'temp') === 'x', { message: 'X\'s key' });
  // the original R relays X's deletion at gen + 2
  await exchange({ type: 0, digest: { [R]: 0, [X]: gen + 2 } }, { type: 2, updates: [[X, 'temp', null, gen + 2]] });
  // then X's own tombstone at the same version, and a newer heartbeat
  await exchange({ type: 0, digest: { [X]: gen + 3 }, gossiper: 1, gens: [gen] },
    { type: 2, updates: [[X, 'temp', null, gen + 2, true], [X, '__heartbeat__', 2, gen + 3]], gossiper: 1, gens: { [X]: gen } });
  await waitFor(() => G1.peerValue(X, '__heartbeat__') === 2, { message: 'X\'s later heartbeat' });
  assert.equal(G1.peerValue(X, 'temp'), undefined, 'the key X deleted is gone on G1, as on X');
  assert.ok(!G1.peerKeys(X).includes('temp'));
  assert.ok(G1.recorded.delete.some(([p, k]) => p === X && k === 'temp'), 'G1 emitted delete');
});
