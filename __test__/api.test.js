'use strict';
// The public API of gossiper against real sockets: every method and event of
// node-gossip's API (see /work/shared/PROTOCOL.md) plus gossiper's additions,
// with two or three gossipers in this process on 127.0.0.1, and a few child
// processes for process lifetime. Ports: 22000-22499.
//
//   node --test __test__/api.test.js

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('events');
const net = require('net');
const os = require('os');
const dns = require('dns');
const path = require('path');

const { Gossiper } = require('..');
const {
  waitFor, once, canConnect, PortRange, stopAll, runNode, JsonLinesChild,
} = require('./support/util');

const ROOT = path.join(__dirname, '..');
const ports = new PortRange(22000, 22499);
const FAST = { gossipIntervalMs: 50 };
const HB = '__heartbeat__';
const TEST = { timeout: 60000 };

/** A gossiper with short rounds, stopped when the test ends. */
function make(t, opts) {
  const g = new Gossiper({ ...FAST, ...opts });
  t.after(() => stopAll(g));
  return g;
}

/** `n` started gossipers on 127.0.0.1, each seeded with the first. */
async function cluster(t, n, opts = {}) {
  const first = await ports.take();
  const gs = [make(t, { port: first, address: '127.0.0.1', ...opts })];
  for (let i = 1; i < n; i++) {
    gs.push(make(t, { port: await ports.take(), address: '127.0.0.1', seeds: [`127.0.0.1:${first}`], ...opts }));
  }
  for (const g of gs) await g.start();
  await waitFor(() => gs.every((g) => g.livePeers().length === n), 10000, { message: `${n} peers know each other` });
  return gs;
}

/** Records every event of `g` as [event, ...args] (heartbeats left out). */
function recorder(g) {
  const log = [];
  for (const ev of ['new_peer', 'peer_alive', 'peer_failed', 'delete', 'peer_removed']) {
    g.on(ev, (...args) => log.push([ev, ...args]));
  }
  g.on('update', (peer, key, value) => {
    if (key !== HB) log.push(['update', peer, key, value]);
  });
  return log;
}

