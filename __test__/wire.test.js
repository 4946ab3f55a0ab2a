'use strict';
// Wire compatibility with node-gossip 0.0.3, spoken over raw sockets with
// @msgpack/msgpack (never gossiper's own codec): gossiper as the responder of
// an old initiator, as the initiator towards an old responder, what it sends
// an old requester, updates about itself, and how values are encoded.
// Ports 24000-24499.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  HOST, RawConn, markers, RawServer, waitFor, indexOfBytes, str16, uintBytes, float64Bytes,
  startGossiper, stopAll,
} = require('./support/raw-peer');

const name = (port) => `${HOST}:${port}`;
const MAX_VERSION = 2 ** 53 - 1;

let G; // the gossiper spoken to: 24000
let H; // a real gossiper peer of G with more keys: 24001
const H_KEYS = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];

before(async () => {
  G = await startGossiper(24000);
  H = await startGossiper(24001, { seeds: [name(24000)] });
  G.setLocalState('g0', 'from G');
  for (const k of H_KEYS) H.setLocalState(k, `value of ${k}`);
  await waitFor(() => H_KEYS.every((k) => G.peerValue(H.peer_name, k) === `value of ${k}`)
    && H.peerValue(G.peer_name, 'g0') === 'from G', { message: 'G and H to converge' });
});

after(async () => {
  for (const g of [G, H]) assert.deepEqual(g.recorded.error, [], 'no error event');
  await stopAll();
});

/** Asserts the shape of an update list and returns it grouped by peer, in order. */
function checkUpdates(updates) {
  assert.ok(Array.isArray(updates), 'updates is an array');
  const groups = [];
  for (const u of updates) {
    assert.ok(Array.isArray(u), `update ${JSON.stringify(u)} is an array`);
    assert.equal(u.length, 4, `update ${JSON.stringify(u)} is [peer, key, value, version]`);
    const [peer, key, , version] = u;
    assert.equal(typeof peer, 'string');
    assert.equal(typeof key, 'string');
    assert.ok(Number.isSafeInteger(version) && version > 0, `version ${version} is a positive integer`);
    const last = groups[groups.length - 1];
    if (last && last.peer === peer) last.updates.push(u);
    else groups.push({ peer, updates: [u] });
  }
  const peers = groups.map((g) => g.peer);
  assert.equal(new Set(peers).size, peers.length, `updates of a peer are contiguous: ${peers}`);
  for (const g of groups) {
    const versions = g.updates.map((u) => u[3]);
    for (let i = 1; i < versions.length; i++) {
      assert.ok(versions[i] > versions[i - 1], `versions of ${g.peer} ascend: ${versions}`);
    }
  }
  for (let i = 1; i < groups.length; i++) {
    assert.ok(groups[i - 1].updates.length >= groups[i].updates.length,
      `peers with the most deltas first: ${groups.map((g) => `${g.peer}=${g.updates.length}`)}`);
  }
  return groups;
}

function checkVersionMap(m, field) {
  assert.ok(m !== null && typeof m === 'object' && !Array.isArray(m), `${field} is a map`);
  for (const [peer, v] of Object.entries(m)) {
    assert.match(peer, /^[^:]+:\d+$/, `${field} key ${peer} is a peer name`);
    assert.ok(Number.isSafeInteger(v) && v >= 0, `${field}[${peer}] = ${v} is an integer`);
  }
}

/** One exchange as an old initiator: REQUEST, returns FIRST_RESPONSE (connection open). */
async function oldRequest(port, digest) {
  const c = await RawConn.connect(port);
  c.send({ type: 0, digest });
  const first = await c.next();
  return { c, ...first };
}

