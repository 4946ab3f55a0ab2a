'use strict';
// Event delivery through the realm-wide hub (src/binding/events.rs, index.js
// `dispatch`): every gossiper of a process shares one native queue, so these
// tests check what sharing must not break: each gossiper gets exactly its own
// events, in order, once; a throwing listener loses nothing; a running
// gossiper nobody references keeps working; an idle one can be collected.
//
// Ports: 27000-27499.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll, runNode, gc } = require('./support/util');

const ports = new PortRange(27000, 27499);
const FAST = { gossipIntervalMs: 50 };

async function collect() {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('three gossipers in one process each get their own updates, in order, once', async (t) => {
  const seedPort = await ports.take();
  const nodes = [seedPort, await ports.take(), await ports.take()].map(
    (port) => new Gossiper({ port, address: '127.0.0.1', seeds: [`127.0.0.1:${seedPort}`], ...FAST })
  );
  t.after(() => stopAll(nodes));
  const seen = nodes.map(() => []);
  nodes.forEach((g, i) => g.on('update', (peer, key, value) => {
    if (key !== '__heartbeat__') seen[i].push([peer, key, value]);
    // the mirror already holds the change inside the listener
    assert.deepEqual(g.peerValue(peer, key), value);
  }));
  await Promise.all(nodes.map((g) => g.start()));
  const KEYS = 200;
  for (let k = 0; k < KEYS; k++) {
    nodes[0].setLocalState(`n${k}`, k % 3 === 0 ? { k, s: 'x'.repeat(k % 7) } : k * 1.5);
  }
  nodes[1].setLocalState('from1', 'one');
  const from0 = nodes[0].peer_name;
  await waitFor(() => nodes[1].peerValue(from0, `n${KEYS - 1}`) !== undefined
    && nodes[2].peerValue(from0, `n${KEYS - 1}`) !== undefined
    && nodes[2].peerValue(nodes[1].peer_name, 'from1') === 'one', 15000, { message: 'all keys everywhere' });

  for (const i of [1, 2]) {
    const mine = seen[i].filter(([peer]) => peer === from0).map(([, key]) => key);
    assert.equal(new Set(mine).size, mine.length, `gossiper ${i} saw no update twice`);
    assert.equal(mine.length, KEYS, `gossiper ${i} saw every key of gossiper 0 once`);
  }
  // nobody is told about its own writes, and gossiper 0 learns only from 1
  assert.ok(seen[0].every(([peer]) => peer === nodes[1].peer_name));
  assert.ok(seen[1].every(([peer]) => peer !== nodes[1].peer_name));
  assert.deepEqual(nodes[2].peerValue(from0, 'n3'), { k: 3, s: 'xxx' });
  assert.equal(nodes[2].peerValue(from0, 'n4'), 6);
});

// In a child process: the test runner claims uncaught exceptions for itself.
const THROWING_LISTENER = `
const { Gossiper } = require(process.argv[1]);
const [pa, pb] = [Number(process.argv[2]), Number(process.argv[3])];
const FAST = { gossipIntervalMs: 50 };
const a = new Gossiper({ port: pa, address: '127.0.0.1', seeds: [], ...FAST });
const b = new Gossiper({ port: pb, address: '127.0.0.1', seeds: ['127.0.0.1:' + pa], ...FAST });
const thrown = [];
process.on('uncaughtException', (err) => thrown.push(err.message));
const got = [];
const wrong = [];
b.on('update', (peer, key, value) => {
  if (!key.startsWith('k')) return;
  got.push(key);
  if (value !== Number(key.slice(1))) wrong.push(key + '=' + value);
  if (value % 10 === 0) throw new Error('listener fails on ' + key);
});
for (let k = 0; k < 50; k++) a.setLocalState('k' + k, k);
Promise.all([a.start(), b.start()]).then(() => {
  const t0 = Date.now();
  const poll = setInterval(() => {
    if (got.length < 50 && Date.now() - t0 < 10000) return;
    clearInterval(poll);
    setTimeout(async () => {
      const last = b.peerValue(a.peer_name, 'k49');
      await Promise.all([a.stop(), b.stop()]);
      console.log(JSON.stringify({ got, wrong, thrown, last }));
    }, 300);
  }, 20);
});
`;

test('a throwing listener loses no event and sees none twice', async () => {
  const [pa, pb] = [await ports.take(), await ports.take()];
  const r = await runNode(['-e', THROWING_LISTENER, require.resolve('..'), String(pa), String(pb)], { timeout: 20000 });
  assert.equal(r.code, 0, r.stderr);
  const { got, wrong, thrown, last } = JSON.parse(r.stdout);
  assert.equal(got.length, 50, `updates seen: ${got.join(' ')}`);
  // what is left of a batch after a throw is delivered later from a copy of
  // its records: the next batch reuses their buffer
  assert.deepEqual(wrong, []);
  assert.equal(new Set(got).size, 50);
  assert.equal(thrown.length, 5);
  assert.ok(thrown.every((m) => /^listener fails on k\d*0$/.test(m)), thrown.join('; '));
  assert.equal(last, 49);
});

test('a burst of tens of thousands of events, then small batches, arrive intact (the records buffer grows and is reused)', async (t) => {
  const KEYS = 1000;
  const LISTENERS = 30;
  const writerPort = await ports.take();
  const writer = new Gossiper({ port: writerPort, address: '127.0.0.1', seeds: [], ...FAST });
  const listeners = [];
  for (let i = 0; i < LISTENERS; i++) {
    listeners.push(new Gossiper({ port: await ports.take(), address: '127.0.0.1', seeds: [`127.0.0.1:${writerPort}`], ...FAST }));
  }
  t.after(() => stopAll([writer, ...listeners]));
  // numbers travel inline in the records, so every value checks the buffer
  for (let k = 0; k < KEYS; k++) writer.setLocalState(`b${k}`, k * 7 + 0.5);
  await writer.start();
  const from = writer.peer_name;
  const seen = listeners.map(() => new Set());
  const wrong = [];
  let after = 0;
  listeners.forEach((g, i) => g.on('update', (peer, key, value) => {
    if (peer !== from) return;
    if (key === 'after') { if (value === 'small batch') after++; return; }
    if (!key.startsWith('b')) return;
    if (value !== Number(key.slice(1)) * 7 + 0.5) wrong.push(`${key}=${value}`);
    if (seen[i].has(key)) wrong.push(`${key} twice`);
    seen[i].add(key);
  }));
  await Promise.all(listeners.map((g) => g.start()));
  await waitFor(() => seen.every((s) => s.size === KEYS), 30000, { message: 'every listener got every key' });
  writer.setLocalState('after', 'small batch');
  await waitFor(() => after === LISTENERS, 15000, { message: 'every listener got the later write' });
  assert.deepEqual(wrong, []);
});

test('a running gossiper that nobody references keeps its listeners; an idle one can be collected', async (t) => {
  const port = await ports.take();
  const watcher = new Gossiper({ port: await ports.take(), address: '127.0.0.1', seeds: [`127.0.0.1:${port}`], ...FAST });
  t.after(() => stopAll([watcher]));
  const heard = [];
  let stopIt;
  (() => {
    // only the listener closure and the library hold this one
    const g = new Gossiper({ port, address: '127.0.0.1', seeds: [], ...FAST });
    g.on('update', (peer, key, value) => { if (key === 'w') heard.push(value); });
    g.start();
    stopIt = () => g.stop();
  })();
  t.after(() => stopIt());
  await collect();
  await watcher.start();
  for (let v = 1; v <= 3; v++) {
    watcher.setLocalState('w', v);
    await collect();
    await waitFor(() => heard.includes(v), 10000, { message: `value ${v} heard` });
  }

  let idle = new Gossiper({ port: await ports.take(), address: '127.0.0.1', seeds: [] });
  idle.setLocalState('x', 1);
  const ref = new WeakRef(idle);
  idle = null;
  await waitFor(async () => {
    await collect();
    return ref.deref() === undefined;
  }, 10000, { message: 'the idle gossiper to be collected' });
});