describe('module and constructor', () => {
  test('exports the Gossiper class, an EventEmitter', () => {
    const mod = require('..');
    assert.equal(typeof mod.Gossiper, 'function');
    assert.equal(mod.Gossiper.HEARTBEAT_KEY, HB);
    const g = new Gossiper(0, []);
    assert.ok(g instanceof EventEmitter);
    assert.equal(typeof g.on, 'function');
    assert.equal(g.peer_name, undefined, 'peer_name is set once started');
    assert.deepEqual(g.allPeers(), []);
    assert.equal(g.getLocalState('nothing'), undefined);
  });

  test('both constructor forms are equivalent', () => {
    const a = new Gossiper(22001, ['127.0.0.1:9000', 'example.org:9001'], '127.0.0.1');
    const b = new Gossiper({ port: 22001, seeds: ['127.0.0.1:9000', 'example.org:9001'], address: '127.0.0.1' });
    assert.equal(a.port, b.port);
    assert.deepEqual(a.seeds, b.seeds);
    assert.equal(a.address, b.address);
    assert.deepEqual(a.options, b.options);
    assert.equal(a.options.gossipIntervalMs, 1000, "node-gossip's 1 s rounds by default");
    const c = new Gossiper(22002);
    assert.deepEqual(c.seeds, []);
    assert.equal(c.address, null);
  });

  test('both constructor forms gossip with each other', TEST, async (t) => {
    const pa = await ports.take();
    const pb = await ports.take();
    const a = make(t, { port: pa, address: '127.0.0.1' });
    // the positional form cannot set options: node-gossip's 1 s rounds
    const b = new Gossiper(pb, [`127.0.0.1:${pa}`], '127.0.0.1');
    t.after(() => stopAll(b));
    const bSeen = [];
    b.on('new_peer', (p) => bSeen.push(p));
    await a.start();
    await new Promise((resolve, reject) => b.start((err) => (err ? reject(err) : resolve())));
    a.setLocalState('from', 'options-form');
    b.setLocalState('from', 'positional-form');
    await waitFor(() => a.peerValue(b.peer_name, 'from') === 'positional-form'
      && b.peerValue(a.peer_name, 'from') === 'options-form', 15000, { message: 'values to cross' });
    assert.deepEqual(bSeen, [a.peer_name]);
    assert.deepEqual(a.allPeers().sort(), [a.peer_name, b.peer_name].sort());
    assert.deepEqual(b.allPeers().sort(), [a.peer_name, b.peer_name].sort());
  });

  test('bad port: out of range → RangeError, not an integer → TypeError', () => {
    assert.throws(() => new Gossiper(70000), RangeError);
    assert.throws(() => new Gossiper(-1), RangeError);
    assert.throws(() => new Gossiper({ port: 65536 }), RangeError);
    assert.throws(() => new Gossiper(1.5), TypeError);
    assert.throws(() => new Gossiper('8000'), TypeError);
    assert.throws(() => new Gossiper(), TypeError);
    assert.throws(() => new Gossiper({ port: NaN }), TypeError);
  });

  test('a missing port and odd types get precise messages with a code', () => {
    const precise = (call, message) => assert.throws(call, (e) => e instanceof TypeError
      && e.code === 'ERR_GOSSIPER_INVALID_TYPE' && message.test(e.message) && !/undefined undefined/.test(e.message), String(call));
    precise(() => new Gossiper(), /^new Gossiper\(\) needs a port: new Gossiper\(port, seeds, ipToBind\) or new Gossiper\(\{ port/);
    precise(() => new Gossiper({ seeds: [] }), /^options\.port is required/);
    precise(() => new Gossiper(10n), /got bigint 10n$/);
    precise(() => new Gossiper(Symbol('p')), /got a symbol$/);
    precise(() => new Gossiper(() => 9000), /got a function$/);
    precise(() => new Gossiper({ port: 0, fanout: 2n }), /options\.fanout must be a number, got bigint 2n$/);
  });

  test('address: an IP literal or a host name, anything else a TypeError at construction', () => {
    for (const address of ['127.0.0.1', '0.0.0.0', '::1', '[::1]', 'fe80::1%lo', 'localhost', 'localhost.', 'my_service',
      'gossip-0.gossip.default.svc.cluster.local', 'not-an-ip']) {
      assert.doesNotThrow(() => new Gossiper({ port: 0, address }), address);
    }
    assert.doesNotThrow(() => new Gossiper(0, [], 'db-1.internal'));
    for (const address of ['not an ip', '999.1.1.1', '1.2.3', '10.0.0.1:9000', 'http://host', '-host', 'host-', 'a..b',
      `${'a'.repeat(64)}.example`, 'host/8']) {
      assert.throws(() => new Gossiper({ port: 0, address }), (e) => e instanceof TypeError && e.code === 'ERR_GOSSIPER_INVALID_VALUE'
        && e.message === `options.address must be an IP address or a host name, got ${JSON.stringify(address)}`, address);
    }
    assert.throws(() => new Gossiper(0, [], '300.0.0.1'), { code: 'ERR_GOSSIPER_INVALID_VALUE', message: /^ipToBind must be/ });
    // seeds' hosts follow the same rule
    assert.throws(() => new Gossiper(0, ['999.0.0.1:9000']), { name: 'TypeError', code: 'ERR_GOSSIPER_INVALID_VALUE', message: /\bseeds\[0\]/ });
    assert.doesNotThrow(() => new Gossiper(0, ['my_service:9000', '[::1]:9000']));
  });

  test('bad seeds → TypeError naming seeds[i]', () => {
    assert.throws(() => new Gossiper(0, ['127.0.0.1:9000', 'nope']), { name: 'TypeError', message: /\bseeds\[1\]/ });
    assert.throws(() => new Gossiper({ port: 0, seeds: ['9000'] }), { name: 'TypeError', message: /options\.seeds\[0\]/ });
    assert.throws(() => new Gossiper(0, ['127.0.0.1:9000', 42]), { name: 'TypeError', message: /\bseeds\[1\]/ });
    assert.throws(() => new Gossiper(0, ['host:9000:1']), { name: 'TypeError', message: /\bseeds\[0\]/ });
    assert.throws(() => new Gossiper(0, '127.0.0.1:9000'), TypeError);
    assert.throws(() => new Gossiper(0, ['127.0.0.1:0']), { name: 'RangeError', message: /\bseeds\[0\]/ });
  });

  test('bad options: unknown → TypeError naming it, wrong type → TypeError, out of range → RangeError', () => {
    assert.throws(() => new Gossiper({ port: 0, gossipInterval: 50 }), { name: 'TypeError', message: /gossipInterval\b/ });
    assert.throws(() => new Gossiper({ port: 0, gossipIntervalMs: '50' }), { name: 'TypeError', message: /gossipIntervalMs/ });
    assert.throws(() => new Gossiper({ port: 0, fanout: 1.5 }), { name: 'TypeError', message: /fanout/ });
    assert.throws(() => new Gossiper({ port: 0, detector: 'weibull' }), { name: 'TypeError', message: /detector/ });
    assert.throws(() => new Gossiper({ port: 0, clusterName: 7 }), { name: 'TypeError', message: /clusterName/ });
    assert.throws(() => new Gossiper({ port: 0, address: 5 }), { name: 'TypeError', message: /address/ });
    assert.throws(() => new Gossiper({ port: 0, gossipIntervalMs: 5 }), { name: 'RangeError', message: /gossipIntervalMs/ });
    assert.throws(() => new Gossiper({ port: 0, fanout: 0 }), { name: 'RangeError', message: /fanout/ });
    assert.throws(() => new Gossiper({ port: 0, phiThreshold: 0.1 }), { name: 'RangeError', message: /phiThreshold/ });
    assert.throws(() => new Gossiper({ port: 0, maxValueBytes: 0 }), { name: 'RangeError', message: /maxValueBytes/ });
    assert.throws(() => new Gossiper({ port: 0 }, []), TypeError, 'options form takes one argument');
  });
});

describe('start and stop', () => {
  test('peer_name is "ip:port" of the host name\'s IPv4 address without an address', TEST, async (t) => {
    const { address: hostIp } = await dns.promises.lookup(os.hostname(), { family: 4 });
    const port = await ports.take();
    const g = new Gossiper(port, []);
    t.after(() => stopAll(g));
    await g.start();
    assert.equal(g.peer_name, `${hostIp}:${port}`);
    assert.ok(await canConnect(port, hostIp));
  });

  test('peer_name is "ip:port" when ipToBind / address is given (node-gossip said ":port")', TEST, async (t) => {
    const p1 = await ports.take();
    const p2 = await ports.take();
    const a = new Gossiper(p1, [], '127.0.0.1');
    const b = make(t, { port: p2, address: '127.0.0.1' });
    t.after(() => stopAll(a));
    await a.start();
    await b.start();
    assert.equal(a.peer_name, `127.0.0.1:${p1}`);
    assert.equal(b.peer_name, `127.0.0.1:${p2}`);
  });

  test('port 0 listens on a port chosen by the system, named in peer_name', TEST, async (t) => {
    const g = make(t, { port: 0, address: '127.0.0.1' });
    await g.start();
    const m = /^127\.0\.0\.1:(\d+)$/.exec(g.peer_name);
    assert.ok(m, `peer_name ${g.peer_name}`);
    assert.notEqual(Number(m[1]), 0);
    assert.ok(await canConnect(Number(m[1])));
    assert.deepEqual(g.allPeers(), [g.peer_name]);
  });

  test('start(cb) calls back once, listening, and returns undefined', TEST, async (t) => {
    const port = await ports.take();
    const g = make(t, { port, address: '127.0.0.1' });
    const calls = [];
    let ret;
    await new Promise((resolve) => {
      ret = g.start((...args) => {
        calls.push(args);
        canConnect(port).then((ok) => {
          calls.push(['listening', ok]);
          resolve();
        });
      });
    });
    assert.equal(ret, undefined);
    await new Promise((resolve) => setTimeout(resolve, 200)); // a second call would come by now
    assert.equal(calls.length, 2, JSON.stringify(calls));
    assert.equal(calls[0][0], undefined, 'no error');
    assert.deepEqual(calls[1], ['listening', true]);
    assert.throws(() => g.start('not a function'), TypeError);
  });

  test('start() without a callback returns a Promise resolved once listening', TEST, async (t) => {
    const port = await ports.take();
    const g = make(t, { port, address: '127.0.0.1' });
    const p = g.start();
    assert.ok(p instanceof Promise);
    assert.equal(await p, undefined);
    assert.ok(await canConnect(port));
  });

  test('port in use → EADDRINUSE through the callback and the Promise; start works once it is free', TEST, async (t) => {
    const port = await ports.take();
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    let blocked = true;
    t.after(() => blocked && new Promise((resolve) => blocker.close(resolve)));
    const viaPromise = make(t, { port, address: '127.0.0.1' });
    const viaCallback = make(t, { port, address: '127.0.0.1' });

    await assert.rejects(viaPromise.start(), (err) => {
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'EADDRINUSE');
      assert.match(err.message, new RegExp(`${port}`));
      return true;
    });
    const cbErr = await new Promise((resolve) => viaCallback.start(resolve));
    assert.ok(cbErr instanceof Error, 'callback gets an error');
    assert.equal(cbErr.code, 'EADDRINUSE');
    assert.equal(await canConnect(port), true, 'the blocker still owns the port');

    await new Promise((resolve) => blocker.close(resolve));
    blocked = false;
    await viaPromise.start();
    assert.equal(viaPromise.peer_name, `127.0.0.1:${port}`);
    assert.ok(await canConnect(port));
    await viaPromise.stop();
    await new Promise((resolve, reject) => viaCallback.start((err) => (err ? reject(err) : resolve())));
    assert.ok(await canConnect(port));
  });

  test('starting twice → ERR_GOSSIPER_RUNNING, and the first start is unaffected', TEST, async (t) => {
    const port = await ports.take();
    const g = make(t, { port, address: '127.0.0.1' });
    const first = g.start();
    await assert.rejects(g.start(), { code: 'ERR_GOSSIPER_RUNNING' }, 'while starting');
    await first;
    await assert.rejects(g.start(), { code: 'ERR_GOSSIPER_RUNNING' }, 'while started');
    const cbErr = await new Promise((resolve) => g.start(resolve));
    assert.equal(cbErr && cbErr.code, 'ERR_GOSSIPER_RUNNING');
    assert.ok(await canConnect(port));
  });

  test('stop() resolves with the listener closed; start() works again and gossip resumes', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const port = Number(a.peer_name.split(':')[1]);
    const p = a.stop();
    assert.ok(p instanceof Promise);
    await p;
    assert.equal(await canConnect(port), false, 'connecting fails after stop()');
    await a.stop(); // stopping a stopped gossiper is fine
    await a.start();
    assert.equal(a.peer_name, `127.0.0.1:${port}`);
    assert.ok(await canConnect(port));
    a.setLocalState('after-restart', true);
    await waitFor(() => b.peerValue(a.peer_name, 'after-restart') === true, 10000, { message: 'a write after restart to arrive' });
    assert.throws(() => a.stop('leave'), TypeError);
  });

  test('stats() fields are numbers that grow with gossip', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const s1 = a.stats();
    for (const f of ['rounds', 'stalledMs', 'exchangesStarted', 'catchUps', 'exchangesCompleted', 'exchangesFailed',
      'connectFailures', 'connectionsAccepted', 'messagesIn', 'messagesOut', 'bytesIn', 'bytesOut', 'updatesApplied',
      'updatesStale', 'updatesRefused', 'updatesAboutSelf', 'peersRefused', 'tombstonesCollected', 'events',
      'datagramsIn', 'datagramsOut', 'suspicions', 'refutations', 'repairs', 'pulls', 'updatesGapped', 'lags', 'cutOffs',
      'peersLive', 'peersDead']) {
      assert.equal(typeof s1[f], 'number', `stats().${f}`);
      assert.ok(Number.isFinite(s1[f]) && s1[f] >= 0, `stats().${f} = ${s1[f]}`);
    }
    for (const [k, v] of Object.entries(s1.refused)) assert.equal(typeof v, 'number', `refused.${k}`);
    assert.ok(Array.isArray(s1.peers));
    assert.equal(s1.peersLive, 2);
    const self = s1.peers.find((p) => p.name === a.peer_name);
    assert.ok(self, 'stats().peers lists the node itself');
    for (const p of s1.peers) {
      assert.equal(typeof p.phi, 'number');
      assert.ok(['probes', 'heartbeats'].includes(p.judgedBy), p.judgedBy);
      assert.equal(typeof p.keys, 'number');
      assert.ok(['alive', 'failed', 'left'].includes(p.status), p.status);
    }
    assert.ok(s1.exchangesCompleted + s1.exchangesServed > 0 && s1.messagesIn > 0, 'the join ran exchanges');
    // a quiet cluster of gossipers probes: datagrams, no exchanges
    await waitFor(() => {
      const s2 = a.stats();
      return s2.rounds > s1.rounds + 2 && s2.datagramsIn > s1.datagramsIn && s2.datagramsOut > s1.datagramsOut
        && s2.bytesIn > s1.bytesIn && s2.bytesOut > s1.bytesOut;
    }, 10000, { message: 'stats to advance' });
    const s3 = a.stats();
    b.setLocalState('grow', 1);
    await waitFor(() => a.stats().updatesApplied > s3.updatesApplied, 10000, { message: 'an update applied' });
  });
});

