'use strict';
// Apps written for node-gossip run unchanged: what they did there works
// here, with default options.
// - Big values: node-gossip has no size limit, so apps keep config blobs of
//   hundreds of kilobytes in it. A 1 MiB string and a 512 KiB Buffer reach
//   every gossiper and an original node-gossip peer, in plaintext and sealed.
// - stop() then start() in one process: the node's own silence while it was
//   stopped counts against none of its peers.
// - Idle connections: a client holding hundreds of connections open and
//   silent does not lock real peers out.
// Ports 30000-30999.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll, sleep } = require('./support/util');
const { loadOriginal, originalSelfAddress } = require('./support/original');

const ports = new PortRange(30000, 30999);

const MiB = 1024 * 1024;

/** Gossipers with default options but loopback and `rounds` ms rounds, seeded with the first. */
async function cluster(t, n, options = {}) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const seeds = i === 0 ? [] : [nodes[0].peer_name];
    const g = new Gossiper({ port: await ports.take(), address: '127.0.0.1', seeds, ...options });
    nodes.push(g);
    await g.start();
  }
  t.after(() => stopAll(nodes));
  await waitFor(() => nodes.every((g) => g.livePeers().length === n), 20000, { message: `${n} nodes to know each other` });
  return nodes;
}

function bigValues() {
  return {
    string: 'x'.repeat(MiB), // encodes to 1 MiB + 5 bytes
    buffer: crypto.randomBytes(512 * 1024),
  };
}

async function bigValuesReachEveryone(t, options) {
  const nodes = await cluster(t, 3, options);
  const { string, buffer } = bigValues();
  const [a] = nodes;
  a.setLocalState('blob', string);
  a.setLocalState('bytes', buffer);
  a.setLocalState('after', 'small'); // written last: it must not wait behind the big ones for long
  for (const g of nodes.slice(1)) {
    await waitFor(() => g.peerValue(a.peer_name, 'after') === 'small', 15000, { message: 'the write after the big ones' });
    assert.equal(g.peerValue(a.peer_name, 'blob'), string, 'the 1 MiB string arrived whole');
    assert.ok(buffer.equals(g.peerValue(a.peer_name, 'bytes')), 'the 512 KiB Buffer arrived whole');
  }
  return nodes;
}

test('a 1 MiB string and a 512 KiB Buffer reach every gossiper with default options', { timeout: 60000 }, async (t) => {
  const nodes = await bigValuesReachEveryone(t, {});
  const refused = nodes.map((g) => g.stats().updatesRefused);
  assert.deepEqual(refused, [0, 0, 0], 'no peer refused them');
});

test('...and sealed, with keys set', { timeout: 60000 }, async (t) => {
  const key = crypto.randomBytes(32);
  await bigValuesReachEveryone(t, { keys: [key], clusterName: 'big' });
});

test('...and reach an original node-gossip peer', { timeout: 60000 }, async (t) => {
  const host = await originalSelfAddress();
  const Original = loadOriginal();
  const oport = await ports.take();
  const o = new Original(oport, []);
  const errors = [];
  o.on('error', (e) => errors.push(e));
  await new Promise((resolve, reject) => {
    o.start(resolve);
    o.server.on('error', reject);
  });
  t.after(() => o.stop());
  // the original beats once a second: tell the gossiper not to take that for a failure
  const g = new Gossiper({ port: await ports.take(), address: host, seeds: [`${host}:${oport}`] });
  await g.start();
  t.after(() => stopAll(g));
  const { string, buffer } = bigValues();
  g.setLocalState('blob', string);
  g.setLocalState('bytes', buffer);
  const value = (k) => (o.peers[g.peer_name] ? o.peerValue(g.peer_name, k) : undefined);
  await waitFor(() => value('blob') !== undefined && value('bytes') !== undefined, 20000, {
    message: 'the big values at the original',
  });
  assert.equal(value('blob'), string);
  assert.ok(buffer.equals(Buffer.from(value('bytes'))), 'the Buffer arrived whole at the original');
  // and the other way: the original's own big write reaches the gossiper
  o.setLocalState('blob', string);
  await waitFor(() => g.peerValue(o.peer_name, 'blob') === string, 20000, { message: "the original's 1 MiB write" });
  assert.deepEqual(errors, []);
});

