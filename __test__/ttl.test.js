'use strict';
// Keys with a time to live, `setLocalState(key, value, { ttlMs })`, over real
// TCP: every peer deletes the key on schedule (a 'delete' event, gone from
// peerKeys), also when its owner was stopped or SIGKILLed first; an original
// node-gossip peer reads the deletion as null, and only gossiper peers are
// sent the time left; writing the key again moves or drops the deadline; a
// bad ttlMs throws with a code and changes nothing.
//
// Times: a key's deadline is counted by the core from the moment of the
// call, so a delete is never seen before `before + ttlMs` (`before` read
// just ahead of the call; EARLY allows for the clocks' rounding), and is
// expected within LATE after it, which is generous for a busy machine.
//
// Ports: 21000-21499.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll, sleep, JsonLinesChild } = require('./support/util');
const { loadOriginal, originalSelfAddress } = require('./support/original');
const { RawConn } = require('./support/raw-peer');

const ports = new PortRange(21000, 21499);
const FAST = { gossipIntervalMs: 100 };
const EARLY = 20;
const LATE = 5000;

/** Started gossipers on loopback, the first one the others' seed; each records its deletes. */
async function cluster(t, n, options = {}) {
  const list = [];
  for (let i = 0; i < n; i++) list.push(await ports.take());
  const nodes = list.map((port, i) => new Gossiper({
    port, address: '127.0.0.1', seeds: i === 0 ? [] : [`127.0.0.1:${list[0]}`], ...FAST, ...options,
  }));
  t.after(() => stopAll(nodes));
  for (const g of nodes) record(g);
  await Promise.all(nodes.map((g) => g.start()));
  await waitFor(() => nodes.every((g) => g.livePeers().length === n), 15000, { message: 'everyone to know everyone' });
  return nodes;
}

/** Records `g`'s 'delete' events with the time each came. */
function record(g) {
  g.deletes = [];
  g.on('delete', (peer, key) => g.deletes.push({ peer, key, at: Date.now() }));
  return g;
}

/** The time `g` reported `key` of `owner` deleted, once it does. */
function deletedAt(g, owner, key, timeout = 15000) {
  return waitFor(() => g.deletes.find((d) => d.peer === owner && d.key === key), timeout,
    { message: `${g.peer_name} to report ${owner}'s '${key}' deleted` }).then((d) => d.at);
}

function onSchedule(at, before, ttlMs, who) {
  assert.ok(at >= before + ttlMs - EARLY, `${who}: deleted ${before + ttlMs - at} ms early`);
  assert.ok(at <= before + ttlMs + LATE, `${who}: deleted ${at - before - ttlMs} ms late`);
}

test('a key with ttlMs is deleted on every peer on schedule: a delete event, gone from peerKeys', { timeout: 60000 }, async (t) => {
  const [a, b, c] = await cluster(t, 3);
  const TTL = 1500;
  const before = Date.now();
  a.setLocalState('lease', { holder: 'a' }, { ttlMs: TTL });
  assert.deepEqual(a.getLocalState('lease'), { holder: 'a' });
  await waitFor(() => [b, c].every((g) => g.peerValue(a.peer_name, 'lease')?.holder === 'a'), TTL,
    { message: 'the lease to reach both peers before it expires' });
  for (const g of [b, c]) {
    onSchedule(await deletedAt(g, a.peer_name, 'lease'), before, TTL, g.peer_name);
    assert.equal(g.peerValue(a.peer_name, 'lease'), undefined);
    assert.ok(!g.peerKeys(a.peer_name).includes('lease'));
    assert.equal(g.deletes.filter((d) => d.key === 'lease').length, 1, 'one delete event');
  }
  // the owner drops it too (its own expiry; no event for its own keys)
  await waitFor(() => a.getLocalState('lease') === undefined, LATE, { message: 'the owner to drop it' });
  assert.ok(!a.peerKeys(a.peer_name).includes('lease'));
  assert.equal(a.deletes.length, 0);
  // and nothing brings it back
  await sleep(500);
  for (const g of [b, c]) assert.equal(g.peerValue(a.peer_name, 'lease'), undefined);
});

test('a stopped owner\'s key is still deleted on schedule everywhere', { timeout: 60000 }, async (t) => {
  const [a, b, c] = await cluster(t, 3);
  const TTL = 3000;
  const before = Date.now();
  a.setLocalState('presence', 'here', { ttlMs: TTL });
  await waitFor(() => [b, c].every((g) => g.peerValue(a.peer_name, 'presence') === 'here'), TTL,
    { message: 'the flag to reach both peers' });
  await a.stop();
  for (const g of [b, c]) {
    onSchedule(await deletedAt(g, a.peer_name, 'presence'), before, TTL, g.peer_name);
    assert.ok(!g.peerKeys(a.peer_name).includes('presence'));
  }
});

