'use strict';
// Hostile input: every class of bad bytes, shapes, sizes, timings and
// volumes a peer (or anyone who can reach the port) may send. After each,
// the node must still answer a proper exchange and still converge with a
// real gossiper peer, the matching stats() counter must have moved, no
// 'error' event may fire and the process must not crash. RSS is measured
// around the whole file. Ports 25000-25499.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const {
  HOST, RawConn, RawServer, sleep, waitFor, encode, startGossiper, stopAll,
} = require('./support/raw-peer');

const name = (port) => `${HOST}:${port}`;
const KiB = 1024;
const MiB = 1024 * KiB;

const LIMITS = {
  maxMessageBytes: 64 * KiB,
  maxOutgoingMessageBytes: 64 * KiB,
  readTimeoutMs: 500,
  maxConnections: 32,
  maxPeers: 1000,
  maxValueBytes: 1 * KiB,
  maxKeysPerPeer: 16,
  maxPeerStateBytes: 8 * KiB,
  deadPeerRemovalMs: 3000,
};
const READ_TIMEOUT = LIMITS.readTimeoutMs;
const AT_ONCE = 300; // ms: "refused at once", well under the read timeout

let T; // target: 25000
let F; // its real gossiper peer: 25001
const all = [];
let rss0;
const uncaught = [];
const onUncaught = (e) => uncaught.push(e);

const mb = (n) => `${(n / MiB).toFixed(1)} MB`;

before(async () => {
  process.on('uncaughtException', onUncaught);
  rss0 = process.memoryUsage().rss;
  T = await startGossiper(25000, LIMITS);
  F = await startGossiper(25001, { seeds: [name(25000)], deadPeerRemovalMs: 3000 });
  all.push(T, F);
  await healthy(T, F, 'at start');
});

after(async () => {
  await stopAll();
  process.removeListener('uncaughtException', onUncaught);
  const rss1 = process.memoryUsage().rss;
  console.log(`RSS before the hostile suite ${mb(rss0)}, after ${mb(rss1)}, delta ${mb(rss1 - rss0)}`);
  assert.deepEqual(uncaught, [], 'no uncaught exception');
  for (const g of all) assert.deepEqual(g.recorded.error, [], `no 'error' event on ${g.peer_name}`);
  assert.ok(rss1 - rss0 < 200 * MiB, `RSS grew by ${mb(rss1 - rss0)}`);
});

// ---------------------------------------------------------------- helpers

let probe = 0;
/**
 * The node still answers a proper old-style exchange over a fresh connection,
 * and it still converges both ways with its real gossiper peer.
 */
async function healthy(node, friend, label) {
  const port = Number(node.peer_name.split(':')[1]);
  const c = await RawConn.connect(port);
  c.send({ type: 0, digest: { [node.peer_name]: 0 } });
  const { msg } = await c.next(2000);
  assert.equal(msg.type, 1, `${label}: FIRST_RESPONSE`);
  assert.ok(msg.updates.some((u) => u[0] === node.peer_name && u[1] === '__heartbeat__'), `${label}: it sends its state`);
  c.send({ type: 2, updates: [] });
  await c.closed(2000);
  assert.ok(c.ended, `${label}: exchange ended cleanly`);

  const n = ++probe;
  friend.setLocalState('probe', n);
  node.setLocalState('probe', n);
  await waitFor(() => node.peerValue(friend.peer_name, 'probe') === n && friend.peerValue(node.peer_name, 'probe') === n,
    { timeout: 10000, message: `${label}: ${node.peer_name} and ${friend.peer_name} to converge` });
}

const refused = (g, kind) => g.stats().refused[kind];

/** Whether one old-style exchange with the node completes now. */
async function tryExchange(port, nodeName) {
  try {
    const c = await RawConn.connect(port);
    c.send({ type: 0, digest: { [nodeName]: 0 } });
    const { msg } = await c.next(1000);
    c.send({ type: 2, updates: [] });
    await c.closed(1000);
    return msg.type === 1;
  } catch {
    return false;
  }
}