describe('peers and membership', () => {
  test('allPeers / livePeers include the node itself; deadPeers is empty at first', TEST, async (t) => {
    const g = make(t, { port: 0, address: '127.0.0.1' });
    await g.start();
    assert.deepEqual(g.allPeers(), [g.peer_name]);
    assert.deepEqual(g.livePeers(), [g.peer_name]);
    assert.deepEqual(g.deadPeers(), []);
    const [a, b, c] = await cluster(t, 3);
    const all = [a.peer_name, b.peer_name, c.peer_name].sort();
    for (const x of [a, b, c]) {
      assert.deepEqual(x.allPeers().sort(), all);
      assert.deepEqual(x.livePeers().sort(), all);
      assert.deepEqual(x.deadPeers(), []);
    }
    // the lists are copies
    a.allPeers().push('junk');
    assert.deepEqual(a.allPeers().sort(), all);
  });

  test('new_peer fires for seeds (on start) and for peers discovered through others', TEST, async (t) => {
    const pa = await ports.take();
    const a = make(t, { port: pa, address: '127.0.0.1' });
    const b = make(t, { port: await ports.take(), address: '127.0.0.1', seeds: [`127.0.0.1:${pa}`] });
    const c = make(t, { port: await ports.take(), address: '127.0.0.1', seeds: [`127.0.0.1:${pa}`] });
    const seen = { a: [], b: [], c: [] };
    a.on('new_peer', (p) => seen.a.push(p));
    b.on('new_peer', (p) => seen.b.push(p));
    c.on('new_peer', (p) => seen.c.push(p));
    await a.start();
    await b.start();
    assert.deepEqual(seen.b, [`127.0.0.1:${pa}`], 'the seed is announced by the time start() resolves');
    await c.start();
    await waitFor(() => seen.a.length === 2 && seen.b.length === 2 && seen.c.length === 2, 10000,
      { message: () => `everyone to see two new peers: ${JSON.stringify(seen)}` });
    assert.deepEqual(seen.a.sort(), [b.peer_name, c.peer_name].sort());
    assert.deepEqual(seen.b.sort(), [a.peer_name, c.peer_name].sort(), 'b discovered c through a');
    assert.deepEqual(seen.c.sort(), [a.peer_name, b.peer_name].sort(), 'c discovered b through a');
  });

  test('a seed given by host name is known by its "ip:port" name, once', TEST, async (t) => {
    const pa = await ports.take();
    const a = make(t, { port: pa, address: '127.0.0.1' });
    const b = make(t, { port: await ports.take(), address: '127.0.0.1', seeds: [`localhost:${pa}`] });
    const seen = [];
    b.on('new_peer', (p) => seen.push(p));
    await a.start();
    await b.start();
    a.setLocalState('k', 'v');
    await waitFor(() => b.peerValue(a.peer_name, 'k') === 'v', 10000);
    assert.deepEqual(seen, [`127.0.0.1:${pa}`]);
    assert.deepEqual(b.allPeers().sort(), [a.peer_name, b.peer_name].sort());
  });

  test('peer_failed when a peer stops, peer_alive when it restarts on the same port', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const log = recorder(b);
    const failed = once(b, 'peer_failed');
    await a.stop();
    assert.deepEqual(await failed, [a.peer_name]);
    assert.deepEqual(b.deadPeers(), [a.peer_name]);
    assert.deepEqual(b.livePeers(), [b.peer_name]);
    assert.deepEqual(b.allPeers().sort(), [a.peer_name, b.peer_name].sort());

    const alive = once(b, 'peer_alive');
    await a.start();
    assert.deepEqual(await alive, [a.peer_name]);
    assert.deepEqual(b.deadPeers(), []);
    assert.equal(b.livePeers().length, 2);
    assert.deepEqual(log.filter((e) => e[0] === 'peer_failed' || e[0] === 'peer_alive'),
      [['peer_failed', a.peer_name], ['peer_alive', a.peer_name]], 'each transition reported once');
  });

  test('a new process on the same port is alive again with its new state; old keys are deleted', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const name = a.peer_name;
    a.setLocalState('old', 'before');
    a.setLocalState('kept', 1);
    await waitFor(() => b.peerValue(name, 'old') === 'before', 10000);
    const failed = once(b, 'peer_failed');
    await a.stop();
    await failed;

    const deleted = [];
    b.on('delete', (peer, key) => deleted.push([peer, key]));
    const a2 = make(t, { port: Number(name.split(':')[1]), address: '127.0.0.1' });
    a2.setLocalState('kept', 2);
    a2.setLocalState('fresh', 'after');
    const alive = once(b, 'peer_alive');
    await a2.start();
    assert.deepEqual(await alive, [name]);
    await waitFor(() => b.peerValue(name, 'fresh') === 'after' && b.peerValue(name, 'kept') === 2
      && b.peerValue(name, 'old') === undefined, 10000, { message: () => `new state at b: ${b.peerKeys(name)}` });
    assert.ok(deleted.some(([p, k]) => p === name && k === 'old'), `delete event for 'old': ${JSON.stringify(deleted)}`);
    assert.ok(!deleted.some(([, k]) => k === 'kept'), `no delete for a key the new process set again: ${JSON.stringify(deleted)}`);
    assert.ok(!b.peerKeys(name).includes('old'));
  });

  test('a restarted peer is never reported to delete __heartbeat__', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const failed = once(b, 'peer_failed');
    await a.stop();
    await failed;
    const deleted = [];
    b.on('delete', (peer, key) => deleted.push(key));
    const a2 = make(t, { port: Number(a.peer_name.split(':')[1]), address: '127.0.0.1' });
    const alive = once(b, 'peer_alive');
    await a2.start();
    await alive;
    await waitFor(() => b.peerValue(a2.peer_name, HB) !== undefined, 10000);
    assert.deepEqual(deleted, []);
  });

  test('leave() / stop({ leave: true }): peers report peer_left (not peer_failed) within ~2 rounds', TEST, async (t) => {
    const ROUND = 250;
    const [a, b, c, d] = await cluster(t, 4, { gossipIntervalMs: ROUND });
    const failedAt = (g, who) => once(g, 'peer_failed', { filter: (p) => p === who, timeout: 20000 }).then(() => Date.now());
    const leftAt = (g, who) => once(g, 'peer_left', { filter: (p) => p === who, timeout: 20000 }).then(() => Date.now());
    const crashes = [];
    for (const g of [b, c, d]) g.on('peer_failed', (p) => crashes.push([g.peer_name, p]));

    let t0 = Date.now();
    let seen = [leftAt(b, a.peer_name), leftAt(c, a.peer_name), leftAt(d, a.peer_name)];
    await a.leave();
    const leaveMs = Math.max(...(await Promise.all(seen))) - t0;
    assert.equal(await canConnect(Number(a.peer_name.split(':')[1])), false, 'leave() also stops');
    for (const g of [b, c, d]) assert.ok(g.deadPeers().includes(a.peer_name));

    t0 = Date.now();
    seen = [leftAt(c, b.peer_name), leftAt(d, b.peer_name)];
    await b.stop({ leave: true });
    const stopLeaveMs = Math.max(...(await Promise.all(seen))) - t0;
    assert.deepEqual(crashes, [], 'a planned leave is not reported as a crash');
    for (const g of [c, d]) assert.equal(g.stats().peers.find((p) => p.name === a.peer_name).status, 'left');

    // for comparison, the failure detector alone
    t0 = Date.now();
    seen = failedAt(d, c.peer_name);
    await c.stop();
    const detectorMs = (await seen) - t0;
    t.diagnostic(`peer_left after leave(): ${leaveMs} ms, stop({leave:true}): ${stopLeaveMs} ms, plain stop(): ${detectorMs} ms (round ${ROUND} ms)`);
    assert.ok(leaveMs <= 2 * ROUND, `leave() seen failed after ${leaveMs} ms`);
    assert.ok(stopLeaveMs <= 2 * ROUND, `stop({leave:true}) seen failed after ${stopLeaveMs} ms`);
    assert.ok(detectorMs > 2 * Math.max(leaveMs, stopLeaveMs), `the detector alone took ${detectorMs} ms`);
  });

  test('deadPeerRemovalMs: a failed peer is forgotten (peer_removed) and is new again when it returns', TEST, async (t) => {
    const [a, b] = await cluster(t, 2, { deadPeerRemovalMs: 300 });
    const name = a.peer_name;
    a.setLocalState('k', 1);
    await waitFor(() => b.peerValue(name, 'k') === 1, 10000);
    const log = recorder(b);
    const removed = once(b, 'peer_removed');
    await a.stop();
    assert.deepEqual(await removed, [name]);
    assert.deepEqual(log.map((e) => e[0]), ['peer_failed', 'peer_removed']);
    assert.deepEqual(b.allPeers(), [b.peer_name]);
    assert.deepEqual(b.deadPeers(), []);
    assert.deepEqual(b.peerKeys(name), []);
    assert.equal(b.peerValue(name, 'k'), undefined);
    // it comes back (it knows b, and b no longer knows it)
    const back = once(b, 'new_peer', { filter: (p) => p === name });
    await a.start();
    await back;
    await waitFor(() => b.peerValue(name, 'k') === 1, 10000, { message: 'its state again' });
    assert.deepEqual(b.livePeers().sort(), [name, b.peer_name].sort());
  });

  test('a peer that left and starts again is reported alive', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const left = once(b, 'peer_left');
    await a.leave();
    await left;
    const alive = once(b, 'peer_alive', { timeout: 5000 });
    await a.start();
    assert.deepEqual(await alive, [a.peer_name]);
  });
});