test('a SIGKILLed owner\'s key is still deleted on schedule everywhere', { timeout: 60000 }, async (t) => {
  const [b, c] = await cluster(t, 2);
  const port = await ports.take();
  const owner = `127.0.0.1:${port}`;
  const child = new JsonLinesChild(path.join(__dirname, 'support', 'cluster-node.js'),
    [JSON.stringify({ port, seeds: [b.peer_name], options: FAST })]);
  t.after(() => child.kill());
  await child.waitLine((l) => l.ev === 'started', 10000);
  await waitFor(() => b.livePeers().includes(owner) && c.livePeers().includes(owner), 15000, { message: 'the owner to join' });
  const TTL = 3000;
  const before = Date.now();
  child.send({ cmd: 'set', id: 1, key: 'lease', value: 'owned', ttlMs: TTL });
  const reply = await child.waitLine((l) => l.id === 1, 5000);
  assert.equal(reply.ev, 'ok', reply.message);
  await waitFor(() => [b, c].every((g) => g.peerValue(owner, 'lease') === 'owned'), TTL,
    { message: 'the lease to reach both peers' });
  assert.equal((await child.kill('SIGKILL')).signal, 'SIGKILL');
  for (const g of [b, c]) {
    onSchedule(await deletedAt(g, owner, 'lease'), before, TTL, g.peer_name);
    assert.equal(g.peerValue(owner, 'lease'), undefined);
    assert.ok(!g.peerKeys(owner).includes('lease'));
  }
});

test('writing the key again moves its deadline; writing it without ttlMs makes it permanent', { timeout: 60000 }, async (t) => {
  const [a, b] = await cluster(t, 2);
  a.setLocalState('lease', 1, { ttlMs: 2000 });
  await waitFor(() => b.peerValue(a.peer_name, 'lease') === 1, 2000, { message: 'the lease' });
  const renewed = Date.now();
  a.setLocalState('lease', 2, { ttlMs: 4000 });
  await waitFor(() => b.peerValue(a.peer_name, 'lease') === 2, 2000, { message: 'the renewal' });
  // well past the first deadline: still there
  await sleep(Math.max(0, renewed + 3000 - Date.now()));
  assert.equal(b.peerValue(a.peer_name, 'lease'), 2);
  assert.equal(a.getLocalState('lease'), 2);
  onSchedule(await deletedAt(b, a.peer_name, 'lease'), renewed, 4000, 'b');

  a.setLocalState('flag', 'temporary', { ttlMs: 1500 });
  await waitFor(() => b.peerValue(a.peer_name, 'flag') === 'temporary', 1500, { message: 'the flag' });
  const permanent = Date.now();
  a.setLocalState('flag', 'permanent');
  await waitFor(() => b.peerValue(a.peer_name, 'flag') === 'permanent', 1500, { message: 'the permanent flag' });
  await sleep(Math.max(0, permanent + 3000 - Date.now()));
  assert.equal(b.peerValue(a.peer_name, 'flag'), 'permanent');
  assert.equal(a.getLocalState('flag'), 'permanent');
  assert.ok(!b.deletes.some((d) => d.key === 'flag'), 'no delete of the permanent flag');
});

test('a key written again just after it expired keeps the new value locally', { timeout: 30000 }, async (t) => {
  const [a] = await cluster(t, 1);
  for (let i = 0; i < 20; i++) {
    a.setLocalState('k', `short ${i}`, { ttlMs: 1 });
    // the native side expires it meanwhile; its report comes later
    const until = Date.now() + 3;
    while (Date.now() < until);
    a.setLocalState('k', `kept ${i}`);
    await sleep(40); // the report is handed over (at most every 16 ms)
    assert.equal(a.getLocalState('k'), `kept ${i}`);
  }
});