/** Runs `attack`, then waits for `g.stats().refused[kind]` to grow by at least `n`. */
async function expectRefused(g, kind, n, attack) {
  const before = refused(g, kind);
  const result = await attack();
  await waitFor(() => refused(g, kind) >= before + n,
    { timeout: 3000, message: `refused.${kind} to grow by ${n} (was ${before}, now ${refused(g, kind)})` });
  return result;
}

/** Sends `bytes` on a fresh connection; resolves with how long it stayed open. */
async function sendAndWaitClose(port, bytes, timeout = 3000) {
  const c = await RawConn.connect(port);
  c.sendRaw(bytes);
  const ms = await c.closed(timeout);
  assert.equal(c.queue.length, 0, 'no reply to a bad message');
  return ms;
}

/** Opens an exchange as an old initiator: REQUEST sent, FIRST_RESPONSE read. */
async function openExchange(port, digest) {
  const c = await RawConn.connect(port);
  c.send({ type: 0, digest });
  const first = await c.next(2000);
  assert.equal(first.msg.type, 1);
  return c;
}

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cat = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const fix = (s) => cat([0xa0 | s.length], Buffer.from(s));
// {type: 0, digest: <then whatever follows>}
const REQUEST_PREFIX = cat([0x82], fix('type'), [0x00], fix('digest'));

// ---------------------------------------------------------------- tests

test('garbage bytes: refused, connection closed, node unharmed', async () => {
  const http = Buffer.from('GET / HTTP/1.1\r\nHost: gossip\r\n\r\n');
  const ms = await expectRefused(T, 'malformed', 1, () => sendAndWaitClose(25000, http));
  assert.ok(ms < AT_ONCE, `HTTP request closed at once (${ms} ms)`);

  const rand = mulberry32(0xbadc0de);
  const kinds = ['malformed', 'tooLarge', 'tooDeep', 'timeout', 'closed'];
  const sum = () => kinds.reduce((s, k) => s + refused(T, k), 0);
  const before = sum();
  const N = 40;
  for (let batch = 0; batch < N; batch += 8) {
    await Promise.all(Array.from({ length: 8 }, () => {
      const b = Buffer.alloc(512);
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
      return sendAndWaitClose(25000, b, READ_TIMEOUT + 2000).then((t) => {
        assert.ok(t < READ_TIMEOUT + 1000, `random garbage closed within the read timeout (${t} ms)`);
      });
    }));
  }
  await waitFor(() => sum() >= before + N, { message: `${N} refusals counted (${sum() - before})` });
  await healthy(T, F, 'after garbage');
});

test('the never-used marker 0xc1', async () => {
  for (const bytes of [Buffer.from([0xc1]), cat(REQUEST_PREFIX, [0xc1]), cat([0x81, 0xc1, 0x00])]) {
    const ms = await expectRefused(T, 'malformed', 1, () => sendAndWaitClose(25000, bytes));
    assert.ok(ms < AT_ONCE, `0xc1 refused at once (${ms} ms)`);
  }
  await healthy(T, F, 'after 0xc1');
});