test('(a) old node-gossip initiator: REQUEST → FIRST_RESPONSE → SECOND_RESPONSE', async () => {
  const me = name(24010); // nothing listens there: G's later rounds to it just fail
  const { c, msg } = await oldRequest(24000, { [me]: 0, [G.peer_name]: 0, [H.peer_name]: 0 });

  assert.equal(msg.type, 1, 'FIRST_RESPONSE has type 1');
  checkVersionMap(msg.request_digest, 'request_digest');
  assert.deepEqual(msg.request_digest, { [me]: 0 }, 'asks the unknown requester for everything');
  const groups = checkUpdates(msg.updates);
  assert.deepEqual(groups.map((g) => g.peer), [H.peer_name, G.peer_name],
    'H (7 deltas) before G (2 deltas)');
  const hGroup = Object.fromEntries(groups[0].updates.map((u) => [u[1], u[2]]));
  for (const k of H_KEYS) assert.equal(hGroup[k], `value of ${k}`);
  assert.ok(Number.isInteger(hGroup.__heartbeat__), 'H heartbeat is a counter');
  const gGroup = Object.fromEntries(groups[1].updates.map((u) => [u[1], u[2]]));
  assert.deepEqual(Object.keys(gGroup).sort(), ['__heartbeat__', 'g0']);
  assert.equal(gGroup.g0, 'from G');

  const events = G.recorded.update.length;
  c.send({
    type: 2,
    updates: [
      [me, '__heartbeat__', 1, 1],
      [me, 'color', 'blue', 2],
      [me, 'list', [1, 'a', { b: true }], 3],
    ],
  });
  await c.closed(); // G ends the exchange after SECOND_RESPONSE
  assert.ok(c.ended, 'G closed with FIN, not a reset');
  await waitFor(() => G.peerValue(me, 'list') !== undefined, { message: 'G to apply SECOND_RESPONSE' });
  assert.equal(G.peerValue(me, 'color'), 'blue');
  assert.deepEqual(G.peerValue(me, 'list'), [1, 'a', { b: true }]);
  assert.deepEqual(G.peerKeys(me).sort(), ['__heartbeat__', 'color', 'list']);
  assert.ok(G.allPeers().includes(me));
  assert.ok(G.recorded.new_peer.includes(me), 'new_peer fired for the old initiator');
  const mine = G.recorded.update.slice(events).filter((u) => u[0] === me);
  assert.deepEqual(mine, [
    [me, '__heartbeat__', 1],
    [me, 'color', 'blue'],
    [me, 'list', [1, 'a', { b: true }]],
  ], 'update events in version order');
});

test('(b) old node-gossip responder: gossiper seeds a raw server', async () => {
  const server = await RawServer.listen(24020);
  const R = name(24020);
  let B;
  try {
    B = await startGossiper(24021, { seeds: [R] });
    B.setLocalState('bkey', 'hello');
    B.setLocalState('bnum', 42);
    const c = await server.accept();
    const { msg: req } = await c.next();
    assert.equal(req.type, 0, 'REQUEST has type 0');
    checkVersionMap(req.digest, 'digest');
    assert.ok(req.digest[B.peer_name] >= 1, `digest names the gossiper itself: ${JSON.stringify(req.digest)}`);
    assert.equal(req.digest[R], 0, 'digest names the seed at version 0');

    c.send({
      type: 1,
      request_digest: { [B.peer_name]: 0 },
      updates: [[R, '__heartbeat__', 7, 1], [R, 'rkey', 'from raw', 2]],
    });
    const { msg: second } = await c.next();
    assert.equal(second.type, 2, 'SECOND_RESPONSE has type 2');
    assert.equal(second.request_digest, undefined, 'SECOND_RESPONSE has no request_digest');
    const groups = checkUpdates(second.updates);
    assert.deepEqual(groups.map((g) => g.peer), [B.peer_name], 'only what was asked for');
    const sent = Object.fromEntries(groups[0].updates.map((u) => [u[1], u[2]]));
    assert.equal(sent.bkey, 'hello');
    assert.equal(sent.bnum, 42);
    assert.ok(Number.isInteger(sent.__heartbeat__));
    await c.closed();
    assert.ok(c.ended, 'the initiator ends the connection after SECOND_RESPONSE');

    await waitFor(() => B.peerValue(R, 'rkey') === 'from raw', { message: 'B to apply FIRST_RESPONSE' });
    assert.equal(B.peerValue(R, '__heartbeat__'), 7);
    assert.ok(B.recorded.update.some((u) => u[0] === R && u[1] === 'rkey' && u[2] === 'from raw'));

    // the next round's digest carries what it learnt from us
    const c2 = await server.accept();
    const { msg: req2 } = await c2.next();
    assert.equal(req2.digest[R], 2, 'next REQUEST digests the raw peer at version 2');
    c2.destroy();
    assert.deepEqual(B.recorded.error, []);
  } finally {
    await server.close();
  }
});