test('setLocalState accepts values up to maxValueBytes and refuses larger ones with a code', async () => {
  const g = new Gossiper({ port: 0 });
  g.setLocalState('k', 'x'.repeat(MiB)); // the default takes a mebibyte and its encoding
  assert.throws(() => g.setLocalState('k', 'x'.repeat(3 * MiB)), {
    name: 'RangeError',
    code: 'ERR_GOSSIPER_VALUE_TOO_LARGE',
  });
  assert.equal(g.getLocalState('k').length, MiB, 'the refused write changed nothing');
  // a raised maxValueBytes needs a message that can carry it, not a larger batching target
  const big = new Gossiper({ port: 0, maxValueBytes: 8 * MiB, maxMessageBytes: 9 * MiB });
  assert.equal(big.options.maxOutgoingMessageBytes, 64 * 1024);
  assert.throws(() => new Gossiper({ port: 0, maxValueBytes: 8 * MiB }), {
    name: 'RangeError',
    message: /maxMessageBytes/,
  });
});


test('stop() then start() 30 s later: the restarted node reports no peer failed', { timeout: 120000 }, async (t) => {
  // rounds of 250 ms: a process of 20 gossipers on a loaded machine still
  // runs them on time, and the stop lasts 120 rounds
  const nodes = await cluster(t, 20, { gossipIntervalMs: 250 });
  const x = nodes[7];
  const failedOnX = [];
  const aliveOnX = [];
  let phase = 'running';
  x.on('peer_failed', (p) => failedOnX.push(`${p} (${phase})`));
  x.on('peer_alive', (p) => aliveOnX.push(`${p} (${phase})`));
  const others = nodes.filter((g) => g !== x);
  const failed = new Set();
  const alive = new Set();
  for (const g of others) {
    g.on('peer_failed', (p) => p === x.peer_name && failed.add(g));
    g.on('peer_alive', (p) => p === x.peer_name && failed.has(g) && alive.add(g));
  }
  phase = 'stopping';
  const stoppedAt = Date.now();
  await x.stop();
  phase = 'stopped';
  await waitFor(() => failed.size === others.length, 20000, { message: () => `the others to report it failed (${failed.size})` });
  await sleep(30000 - (Date.now() - stoppedAt)); // the stop lasts 30 s in all
  phase = 'starting';
  await x.start();
  phase = 'started';
  await waitFor(() => alive.size === others.length, 20000, { message: () => `the others to report it alive (${alive.size})` });
  // a few seconds of normal gossip after the start: beyond the detection time
  await sleep(5000);
  assert.deepEqual(failedOnX, [], 'the restarted node blamed no peer for its own silence');
  assert.deepEqual(aliveOnX, []);
  assert.equal(x.livePeers().length, 20);
});

test('...but a peer that died while the node was stopped is still reported', { timeout: 60000 }, async (t) => {
  const nodes = await cluster(t, 3, { gossipIntervalMs: 100 });
  const [a, b, c] = nodes;
  await a.stop();
  await c.stop();
  await sleep(3000);
  const failed = [];
  a.on('peer_failed', (p) => failed.push(p));
  const started = Date.now();
  await a.start();
  await waitFor(() => failed.includes(c.peer_name), 10000, { message: 'the dead peer to be reported' });
  const took = Date.now() - started;
  // not from the node's own silence: a conviction it hears from b is a
  // suspicion here first, of at least two rounds
  assert.ok(took >= 200, `reported after the suspicion time, not at once (${took} ms)`);
  assert.deepEqual(failed, [c.peer_name], 'only the dead peer');
  assert.ok(a.livePeers().includes(b.peer_name));
});