test('valid msgpack of the wrong shapes and types', async () => {
  const X = name(25400);
  const bad = [
    42, 'hello', [1, 2, 3], null, true, { digest: {} }, { type: 7, digest: {} }, { type: '0', digest: {} },
    { type: -1, digest: {} }, { type: 0.5, digest: {} }, { type: 0 }, { type: 0, digest: [1, 2] }, { type: 0, digest: 'x' },
    { type: 0, digest: { [X]: '5' } }, { type: 0, digest: { [X]: -1 } }, { type: 0, digest: { [X]: 1.5 } },
    { type: 0, digest: { [X]: 2 ** 53 } }, { type: 0, digest: { [X]: 2 ** 64 } }, { type: 0, digest: { [X]: NaN } },
    { type: 0, digest: { [X]: true } }, { type: 0, digest: { [X]: null } }, { type: 0, digest: { [X]: [1] } },
    { type: 0, digest: {}, gossiper: 'yes' }, { type: 0, digest: {}, cluster: 5 }, { type: 0, digest: { [X]: 1 }, gossiper: 1, gens: [1, 2] },
  ];
  for (const m of bad) {
    const ms = await expectRefused(T, 'malformed', 1, () => sendAndWaitClose(25000, encode(m)));
    assert.ok(ms < AT_ONCE, `${JSON.stringify(m)} refused at once (${ms} ms)`);
  }
  // a version beyond 2^53 as a real uint64, and a map with a non-string key only
  const u64 = cat(REQUEST_PREFIX, [0x81], fix(X), [0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0]);
  await expectRefused(T, 'malformed', 1, () => sendAndWaitClose(25000, u64));
  await expectRefused(T, 'malformed', 1, () => sendAndWaitClose(25000, Buffer.from([0x81, 0x01, 0x02])));
  assert.ok(!T.allPeers().includes(X), 'nothing of the refused digests was registered');

  // SECOND_RESPONSE with updates of the wrong shape (after a proper REQUEST)
  const badUpdates = [
    [[1, 2]], [[X, 'k', 'v']], [[X, 5, 'v', 1]], [[5, 'k', 'v', 1]], [[X, 'k', 'v', -1]], [[X, 'k', 'v', 1.5]],
    [[X, 'k', 'v', 2 ** 60]], [[X, 'k', 'v', '1']], 'not a list', [X, 'k', 'v', 1], { 0: [X, 'k', 'v', 1] },
  ];
  for (const updates of badUpdates) {
    await expectRefused(T, 'malformed', 1, async () => {
      const c = await openExchange(25000, { [T.peer_name]: 0 });
      c.send({ type: 2, updates });
      return c.closed();
    });
  }
  assert.equal(T.peerValue(X, 'k'), undefined, 'no part of a refused message was applied');

  // invalid peer names are not a reason to refuse the message: they are skipped and counted
  const invalid = [':9000', '127.0.0.1', 'a b:1', `${'x'.repeat(300)}:1`, '127.0.0.1:0', '127.0.0.1:70000', '[]:1', ''];
  const peersRefused = T.stats().peersRefused;
  const c = await RawConn.connect(25000);
  c.send({ type: 0, digest: Object.fromEntries([...invalid.map((n) => [n, 0]), [T.peer_name, 0]]) });
  const { msg } = await c.next();
  assert.deepEqual(msg.request_digest, {}, 'no request for invalid names');
  c.send({ type: 2, updates: invalid.map((n, i) => [n, 'k', 'v', i + 1]) });
  await c.closed();
  await waitFor(() => T.stats().peersRefused >= peersRefused + 2 * invalid.length,
    { message: `peersRefused to grow by ${2 * invalid.length}` });
  for (const n of invalid) assert.ok(!T.allPeers().includes(n), `${JSON.stringify(n)} not a peer`);
  await healthy(T, F, 'after wrong shapes');
});

test('lengths declaring ~4 GiB with a few bytes are refused at once', async () => {
  const rssBefore = process.memoryUsage().rss;
  const FF = [0xff, 0xff, 0xff, 0xff];
  const cases = {
    str32: cat([0xdb], FF, 'abc'),
    bin32: cat([0xc6], FF, [1, 2, 3]),
    ext32: cat([0xc9], FF, [1, 2, 3]),
    array32: cat([0xdd], FF, [1, 2, 3]),
    map32: cat([0xdf], FF, [0xa1, 0x61]),
    'digest map32': cat(REQUEST_PREFIX, [0xdf], FF),
    'peer name str32': cat(REQUEST_PREFIX, [0x81, 0xdb], FF, 'abc'),
    'str16 over the limit': cat(REQUEST_PREFIX, [0x81, 0xda, 0xff, 0xff], 'a'),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    const ms = await expectRefused(T, 'tooLarge', 1, () => sendAndWaitClose(25000, bytes));
    assert.ok(ms < AT_ONCE, `${what}: refused at once, not waited for (${ms} ms)`);
  }
  const grew = process.memoryUsage().rss - rssBefore;
  assert.ok(grew < 50 * MiB, `no big allocation (RSS +${mb(grew)})`);
  await healthy(T, F, 'after 4 GiB declarations');
});