describe('state and events', () => {
  test('update fires for remote keys, __heartbeat__ included with heartbeatRounds, but not for local writes', TEST, async (t) => {
    // node-gossip's heartbeat updates every round, as heartbeatRounds restores
    const [a, b] = await cluster(t, 2, { heartbeatRounds: true });
    const atA = [];
    const atB = [];
    a.on('update', (...args) => atA.push(args));
    b.on('update', (...args) => atB.push(args));
    a.setLocalState('color', 'red');
    await waitFor(() => atB.some(([p, k, v]) => p === a.peer_name && k === 'color' && v === 'red'), 10000,
      { message: "b's update event for a's key" });
    await waitFor(() => atB.filter(([p, k]) => p === a.peer_name && k === HB).length >= 2, 10000,
      { message: 'heartbeat updates' });
    const hb = atB.filter(([p, k]) => p === a.peer_name && k === HB).map(([, , v]) => v);
    assert.ok(hb.every((v) => typeof v === 'number'), `heartbeat values ${hb}`);
    assert.ok(hb[hb.length - 1] > hb[0], 'the heartbeat counts up');
    assert.ok(atB.every(([p]) => p === a.peer_name), 'b hears only of a');
    assert.ok(atA.every(([p]) => p === b.peer_name), `a never hears of its own writes: ${JSON.stringify(atA.filter(([p]) => p !== b.peer_name))}`);
    assert.equal(atA.filter(([, k]) => k === 'color').length, 0);
  });

  test('inside an update handler peerValue / peerKeys already show the new value', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    const checks = [];
    b.on('update', (peer, key, value) => {
      if (key === HB) return;
      checks.push([key, value, b.peerValue(peer, key), b.peerKeys(peer).includes(key)]);
    });
    a.setLocalState('n', 1);
    await waitFor(() => checks.length >= 1, 10000);
    a.setLocalState('n', 2);
    a.setLocalState('obj', { x: [1, 2] });
    await waitFor(() => checks.length >= 3, 10000);
    assert.deepEqual(checks, [
      ['n', 1, 1, true],
      ['n', 2, 2, true],
      ['obj', { x: [1, 2] }, { x: [1, 2] }, true],
    ]);
  });

  test('getLocalState / peerKeys / peerValue', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    assert.equal(a.getLocalState('missing'), undefined);
    a.setLocalState('k1', 'v1');
    a.setLocalState('k2', { deep: [1, { two: 2 }] });
    a.setLocalState('k1', 'v1b');
    assert.equal(a.getLocalState('k1'), 'v1b');
    assert.deepEqual(a.getLocalState('k2'), { deep: [1, { two: 2 }] });
    assert.equal(typeof a.getLocalState(HB), 'number', 'the heartbeat is an ordinary local key');
    assert.deepEqual(a.peerKeys(a.peer_name).sort(), [HB, 'k1', 'k2'].sort());
    assert.equal(a.peerValue(a.peer_name, 'k1'), 'v1b');

    await waitFor(() => b.peerValue(a.peer_name, 'k1') === 'v1b', 10000);
    assert.deepEqual(b.peerKeys(a.peer_name).sort(), [HB, 'k1', 'k2'].sort());
    assert.deepEqual(b.peerValue(a.peer_name, 'k2'), { deep: [1, { two: 2 }] });
    assert.equal(typeof b.peerValue(a.peer_name, HB), 'number');
    assert.equal(b.peerValue(a.peer_name, 'missing'), undefined);
    assert.equal(b.peerValue('10.9.9.9:1', 'k1'), undefined);
    assert.deepEqual(b.peerKeys('10.9.9.9:1'), []);
  });

  test('peerKeys follows keys that come and go, and the array returned is the caller\'s', TEST, async (t) => {
    const [a, b] = await cluster(t, 2);
    await waitFor(() => b.peerKeys(a.peer_name).includes(HB), 10000);
    const first = b.peerKeys(a.peer_name);
    assert.deepEqual(first, [HB], 'only the heartbeat before any write');
    first.push('scribbled');
    assert.deepEqual(b.peerKeys(a.peer_name), [HB], 'changing a returned array changes no later one');

    a.setLocalState('x', 1);
    await waitFor(() => b.peerValue(a.peer_name, 'x') === 1, 10000);
    assert.deepEqual(b.peerKeys(a.peer_name).sort(), [HB, 'x'].sort(), 'a new key shows at once');
    a.setLocalState('x', 2); // a new value of a known key: the list stays
    a.setLocalState('y', 3);
    await waitFor(() => b.peerValue(a.peer_name, 'y') === 3, 10000);
    assert.deepEqual(b.peerKeys(a.peer_name).sort(), [HB, 'x', 'y'].sort());
    assert.equal(b.peerValue(a.peer_name, 'x'), 2);

    a.deleteLocalState('x');
    await waitFor(() => b.peerValue(a.peer_name, 'x') === undefined, 10000);
    assert.deepEqual(b.peerKeys(a.peer_name).sort(), [HB, 'y'].sort(), 'a deleted key goes at once');
    assert.deepEqual(a.peerKeys(a.peer_name).sort(), [HB, 'y'].sort(), 'and from our own list');
    a.setLocalState('x', 4);
    assert.deepEqual(a.peerKeys(a.peer_name).sort(), [HB, 'x', 'y'].sort());
    await waitFor(() => b.peerValue(a.peer_name, 'x') === 4, 10000);
    assert.deepEqual(b.peerKeys(a.peer_name).sort(), [HB, 'x', 'y'].sort(), 'and back once set again');
  });

  test('deleteLocalState removes the key here and at peers, which emit delete', TEST, async (t) => {
    const [a, b, c] = await cluster(t, 3);
    const deletes = [];
    for (const g of [a, b, c]) g.on('delete', (peer, key) => deletes.push([g.peer_name, peer, key]));
    a.setLocalState('gone', 'soon');
    a.setLocalState('stays', 1);
    await waitFor(() => b.peerValue(a.peer_name, 'gone') === 'soon' && c.peerValue(a.peer_name, 'gone') === 'soon', 10000);
    assert.equal(a.deleteLocalState('gone'), true);
    assert.equal(a.deleteLocalState('gone'), false, 'already deleted');
    assert.equal(a.deleteLocalState('never-set'), false);
    assert.equal(a.getLocalState('gone'), undefined);
    assert.ok(!a.peerKeys(a.peer_name).includes('gone'));
    await waitFor(() => deletes.length >= 2, 10000, { message: () => `delete events: ${JSON.stringify(deletes)}` });
    assert.deepEqual(deletes.sort(), [[b.peer_name, a.peer_name, 'gone'], [c.peer_name, a.peer_name, 'gone']].sort());
    for (const g of [b, c]) {
      assert.equal(g.peerValue(a.peer_name, 'gone'), undefined);
      assert.ok(!g.peerKeys(a.peer_name).includes('gone'));
      assert.equal(g.peerValue(a.peer_name, 'stays'), 1);
    }
    // set again after a delete
    a.setLocalState('gone', 'back');
    await waitFor(() => b.peerValue(a.peer_name, 'gone') === 'back' && c.peerValue(a.peer_name, 'gone') === 'back', 10000);
    assert.equal(deletes.length, 2);
    assert.throws(() => a.deleteLocalState(5), TypeError);
    assert.throws(() => a.deleteLocalState(HB), RangeError);
  });

  test('setLocalState: bad keys and unserialisable values are refused, the previous value kept', TEST, async (t) => {
    const [a, b] = await cluster(t, 2, { maxValueBytes: 200 });
    a.setLocalState('k', 'original');
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    const cases = [
      ['a function', () => 1],
      ['a symbol', Symbol('s')],
      ['a BigInt wider than 64 bits', 2n ** 64n],
      ['a negative BigInt wider than 64 bits', -(2n ** 63n) - 1n],
      ['a cyclic object', cyclic],
      ['a Map', new Map([['a', 1]])],
      ['a Set', new Set([1])],
      ['a nested function', { ok: 1, bad: [() => 1] }],
      ['an invalid Date', new Date(NaN)],
      ['undefined', undefined],
    ];
    for (const [what, value] of cases) {
      assert.throws(() => a.setLocalState('k', value), TypeError, what);
      assert.equal(a.getLocalState('k'), 'original', `after ${what}`);
    }
    for (const key of [5, null, undefined, {}, Symbol('k')]) {
      assert.throws(() => a.setLocalState(key, 1), TypeError, `key ${String(key)}`);
    }
    assert.throws(() => a.setLocalState(HB, 5), RangeError);
    assert.throws(() => a.setLocalState('k', 'x'.repeat(300)), { name: 'RangeError', message: /maxValueBytes/ });
    assert.throws(() => a.setLocalState('x'.repeat(2000), 1), { name: 'RangeError', message: /maxKeyBytes/ });
    assert.equal(a.getLocalState('k'), 'original');
    assert.notEqual(a.getLocalState(HB), 5);
    // nothing of the refused writes was sent: a later write arrives, 'k' is unchanged
    a.setLocalState('marker', 1);
    await waitFor(() => b.peerValue(a.peer_name, 'marker') === 1, 10000);
    assert.equal(b.peerValue(a.peer_name, 'k'), 'original');
    assert.deepEqual(b.peerKeys(a.peer_name).sort(), [HB, 'k', 'marker'].sort());
  });
});