test('(c) an old requester only gets updates about peers in its digest', async () => {
  const me = name(24011);
  // a digest naming nobody G knows
  let r = await oldRequest(24000, { [me]: 0 });
  assert.equal(r.msg.type, 1);
  assert.deepEqual(r.msg.updates, [], 'no updates about peers not asked for');
  assert.deepEqual(r.msg.request_digest, { [me]: 0 });
  r.c.send({ type: 2, updates: [] });
  await r.c.closed();

  // naming G only: nothing about H
  r = await oldRequest(24000, { [me]: 0, [G.peer_name]: 0 });
  const peers = new Set(checkUpdates(r.msg.updates).map((g) => g.peer));
  assert.deepEqual([...peers], [G.peer_name], 'updates only about G');
  r.c.send({ type: 2, updates: [] });
  await r.c.closed();

  // contrast: a v1 requester naming only G does hear of H (so the above is the old-peer rule)
  const v1 = await RawConn.connect(24000);
  v1.send({ type: 0, digest: { [me]: 0, [G.peer_name]: 0 }, gossiper: 1 });
  const { msg } = await v1.next();
  const v1Peers = new Set(msg.updates.map((u) => u[0]));
  assert.ok(v1Peers.has(H.peer_name), 'a v1 requester learns about H');
  v1.destroy();
});

test('(d) updates about the gossiper itself from a raw peer are ignored', async () => {
  const me = name(24012);
  const self = G.peer_name;
  const before = G.stats().updatesAboutSelf;
  const hb = G.getLocalState('__heartbeat__');
  const { c } = await oldRequest(24000, { [me]: 0, [self]: 0 });
  c.send({
    type: 2,
    updates: [
      [self, 'evil', 'injected', MAX_VERSION - 1],
      [self, '__heartbeat__', 1e9, MAX_VERSION],
      [me, 'ok', 1, 1],
    ],
  });
  await c.closed();
  await waitFor(() => G.peerValue(me, 'ok') === 1, { message: 'the genuine update to apply' });
  assert.equal(G.stats().updatesAboutSelf, before + 2);
  assert.equal(G.getLocalState('evil'), undefined);
  assert.equal(G.peerValue(self, 'evil'), undefined);
  assert.ok(!G.peerKeys(self).includes('evil'));
  assert.ok(G.getLocalState('__heartbeat__') < 1e9 && G.getLocalState('__heartbeat__') >= hb);
  const mine = G.stats().peers.find((p) => p.name === self);
  assert.ok(mine.maxVersion < MAX_VERSION - 1, 'own version not bumped by a stranger');

  // same from an old responder's FIRST_RESPONSE to a gossiper that initiates
  const server = await RawServer.listen(24022);
  try {
    const B = await startGossiper(24023, { seeds: [name(24022)] });
    const conn = await server.accept();
    await conn.next();
    conn.send({
      type: 1,
      request_digest: {},
      updates: [[B.peer_name, 'evil', 'x', MAX_VERSION], [name(24022), 'fine', true, 1]],
    });
    await conn.next(); // SECOND_RESPONSE
    await waitFor(() => B.peerValue(name(24022), 'fine') === true, { message: 'B to apply' });
    assert.equal(B.getLocalState('evil'), undefined);
    assert.equal(B.stats().updatesAboutSelf, 1);
    assert.deepEqual(B.recorded.error, []);
  } finally {
    await server.close();
  }
});