test('deep nesting is refused', async () => {
  const cases = {
    '100k nested arrays': Buffer.alloc(100000, 0x91),
    '50k nested maps': Buffer.concat(Array.from({ length: 50000 }, () => Buffer.from([0x81, 0xa1, 0x61]))),
    'deep digest': cat(REQUEST_PREFIX, Buffer.alloc(1000, 0x91)),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    const ms = await expectRefused(T, 'tooDeep', 1, () => sendAndWaitClose(25000, bytes));
    assert.ok(ms < AT_ONCE, `${what}: refused at once (${ms} ms)`);
  }
  // a value nested beyond maxValueDepth (32) inside an update; a shallower one is fine
  const nest = (d) => (d === 0 ? 'leaf' : [nest(d - 1)]);
  const X = name(25401);
  await expectRefused(T, 'tooDeep', 1, async () => {
    const c = await openExchange(25000, { [X]: 0 });
    c.sendRaw(encode({ type: 2, updates: [[X, 'deep', nest(100), 1]] }, { maxDepth: 1000 }));
    return c.closed();
  });
  assert.equal(T.peerValue(X, 'deep'), undefined);
  const c = await openExchange(25000, { [X]: 0 });
  c.send({ type: 2, updates: [[X, 'shallow', nest(16), 1]] });
  await c.closed();
  await waitFor(() => T.peerValue(X, 'shallow') !== undefined, { message: 'a 16-deep value to be accepted' });
  assert.deepEqual(T.peerValue(X, 'shallow'), nest(16));
  await healthy(T, F, 'after deep nesting');
});

test('a message over maxMessageBytes (64 KiB) is refused', async () => {
  // many small items: no single header gives it away
  const digest = {};
  for (let i = 0; i < 4000; i++) digest[`10.${(i >> 8) & 255}.${i & 255}.1:${1000 + i}`] = i;
  const big = Buffer.from(encode({ type: 0, digest }));
  assert.ok(big.length > LIMITS.maxMessageBytes);
  await expectRefused(T, 'tooLarge', 1, () => sendAndWaitClose(25000, big));
  // one string that declares more than the limit
  await expectRefused(T, 'tooLarge', 1, () => sendAndWaitClose(25000,
    encode({ type: 0, digest: {}, pad: 'x'.repeat(70 * KiB) })));
  // the same in a SECOND_RESPONSE
  await expectRefused(T, 'tooLarge', 1, async () => {
    const c = await openExchange(25000, { [T.peer_name]: 0 });
    c.sendRaw(encode({ type: 2, updates: [[name(25402), 'k', 'y'.repeat(100 * KiB), 1]] }));
    return c.closed();
  });
  assert.ok(!T.allPeers().some((p) => p.startsWith('10.')), 'nothing of the oversized digest registered');
  await healthy(T, F, 'after oversized messages');
});

test('an idle connection is closed after readTimeoutMs; so is one stalled mid-exchange', async () => {
  let ms = await expectRefused(T, 'timeout', 1, async () => {
    const c = await RawConn.connect(25000);
    return c.closed(READ_TIMEOUT + 3000);
  });
  assert.ok(ms >= READ_TIMEOUT - 50 && ms < READ_TIMEOUT + 1000, `idle closed after ${ms} ms`);

  ms = await expectRefused(T, 'timeout', 1, async () => {
    const c = await openExchange(25000, { [T.peer_name]: 0 });
    return c.closed(READ_TIMEOUT + 3000);
  });
  assert.ok(ms < READ_TIMEOUT + 1000, `stalled exchange closed after ${ms} ms`);

  // half a message, then the peer goes away: counted as closed
  await expectRefused(T, 'closed', 1, async () => {
    const c = await RawConn.connect(25000);
    c.sendRaw(encode({ type: 0, digest: { [T.peer_name]: 0 } }).subarray(0, 10));
    await sleep(50);
    c.destroy();
  });
  await healthy(T, F, 'after idle connections');
});