test('a SIGKILLed member started again with the same keys: no peer deletes them', { timeout: 90000 }, async (t) => {
  const path = require('node:path');
  const { JsonLinesChild } = require('./support/util');
  const NODE = path.join(__dirname, 'support', 'cluster-node.js');
  const options = { gossipIntervalMs: 100 };
  const ps = [];
  for (let i = 0; i < 4; i++) ps.push(await ports.take());
  const seeds = [`127.0.0.1:${ps[0]}`];
  const spawn = (i, values) => new JsonLinesChild(NODE, [JSON.stringify({ port: ps[i], seeds, options, values })]);
  const members = ps.map((_, i) => spawn(i, i === 3 ? { role: 'web', load: 1, gone: 'old' } : {}));
  t.after(() => Promise.all(members.map((m) => m.kill())));
  for (const m of members) await m.waitLine((l) => l.ev === 'started', 10000);
  const x = `127.0.0.1:${ps[3]}`;
  members[3].send({ cmd: 'set', key: 'pid', value: members[3].pid });
  const others = members.slice(0, 3);
  for (const m of others) await m.waitLine((l) => l.ev === 'update' && l.peer === x && l.key === 'pid', 10000);

  members[3].kill('SIGKILL');
  await members[3].exitPromise;
  for (const m of others) await m.waitLine((l) => l.ev === 'peer_failed' && l.peer === x, 10000);
  const restartedAt = Date.now();
  // the new process sets role and load before start(), and pid a moment after
  members[3] = spawn(3, { role: 'web', load: 2 });
  await members[3].waitLine((l) => l.ev === 'started', 10000);
  members[3].send({ cmd: 'set', key: 'pid', value: members[3].pid });
  for (const m of others) await m.waitLine((l) => l.ev === 'update' && l.peer === x && l.key === 'pid' && l.at >= restartedAt, 10000);
  // past the grace (5 rounds): only the key the new process never set goes
  await sleep(1500);
  for (const m of others) {
    const since = m.lines.filter((l) => l.at >= restartedAt && l.peer === x);
    const deletes = since.filter((l) => l.ev === 'delete').map((l) => l.key);
    assert.deepEqual(deletes, ['gone'], `${m.pid}: deletes ${JSON.stringify(deletes)}`);
    const alive = since.findIndex((l) => l.ev === 'peer_alive');
    const firstUpdate = since.findIndex((l) => l.ev === 'update');
    assert.ok(alive >= 0 && alive < firstUpdate, `peer_alive before the new life's updates: ${JSON.stringify(since.map((l) => l.ev))}`);
  }
});

test('500 idle connections held open do not lock a real peer out', { timeout: 60000 }, async (t) => {
  const { RawConn } = require('./support/raw-peer');
  const port = await ports.take();
  const g = new Gossiper({ port, address: '127.0.0.1' }); // maxConnections 256, readTimeoutMs 5000
  await g.start();
  t.after(() => stopAll(g));
  const open = new Set();
  let opened = 0;
  // from other loopback addresses, so the flood does not eat the ephemeral ports of the real exchange
  const connectOne = () => new Promise((resolve) => {
    const s = net.createConnection({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (opened++ % 8)}` });
    s.on('error', () => {});
    s.on('connect', () => { open.add(s); resolve(); });
    s.on('close', () => { open.delete(s); resolve(); });
  });
  const fill = () => Promise.all(Array.from({ length: Math.max(0, 500 - open.size) }, connectOne));
  let flooding = true;
  const keepUp = (async () => {
    while (flooding) {
      await fill();
      await sleep(100);
    }
  })();
  t.after(async () => {
    flooding = false;
    await keepUp;
    for (const s of open) s.destroy();
  });
  await fill();
  await sleep(300); // the flood is in place, well within the read timeout
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    const c = await RawConn.connect(port);
    c.send({ type: 0, digest: { [`127.0.0.1:${29990 + i}`]: 0 } });
    const { msg } = await c.next(1000);
    assert.equal(msg.type, 1, 'a FIRST_RESPONSE');
    c.send({ type: 2, updates: [] });
    await c.closed(1000);
    times.push(Date.now() - t0);
  }
  assert.ok(Math.max(...times) < 1000, `answered in ${times.join(', ')} ms`);
  assert.ok(g.stats().refused.connectionLimit >= 244, 'idle connections were evicted and counted');
  t.diagnostic(`exchanges answered in ${times.join(', ')} ms with ${open.size} idle connections open`);
});

test('stats(): exchangesCompleted counts only exchanges this node started; the ones it answered are exchangesServed', { timeout: 60000 }, async (t) => {
  // exchanges every round: the heartbeat protocol (probes would leave a
  // quiet cluster's exchanges to the join)
  const nodes = await cluster(t, 3, { gossipIntervalMs: 100, probes: false });
  await sleep(2000);
  for (const g of nodes) {
    const s = g.stats();
    assert.ok(s.exchangesCompleted <= s.exchangesStarted, `completed ${s.exchangesCompleted} of ${s.exchangesStarted} started`);
    assert.ok(s.exchangesCompleted > 0 && s.exchangesServed > 0, JSON.stringify(s));
  }
  const served = nodes.reduce((n, g) => n + g.stats().exchangesServed, 0);
  const completed = nodes.reduce((n, g) => n + g.stats().exchangesCompleted, 0);
  // every completed exchange was served by another node of these three (a few may be in flight)
  assert.ok(Math.abs(served - completed) <= 6, `served ${served}, completed ${completed}`);
});