test('(e) value encodings: str16 for 32-255 byte strings, integer versions, values decode', async () => {
  const values = {
    s31: 'z'.repeat(31),
    s32: 'q'.repeat(32),
    s40: 'x'.repeat(40),
    s255: 'y'.repeat(255),
    s256: 'w'.repeat(256),
    accents: 'é'.repeat(20), // 40 bytes of UTF-8
    [`long-key-${'k'.repeat(40)}`]: 'short',
    zero: 0, small: 127, byte: 128, neg: -1, neg33: -33, word: 65536,
    big: 2 ** 40, negBig: -(2 ** 40), maxSafe: Number.MAX_SAFE_INTEGER,
    half: 1.5, quarter: -0.25,
    yes: true, no: false, nothing: null,
    list: [1, 'two', [3, [4]]],
    obj: { a: 1, b: { c: [true, null, 'd'] } },
    bytes: Buffer.from([1, 2, 3, 250]),
    emoji: 'gossip 🗣️ ünïcödé',
  };
  for (const [k, v] of Object.entries(values)) G.setLocalState(k, v);

  const me = name(24013);
  const { c, msg, raw } = await oldRequest(24000, { [me]: 0, [G.peer_name]: 0 });
  const sent = new Map();
  for (const [peer, key, value, version] of msg.updates) {
    if (peer !== G.peer_name) continue;
    sent.set(key, value);
    assert.ok(Number.isSafeInteger(version), `version of ${key} is an integer`);
    assert.ok(indexOfBytes(raw, uintBytes(version)) >= 0, `version ${version} written as an unsigned integer`);
    assert.equal(indexOfBytes(raw, float64Bytes(version)), -1, `version ${version} not written as a float`);
  }
  for (const [k, v] of Object.entries(values)) {
    assert.ok(sent.has(k), `update for ${k} sent`);
    if (Buffer.isBuffer(v)) assert.deepEqual(Buffer.from(sent.get(k)), v, `${k} decodes to the same bytes`);
    else assert.deepEqual(sent.get(k), v, `${k} decodes as set`);
  }
  for (const s of [values.s32, values.s40, values.s255, values.accents, `long-key-${'k'.repeat(40)}`]) {
    const len = Buffer.byteLength(s);
    assert.ok(indexOfBytes(raw, str16(s)) >= 0, `${len}-byte string written as str16 (0xda)`);
    assert.equal(indexOfBytes(raw, Buffer.concat([Buffer.from([0xd9, len]), Buffer.from(s)])), -1,
      `${len}-byte string not written as str8 (0xd9)`);
  }
  assert.ok(indexOfBytes(raw, str16(values.s256)) >= 0, '256-byte string is str16');
  assert.ok(indexOfBytes(raw, Buffer.concat([Buffer.from([0xbf]), Buffer.from(values.s31)])) >= 0, '31 bytes: fixstr');
  const used = markers(raw);
  assert.equal(used.length > 100, true, 'the structural walk saw the whole message');
  assert.ok(!used.includes(0xd9), 'no str8 item anywhere in the message');
  assert.ok(used.includes(0xda), 'str16 items present');
  c.send({ type: 2, updates: [] });
  await c.closed();

  // and the reverse: values encoded by @msgpack/msgpack (str8 included) are read by gossiper
  const { c: c2 } = await oldRequest(24000, { [me]: 0 });
  let v = 1;
  c2.send({ type: 2, updates: Object.entries(values).map(([k, val]) => [me, k, val, v++]) });
  await c2.closed();
  await waitFor(() => G.peerValue(me, 'emoji') !== undefined, { message: 'values from the raw peer' });
  for (const [k, val] of Object.entries(values)) {
    const got = G.peerValue(me, k);
    if (Buffer.isBuffer(val)) assert.deepEqual(Buffer.from(got), val, k);
    else assert.deepEqual(got, val, k);
  }
});

test('(f) a v1 response marked `more` starts a catch-up exchange, also after a stop in the middle of a chain', async () => {
  const server = await RawServer.listen(24030);
  const R = name(24030);
  // an answer that says more was left out, from a (pretend) gossiper peer
  const answerMore = async (conn) => {
    const { msg: req } = await conn.next();
    assert.equal(req.type, 0);
    conn.send({ type: 1, request_digest: {}, updates: [], gossiper: 1, gens: {}, more: true });
    const { msg: second } = await conn.next();
    assert.equal(second.type, 2);
  };
  try {
    // one-hour rounds: every exchange here is a push or a catch-up
    const B = await startGossiper(24031, { seeds: [R], gossipIntervalMs: 3600000, pushOnChange: true });
    await answerMore(await server.accept()); // the join's push
    const held = await server.accept(); // the catch-up, left unanswered
    const { msg: req } = await held.next();
    assert.equal(req.type, 0, 'the catch-up sends a REQUEST');
    assert.equal(B.stats().catchUps, 1);
    // stopped in the middle of its chain, B must be able to start a chain again
    await B.stop();
    await B.start();
    B.setLocalState('k', 1); // pushed to R
    await answerMore(await server.accept());
    const again = await server.accept();
    assert.equal((await again.next()).msg.type, 0, 'a catch-up after the restart');
    assert.equal(B.stats().catchUps, 2);
    assert.deepEqual(B.recorded.error, []);
  } finally {
    await stopAll();
    await server.close();
  }
});