test('a slowloris (1 byte every 100 ms) is closed by the per-message deadline', async () => {
  const bytes = Buffer.from(encode({ type: 0, digest: { [T.peer_name]: 0, [name(25403)]: 0, [name(25404)]: 0 } }));
  let sent = 0;
  const ms = await expectRefused(T, 'timeout', 1, async () => {
    const c = await RawConn.connect(25000);
    const timer = setInterval(() => {
      if (sent < bytes.length && !c.isClosed) c.sendRaw(bytes.subarray(sent, ++sent));
    }, 100);
    try {
      return await c.closed(READ_TIMEOUT + 3000);
    } finally {
      clearInterval(timer);
    }
  });
  assert.ok(ms < READ_TIMEOUT + 1000, `closed after ${ms} ms`);
  assert.ok(sent < bytes.length / 2, `closed long before the ${bytes.length}-byte message was complete (${sent} sent)`);
  assert.ok(!T.allPeers().includes(name(25403)));
  await healthy(T, F, 'after slowloris');
});

test('a flood of 500 connections: extra ones closed at once, gossip goes on', async () => {
  // A node of its own, whose read timeout is long enough that only the
  // connection limit can close the flood's connections before it, however
  // slowly a loaded machine opens 500 of them.
  const readTimeoutMs = 10000;
  const X = await startGossiper(25040, { ...LIMITS, readTimeoutMs });
  const XF = await startGossiper(25041, { seeds: [name(25040)] });
  all.push(X, XF);
  await healthy(X, XF, 'before the flood');
  const before = refused(X, 'connectionLimit');
  const timedOutBefore = refused(X, 'timeout');
  const open = new Set();
  let opened = 0;
  let flooding = true;
  // the flood comes from other loopback addresses so it does not eat the
  // ephemeral ports the real peers use
  const connectOne = () => new Promise((resolve) => {
    const s = net.createConnection({ port: 25040, host: HOST, localAddress: `127.0.0.${2 + (opened++ % 8)}` });
    s.on('error', () => {});
    s.on('connect', () => { open.add(s); resolve(); });
    s.on('close', () => { open.delete(s); resolve(); });
  });
  const fill = () => Promise.all(Array.from({ length: Math.max(0, 500 - open.size) }, connectOne));
  let keepUp = null;
  try {
    const t0 = Date.now();
    await fill();
    const window = readTimeoutMs - (Date.now() - t0) - 1000;
    assert.ok(window > 2000, `500 connections opened well within the read timeout (${Date.now() - t0} ms)`);
    const extra = 500 - LIMITS.maxConnections;
    await waitFor(() => refused(X, 'connectionLimit') - before >= extra - 8, {
      timeout: window,
      message: `connectionLimit to count the extra connections (${refused(X, 'connectionLimit') - before} of ${extra}; ${X.stats().connectionsAccepted} accepted, ${open.size} open)`,
    });
    await waitFor(() => open.size <= LIMITS.maxConnections + 8,
      { timeout: window, message: `the extra connections to close before the read timeout (${open.size} open)` });
    assert.ok(refused(X, 'timeout') - timedOutBefore <= 8, 'none of them waited for the read timeout');

    // keep the flood up while checking that real gossip still converges
    keepUp = (async () => {
      while (flooding) {
        await fill();
        await sleep(250);
      }
    })();
    const n = ++probe;
    XF.setLocalState('probe', n);
    X.setLocalState('probe', n);
    await waitFor(() => X.peerValue(XF.peer_name, 'probe') === n && XF.peerValue(X.peer_name, 'probe') === n,
      { timeout: 10000, message: 'X and its peer to converge during the flood' });
  } finally {
    // also when an assertion failed: a flood left open would starve the next tests
    flooding = false;
    await keepUp;
    for (const s of open) s.destroy();
  }
  console.log(`flood: ${opened} connections opened, connectionLimit +${refused(X, 'connectionLimit') - before}`);
  // the flood's connections still being served close as X reads their EOF
  await waitFor(() => tryExchange(25040, X.peer_name), { timeout: 3000, message: 'a new connection to be served after the flood' });
  await healthy(X, XF, 'after the flood');
  await Promise.all([X.stop(), XF.stop()]);
});

