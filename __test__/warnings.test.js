'use strict';
// Misconfiguration does not fail in silence: a 'warning' event (an Error
// named GossiperWarning, with a stable `code` and the `peer`), never
// 'error', for a peer of another cluster or key, an update over a limit, a
// seed that does not resolve or never answers; each counted on its own in
// stats().warnings, reported at most once a minute per peer, and logged
// through the `logger` option (a real pino logger here).
// Ports 21500-21999.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Writable } = require('node:stream');
const pino = require('pino');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll, sleep } = require('./support/util');

const ports = new PortRange(21500, 21999);
const FAST = { address: '127.0.0.1', gossipIntervalMs: 100 };

function recordWarnings(g) {
  const seen = [];
  g.on('warning', (w) => seen.push(w));
  g.on('error', (e) => seen.push({ error: e }));
  return seen;
}

async function pair(t, a, b) {
  const A = new Gossiper({ ...FAST, port: await ports.take(), ...a });
  await A.start();
  const B = new Gossiper({ ...FAST, port: await ports.take(), seeds: [A.peer_name], ...b });
  t.after(() => stopAll(A, B));
  return [A, B];
}

test('a peer of another cluster: a warning on both sides, counted as wrongCluster', async (t) => {
  const [A, B] = await pair(t, { clusterName: 'blue' }, { clusterName: 'green' });
  const atA = recordWarnings(A);
  const atB = recordWarnings(B);
  await B.start();
  await waitFor(() => atA.length > 0 && atB.length > 0, 10000, { message: 'warnings on both sides' });
  for (const w of [atA[0], atB[0]]) {
    assert.ok(w instanceof Error);
    assert.equal(w.name, 'GossiperWarning');
    assert.equal(w.code, 'GOSSIPER_WRONG_CLUSTER');
    assert.match(w.message, /cluster/);
  }
  assert.equal(atB[0].peer, A.peer_name, 'the initiator names the seed it reached');
  assert.match(atA[0].peer, /^127\.0\.0\.1:\d+$/, 'the responder names the address that connected');
  assert.ok(A.stats().warnings.wrongCluster >= 1);
  assert.ok(A.stats().refused.wrongCluster >= 1, 'refused as wrongCluster, not as closed');
  assert.deepEqual(B.livePeers(), [B.peer_name], 'the other cluster is never a peer');
});

test('a peer with another key: GOSSIPER_WRONG_KEY', async (t) => {
  const [A, B] = await pair(t, { keys: [crypto.randomBytes(32)] }, { keys: [crypto.randomBytes(32)] });
  const atA = recordWarnings(A);
  await B.start();
  await waitFor(() => atA.some((w) => w.code === 'GOSSIPER_WRONG_KEY'), 10000, { message: 'a wrong-key warning' });
  assert.ok(A.stats().warnings.wrongKey >= 1);
});

test('an update over our maxValueBytes is refused with a warning naming the peer and the limit', async (t) => {
  const [A, B] = await pair(t, {}, { maxValueBytes: 100 });
  const atB = recordWarnings(B);
  await B.start();
  await waitFor(() => B.livePeers().length === 2, 10000);
  A.setLocalState('big', 'x'.repeat(1000));
  await waitFor(() => atB.some((w) => w.code === 'GOSSIPER_UPDATE_REFUSED'), 10000, { message: 'the refused update' });
  const w = atB.find((x) => x.code === 'GOSSIPER_UPDATE_REFUSED');
  assert.equal(w.peer, A.peer_name);
  assert.match(w.message, /'big'.*maxValueBytes \(100\)/);
  assert.equal(B.peerValue(A.peer_name, 'big'), undefined);
  assert.equal(B.stats().warnings.updateRefused, 1);
});

test('a seed that does not resolve: a warning, retried, never listed under its host name', async (t) => {
  const g = new Gossiper({ ...FAST, port: await ports.take(), seeds: ['no-such-host.invalid:20000'] });
  const seen = recordWarnings(g);
  t.after(() => stopAll(g));
  await g.start();
  await waitFor(() => g.stats().warnings.seedUnresolved >= 3, 15000, { message: 'resolution retried' });
  assert.equal(seen.filter((w) => w.code === 'GOSSIPER_SEED_UNRESOLVED').length, 1, 'reported once a minute');
  assert.equal(seen[0].peer, 'no-such-host.invalid:20000');
  assert.deepEqual(g.allPeers(), [g.peer_name]);
  assert.ok(!seen.some((w) => w.error));
});

test('a seed nobody listens on: a warning, and it is not in livePeers()', async (t) => {
  const nobody = await ports.take();
  const g = new Gossiper({ ...FAST, port: await ports.take(), seeds: [`127.0.0.1:${nobody}`] });
  const seen = recordWarnings(g);
  t.after(() => stopAll(g));
  await g.start();
  await waitFor(() => seen.some((w) => w.code === 'GOSSIPER_SEED_UNREACHABLE'), 10000, { message: 'the unreachable seed' });
  assert.deepEqual(g.livePeers(), [g.peer_name]);
  assert.deepEqual(g.allPeers(), [g.peer_name]);
  // once it answers it is a peer, under the name it gives itself
  const seed = new Gossiper({ ...FAST, port: nobody });
  t.after(() => stopAll(seed));
  await seed.start();
  await waitFor(() => g.livePeers().includes(seed.peer_name), 10000, { message: 'the seed to join once it listens' });
});

test('the logger option: warnings at warn and native lines at debug, through pino', async (t) => {
  const lines = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const nobody = await ports.take();
  const g = new Gossiper({ ...FAST, port: await ports.take(), seeds: [`127.0.0.1:${nobody}`], logger });
  t.after(() => stopAll(g));
  await g.start();
  await waitFor(() => lines.some((l) => l.level === 40) && lines.some((l) => l.level === 20), 10000, {
    message: () => `a warn and a debug line; got ${JSON.stringify(lines.slice(0, 5))}`,
  });
  const warn = lines.find((l) => l.level === 40);
  assert.equal(warn.code, 'GOSSIPER_SEED_UNREACHABLE');
  assert.equal(warn.component, 'gossiper', 'through a child logger');
  assert.equal(warn.peer, g.peer_name);
  const debug = lines.find((l) => l.level === 20);
  assert.match(debug.msg, /cannot connect to 127\.0\.0\.1:\d+/);
  // an info-level logger gets no native lines at all
  const quiet = [];
  const info = pino({ level: 'info' }, new Writable({ write(c, _e, d) { quiet.push(String(c)); d(); } }));
  const h = new Gossiper({ ...FAST, port: await ports.take(), seeds: [`127.0.0.1:${nobody}`], logger: info });
  t.after(() => stopAll(h));
  await h.start();
  await sleep(800);
  assert.ok(quiet.every((l) => JSON.parse(l).level >= 30), 'no debug lines below its level');
  assert.ok(quiet.length >= 1, 'the warning still comes');
});

test('the logger option is checked', () => {
  assert.throws(() => new Gossiper({ port: 0, logger: {} }), { name: 'TypeError', code: 'ERR_GOSSIPER_INVALID_TYPE', message: /logger/ });
  assert.throws(() => new Gossiper({ port: 0, logger: 'debug' }), { name: 'TypeError', message: /logger/ });
});