describe('process lifetime', () => {
  const req = JSON.stringify(ROOT);

  test('the process exits by itself once every gossiper is stopped', TEST, async () => {
    const code = `
      const { Gossiper } = require(${req});
      (async () => {
        const o = { address: '127.0.0.1', gossipIntervalMs: 50 };
        const a = new Gossiper({ port: 0, ...o });
        await a.start();
        const b = new Gossiper({ port: 0, seeds: [a.peer_name], ...o });
        await b.start();
        a.setLocalState('k', 1);
        await new Promise((r) => { const c = () => (b.peerValue(a.peer_name, 'k') === 1 ? r() : setTimeout(c, 10)); c(); });
        await Promise.all([a.stop(), b.stop({ leave: true })]);
        console.log('stopped');
      })();`;
    const r = await runNode(['-e', code], { timeout: 10000 });
    assert.equal(r.timedOut, false, `the child did not exit within 10 s (stderr: ${r.stderr})`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'stopped');
    assert.ok(r.ms < 5000, `exited after ${r.ms} ms`);
  });

  test('a started gossiper keeps the process alive', TEST, async () => {
    const code = `
      const { Gossiper } = require(${req});
      const g = new Gossiper({ port: 0, address: '127.0.0.1', gossipIntervalMs: 50 });
      g.start().then(() => console.log(JSON.stringify({ started: g.peer_name })));`;
    const child = new JsonLinesChild('-e', [code]);
    try {
      await child.waitLine((l) => l.started, 10000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(child.exited, null, 'still running 1.5 s after start');
    } finally {
      await child.kill();
    }
  });

  test('the process exits by itself after a failed start', TEST, async () => {
    const port = await ports.take();
    const code = `
      const net = require('net');
      const { Gossiper } = require(${req});
      const blocker = net.createServer().listen(${port}, '127.0.0.1', () => {
        const g = new Gossiper({ port: ${port}, address: '127.0.0.1' });
        g.start((err) => { console.log(err && err.code); blocker.close(); });
      });`;
    const r = await runNode(['-e', code], { timeout: 5000 });
    assert.equal(r.stdout.trim(), 'EADDRINUSE');
    assert.equal(r.timedOut, false, 'the child still ran 5 s after its only gossiper failed to start');
    assert.equal(r.code, 0, r.stderr);
  });
});