test('unknown peers in updates are learnt (valid names) or skipped (invalid)', async () => {
  const U = name(25405);
  const c = await openExchange(25000, { [T.peer_name]: 0 });
  const peersRefused = T.stats().peersRefused;
  c.send({ type: 2, updates: [[U, 'k', 'from nowhere', 1], [':9000', 'k', 'v', 1], [U, 'k2', 2, 2]] });
  await c.closed();
  await waitFor(() => T.peerValue(U, 'k2') === 2, { message: 'the unknown peer to be learnt' });
  assert.equal(T.peerValue(U, 'k'), 'from nowhere');
  assert.ok(T.recorded.new_peer.includes(U));
  assert.ok(T.stats().peersRefused >= peersRefused + 1);
  assert.ok(!T.allPeers().includes(':9000'));
  await healthy(T, F, 'after unknown peers');
});

test('values over maxValueBytes, keys over maxKeysPerPeer, state over maxPeerStateBytes', async () => {
  const stat = () => T.stats().updatesRefused;
  const A = name(25406);
  const B = name(25407);
  const C = name(25408);

  let before = stat();
  let c = await openExchange(25000, { [A]: 0 });
  c.send({ type: 2, updates: [[A, 'big', 'x'.repeat(2 * KiB), 1], [A, 'small', 'ok', 2], [A, 'k'.repeat(2000), 1, 3]] });
  await c.closed();
  await waitFor(() => T.peerValue(A, 'small') === 'ok', { message: 'the small value' });
  assert.equal(T.peerValue(A, 'big'), undefined, 'value over maxValueBytes dropped');
  assert.equal(T.peerKeys(A).length, 1, 'only the small key kept');
  assert.equal(stat(), before + 2, 'value and key refusals counted');

  before = stat();
  c = await openExchange(25000, { [B]: 0 });
  c.send({ type: 2, updates: Array.from({ length: 40 }, (_, i) => [B, `key${i}`, i, i + 1]) });
  await c.closed();
  await waitFor(() => stat() >= before + 40 - LIMITS.maxKeysPerPeer, { message: 'keys beyond maxKeysPerPeer refused' });
  // stats() is read from the native side at once; the mirror follows with the next event batch
  await waitFor(() => T.peerKeys(B).length === LIMITS.maxKeysPerPeer, { message: () => `${LIMITS.maxKeysPerPeer} keys of B, got ${T.peerKeys(B).length}` });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(T.peerKeys(B).length, LIMITS.maxKeysPerPeer);
  assert.equal(T.peerValue(B, 'key39'), undefined);

  before = stat();
  c = await openExchange(25000, { [C]: 0 });
  c.send({ type: 2, updates: Array.from({ length: 12 }, (_, i) => [C, `v${i}`, 'z'.repeat(900), i + 1]) });
  await c.closed();
  await waitFor(() => stat() > before, { message: 'state beyond maxPeerStateBytes refused' });
  const held = T.peerKeys(C).reduce((s, k) => s + k.length + 900, 0);
  assert.ok(held <= LIMITS.maxPeerStateBytes, `state held ${held} bytes`);
  assert.ok(T.peerKeys(C).length < 12);
  await healthy(T, F, 'after state limits');
});