test('only gossiper peers are sent the time left; an original node-gossip peer reads the deletion as null', { timeout: 60000 }, async (t) => {
  const host = await originalSelfAddress();
  const Original = loadOriginal();
  const oPort = await ports.take();
  const o = new Original(oPort, []);
  const nulls = [];
  const errors = [];
  o.on('update', (peer, key, value) => { if (key === 'lease' && value === null) nulls.push({ peer, at: Date.now() }); });
  o.on('error', (e) => errors.push(e));
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.after(() => { o.stop(); process.removeListener('uncaughtException', onUncaught); });
  await new Promise((resolve, reject) => { o.start(resolve); o.server.on('error', reject); });
  const g = record(new Gossiper({
    port: await ports.take(), address: host, seeds: [`${host}:${oPort}`],
    // the original beats once a second
    gossipIntervalMs: 100, initialIntervalMs: 1000, acceptablePauseMs: 1000, minStdDevMs: 250,
  }));
  t.after(() => g.stop());
  await g.start();

  const TTL = 4000;
  const before = Date.now();
  g.setLocalState('lease', 'held', { ttlMs: TTL });
  await waitFor(() => o.peers[g.peer_name] && o.peerValue(g.peer_name, 'lease') === 'held', TTL,
    { message: 'the original to read the lease' });

  // on the wire: node-gossip's four elements to a peer that does not say it
  // is a gossiper, the deletion flag and the time left to one that does
  const leaseOf = async (request) => {
    const conn = await RawConn.connect(g.port, host);
    try {
      conn.send(request);
      const { msg } = await conn.next();
      return msg.updates.find((u) => u[0] === g.peer_name && u[1] === 'lease');
    } finally {
      conn.destroy();
    }
  };
  assert.deepEqual((await leaseOf({ type: 0, digest: { [g.peer_name]: 0 } })).length, 4);
  const asked = Date.now();
  const v1 = await leaseOf({ type: 0, digest: { [g.peer_name]: 0 }, gossiper: 1, gens: [0] });
  assert.equal(v1.length, 6);
  assert.equal(v1[4], false, 'not deleted');
  assert.ok(v1[5] > 0 && v1[5] <= before + TTL - asked + EARLY, `time left ${v1[5]} ms`);

  await waitFor(() => nulls.some((n) => n.peer === g.peer_name), TTL + LATE + 5000,
    { message: 'the original to read the lease as null' });
  assert.equal(o.peerValue(g.peer_name, 'lease'), null);
  const at = nulls.find((n) => n.peer === g.peer_name).at;
  assert.ok(at >= before + TTL - EARLY, `the original read null ${before + TTL - at} ms early`);
  assert.deepEqual(errors, []);
  assert.deepEqual(uncaught, [], 'nothing threw inside the original\'s socket handlers');
});

test('a bad ttlMs throws a TypeError or RangeError with a code and changes nothing', async (t) => {
  const g = new Gossiper({ port: await ports.take(), address: '127.0.0.1', ...FAST });
  t.after(() => g.stop());
  g.setLocalState('k', 'before');
  const keys = () => g.stats().peers[0].keys;
  const held = keys();
  const MAX = 30 * 24 * 60 * 60 * 1000;
  const bad = [
    [{ ttlMs: 0 }, RangeError, 'ERR_GOSSIPER_OUT_OF_RANGE', /options\.ttlMs must be between 1 and 2592000000 \(30 days\), got 0$/],
    [{ ttlMs: -5 }, RangeError, 'ERR_GOSSIPER_OUT_OF_RANGE', /got -5$/],
    [{ ttlMs: MAX + 1 }, RangeError, 'ERR_GOSSIPER_OUT_OF_RANGE', /got 2592000001$/],
    [{ ttlMs: 1.5 }, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /options\.ttlMs must be an integer, got 1\.5$/],
    [{ ttlMs: Infinity }, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /must be an integer, got Infinity$/],
    [{ ttlMs: NaN }, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /options\.ttlMs must be a number of milliseconds, got number null$/],
    [{ ttlMs: '1000' }, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /must be a number of milliseconds, got string "1000"$/],
    [{ ttlMs: null }, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /got null$/],
    [{ ttlMs: 1000n }, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /got bigint 1000n$/],
    [{ ttl: 1000 }, TypeError, 'ERR_GOSSIPER_UNKNOWN_OPTION', /unknown option 'ttl' \(known: ttlMs\)$/],
    [1000, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /takes an options object such as \{ ttlMs \}, got number$/],
    [null, TypeError, 'ERR_GOSSIPER_INVALID_TYPE', /got null$/],
  ];
  for (const [options, type, code, message] of bad) {
    assert.throws(() => g.setLocalState('k', 'after', options), (e) => e instanceof type && e.code === code
      && message.test(e.message) && e.message.startsWith('setLocalState(key, value, options)'),
    `${String(options && options.ttlMs)} → ${type.name} ${code}`);
    assert.throws(() => g.setLocalState('new-key', 'x', options), type);
    assert.equal(g.getLocalState('k'), 'before', 'unchanged');
    assert.equal(g.getLocalState('new-key'), undefined);
    assert.equal(keys(), held, 'nothing written natively');
  }
  // the bounds themselves, and no time to live at all
  g.setLocalState('k', 'max', { ttlMs: MAX });
  g.setLocalState('k', 'one', { ttlMs: 1 });
  g.setLocalState('k', 'plain', {});
  g.setLocalState('k', 'plain too', { ttlMs: undefined });
  assert.equal(g.getLocalState('k'), 'plain too');
});
