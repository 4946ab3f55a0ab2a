'use strict';
// Probes and gossip datagrams over real UDP sockets, as a hostile or
// misconfigured sender sees them: a well-formed PING is answered, while
// garbage, another cluster's PING and an unsealed PING to a keyed node are
// refused, counted, and change nothing. Ports: 20500-20999.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const { encode, decode } = require('@msgpack/msgpack');
const { Gossiper } = require('..');
const { waitFor, stopAll, PortRange } = require('./support/util');

const ports = new PortRange(20500, 20999);
// rounds an hour apart: the node sends nothing on its own during a test
const QUIET = { gossipIntervalMs: 3600000, address: '127.0.0.1' };
const PING = 0;
const ACK = 1;

/** [kind, from, cluster, seq, summary, members, about, items], as src/wire/datagram.rs */
function datagram(kind, from, cluster, seq, about, items = []) {
  return Buffer.from(encode([kind, from, cluster, seq, 0, 0, about, items]));
}

/** A UDP socket on `port` that records what it receives. */
async function client(t, port) {
  const socket = dgram.createSocket('udp4');
  const got = [];
  socket.on('message', (msg) => got.push(msg));
  await new Promise((resolve) => socket.bind(port, '127.0.0.1', resolve));
  t.after(() => socket.close());
  const send = (bytes, to) => new Promise((resolve, reject) =>
    socket.send(bytes, to, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  return { got, send };
}

async function node(t, options) {
  const g = new Gossiper({ port: await ports.take(), ...QUIET, ...options });
  t.after(() => stopAll(g));
  await g.start();
  return g;
}

test('a well-formed PING is answered with an ACK that names the node', { timeout: 30000 }, async (t) => {
  const g = await node(t, { clusterName: 'blue' });
  const port = await ports.take();
  const c = await client(t, port);
  const me = `127.0.0.1:${port}`;
  await c.send(datagram(PING, me, 'blue', 7, g.peer_name), g.port);
  await waitFor(() => c.got.length > 0, 5000, { message: 'an ACK' });
  const [kind, from, cluster, seq, , , about] = decode(c.got[0]);
  assert.deepEqual([kind, from, cluster, seq, about], [ACK, g.peer_name, 'blue', 7, g.peer_name]);
  assert.ok(g.stats().datagramsIn >= 1 && g.stats().datagramsOut >= 1);
});

test('garbage, another cluster and an unsealed PING to a keyed node are refused and counted', { timeout: 30000 }, async (t) => {
  const blue = await node(t, { clusterName: 'blue' });
  const keyed = await node(t, { keys: [crypto.randomBytes(32)] });
  const port = await ports.take();
  const c = await client(t, port);
  const me = `127.0.0.1:${port}`;
  const before = [blue.stats(), keyed.stats()];
  const garbage = [Buffer.from([0xc1]), crypto.randomBytes(300), Buffer.alloc(1400, 0xdc), datagram(9, me, 'blue', 1, null)];
  for (const bytes of garbage) await c.send(bytes, blue.port);
  // another cluster's PING, news included: none of it may be taken
  const news = [[3, '127.0.0.9:1', 5, 5, 1, 'k', 0xa1, false, null], [0, '127.0.0.8:1', 9, 9, 1]];
  await c.send(datagram(PING, me, 'red', 1, blue.peer_name, news), blue.port);
  await c.send(datagram(PING, me, null, 2, keyed.peer_name, news), keyed.port);
  await waitFor(() => blue.stats().refused.malformed - before[0].refused.malformed >= garbage.length
    && blue.stats().refused.wrongCluster > before[0].refused.wrongCluster
    && keyed.stats().refused.unauthenticated > before[1].refused.unauthenticated, 5000,
  { message: () => `refusals counted: ${JSON.stringify([blue.stats().refused, keyed.stats().refused])}` });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.got.length, 0, 'no answer to any of them');
  for (const g of [blue, keyed]) {
    assert.deepEqual(g.allPeers(), [g.peer_name], 'no peer learnt');
    assert.equal(g.stats().updatesApplied, 0);
  }
});