test('messages out of order are refused as unexpected', async () => {
  // FIRST_RESPONSE or SECOND_RESPONSE to a responder
  for (const m of [{ type: 1, request_digest: {}, updates: [] }, { type: 2, updates: [] }]) {
    const ms = await expectRefused(T, 'unexpected', 1, () => sendAndWaitClose(25000, encode(m)));
    assert.ok(ms < AT_ONCE);
  }
  // a second REQUEST or a FIRST_RESPONSE where the SECOND_RESPONSE belongs
  for (const m of [{ type: 0, digest: {} }, { type: 1, request_digest: {}, updates: [] }]) {
    await expectRefused(T, 'unexpected', 1, async () => {
      const c = await openExchange(25000, { [T.peer_name]: 0 });
      c.send(m);
      return c.closed();
    });
  }
  await healthy(T, F, 'after out-of-order messages');
});

test('a digest naming 100 000 peers is capped by maxPeers, memory stays bounded', { timeout: 40000 }, async () => {
  const P = await startGossiper(25002, { maxPeers: 1000, deadPeerRemovalMs: 2000 });
  const FP = await startGossiper(25003, { seeds: [name(25002)], maxPeers: 5000, deadPeerRemovalMs: 2000 });
  all.push(P, FP);
  await healthy(P, FP, 'peer cap: at start');
  const rssBefore = process.memoryUsage().rss;
  const fake = (i, salt) => `127.${1 + salt * 2 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:7`;
  for (const salt of [0, 1]) {
    const digest = { [P.peer_name]: 0 };
    for (let i = 0; i < 100000; i++) digest[fake(i, salt)] = i;
    const bytes = Buffer.from(encode({ type: 0, digest }));
    assert.ok(bytes.length < 4 * MiB && bytes.length > MiB, `${bytes.length} bytes`);
    const refusedBefore = P.stats().peersRefused;
    const c = await RawConn.connect(25002);
    c.sendRaw(bytes);
    const { msg } = await c.next(10000);
    assert.equal(msg.type, 1);
    assert.ok(Object.keys(msg.request_digest).length < 1000, 'requests only for the peers it took');
    c.send({ type: 2, updates: [] });
    await c.closed(5000);
    const s = P.stats();
    assert.ok(s.peers.length <= 1000, `${s.peers.length} peers tracked`);
    assert.ok(P.allPeers().length <= 1000);
    assert.ok(s.peersRefused >= refusedBefore + 99000, `peersRefused +${s.peersRefused - refusedBefore}`);
  }
  const grew = process.memoryUsage().rss - rssBefore;
  console.log(`100k-peer digests x2: RSS +${mb(grew)}`);
  assert.ok(grew < 100 * MiB, `RSS grew by ${mb(grew)}`);
  await healthy(P, FP, 'peer cap: after');
  // the fakes never beat: they are failed, then forgotten
  await waitFor(() => P.allPeers().length <= 10, { timeout: 15000, interval: 200, message: `fake peers to be removed (${P.allPeers().length})` });
});

test('a hostile responder: the initiator refuses and counts, and goes on', { timeout: 40000 }, async () => {
  const server = await RawServer.listen(25005);
  try {
    const I = await startGossiper(25004, { ...LIMITS, seeds: [name(25005)] });
    all.push(I);
    const R = name(25005);
    const FF = [0xff, 0xff, 0xff, 0xff];
    const replies = [
      ['malformed', () => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')],
      ['malformed', () => encode({ type: 1, request_digest: { [R]: 'x' }, updates: [] })],
      ['malformed', () => Buffer.from([0xc1])],
      ['unexpected', () => encode({ type: 2, updates: [] })],
      ['unexpected', () => encode({ type: 0, digest: {} })],
      ['tooLarge', () => cat([0xdb], FF, 'abc')],
      ['tooDeep', () => Buffer.alloc(10000, 0x91)],
      ['timeout', () => null],
    ];
    // the next exchange I opens: connections left waiting in the backlog
    // meanwhile have been given up by I (its read timeout), skip them
    const fresh = async () => {
      for (;;) {
        const c = await server.accept(10000);
        if (c.isClosed || c.ended || Date.now() - c.openedAt > 100) {
          c.destroy();
          continue;
        }
        const req = await c.next(2000).catch(() => null);
        if (!req) continue;
        assert.equal(req.msg.type, 0, 'a REQUEST');
        return c;
      }
    };
    for (const [kind, reply] of replies) {
      await expectRefused(I, kind, 1, async () => {
        const c = await fresh();
        const bytes = reply();
        if (bytes) c.sendRaw(bytes);
        await c.closed(READ_TIMEOUT + 3000);
      });
    }
    // a FIRST_RESPONSE with updates about unknown (valid and invalid) peers and
    // requests for peers it does not know: learnt, skipped, ignored
    const U = name(25407);
    {
      const c = await fresh();
      c.send({
        type: 1,
        request_digest: { [name(25408)]: 0, 'bad name': 0, [I.peer_name]: 0 },
        updates: [[U, 'k', 'v', 1], [':1', 'k', 'v', 1], [R, '__heartbeat__', 1, 1]],
      });
      const { msg } = await c.next(2000);
      assert.equal(msg.type, 2);
      assert.ok(msg.updates.every((u) => u[0] === I.peer_name), 'only what it has: its own state');
      await c.closed();
    }
    await waitFor(() => I.peerValue(U, 'k') === 'v', { message: 'the unknown peer to be learnt' });
    assert.ok(!I.allPeers().includes(':1') && !I.allPeers().includes('bad name') && !I.allPeers().includes(name(25408)));
    assert.ok(I.stats().exchangesFailed >= replies.length);
    // a real peer (started only now: it would learn of the raw server from I and
    // open exchanges of its own with it)
    const IF = await startGossiper(25006, { seeds: [name(25004)] });
    all.push(IF);
    await healthy(I, IF, 'after a hostile responder');
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------- forged versions and generations

const MAX_VERSION = 2 ** 53 - 1;

test('a REQUEST claiming our own version near 2^53 does not cut the node off', async () => {
  const V = await startGossiper(25010);
  const VF = await startGossiper(25011, { seeds: [name(25010)] });
  all.push(V, VF);
  await healthy(V, VF, 'version claim: at start');
  const c = await RawConn.connect(25010);
  c.send({ type: 0, digest: { [V.peer_name]: MAX_VERSION } });
  await c.next();
  c.send({ type: 2, updates: [] });
  await c.closed();
  V.setLocalState('after', 1);
  const malformed = refused(VF, 'malformed');
  await waitFor(() => VF.peerValue(V.peer_name, 'after') === 1,
    { timeout: 5000, message: `VF to hear V's write (VF refused ${refused(VF, 'malformed') - malformed} messages of V as malformed)` });
  const me = V.stats().peers.find((p) => p.name === V.peer_name);
  assert.ok(me.maxVersion <= MAX_VERSION, `V's version ${me.maxVersion} stays a valid version`);
});

test('a forged generation in `gens` does not wipe a third peer cluster-wide', async () => {
  const A = await startGossiper(25020);
  const B = await startGossiper(25021, { seeds: [name(25020)] });
  const C = await startGossiper(25022, { seeds: [name(25020)] });
  all.push(A, B, C);
  B.setLocalState('b', 1);
  await waitFor(() => A.peerValue(B.peer_name, 'b') === 1 && C.peerValue(B.peer_name, 'b') === 1, { message: 'b to spread' });
  const c = await RawConn.connect(25020);
  c.send({ type: 0, digest: { [B.peer_name]: 0 }, gossiper: 1, gens: [MAX_VERSION] });
  await c.next();
  c.send({ type: 2, updates: [], gossiper: 1 });
  await c.closed();
  B.setLocalState('b', 2);
  await waitFor(() => A.peerValue(B.peer_name, 'b') === 2 && C.peerValue(B.peer_name, 'b') === 2,
    { timeout: 5000, message: 'B\'s new value to reach A and C' });
  assert.equal(A.recorded.delete.filter(([p]) => p === B.peer_name).length, 0, 'no keys of B dropped');
});
