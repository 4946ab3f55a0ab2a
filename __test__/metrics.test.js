'use strict';
// gossiper/metrics against a real prom-client Registry: a real scrape of a
// real 3-node cluster (and an intruder from another cluster), from
// CommonJS and ESM; never on the global registry; never keeping a gossiper
// alive.
//
// Ports: 28500-28999.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const client = require('prom-client');

const { Gossiper } = require('..');
const metrics = require('gossiper/metrics');
const { waitFor, PortRange, stopAll, gc } = require('./support/util');

const ports = new PortRange(28500, 28999);
const FAST = { gossipIntervalMs: 100, address: '127.0.0.1' };

/** The samples of a Prometheus text scrape: { name, labels, value }. */
function parse(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples, name, labels) {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `one sample ${name} ${JSON.stringify(labels)}, found ${found.length}`);
  return found[0].value;
}

test('a scrape of a 3-node cluster: peers, phi, exchanges, bytes, refusals, stall and events per gossiper', async (t) => {
  const registry = new client.Registry();
  assert.deepEqual(metrics.register(registry), [...metrics.METRIC_NAMES]);
  t.after(() => metrics.unregister(registry));
  const seed = await ports.take();
  const nodes = [seed, await ports.take(), await ports.take()].map(
    (port) => new Gossiper({ port, seeds: [`127.0.0.1:${seed}`], clusterName: 'metrics', ...FAST }));
  const intruder = new Gossiper({ port: await ports.take(), seeds: [`127.0.0.1:${seed}`], clusterName: 'other', ...FAST });
  t.after(() => stopAll(nodes, intruder));
  for (const g of nodes) await g.start();
  await intruder.start();
  await waitFor(() => nodes.every((g) => g.livePeers().length === 3) && nodes[0].stats().refused.wrongCluster > 0, 15000,
    { message: 'the cluster to form and refuse the intruder' });

  const before = nodes.map((g) => g.stats());
  const text = await registry.metrics();
  const after = nodes.map((g) => g.stats());
  const samples = parse(text);
  for (const name of metrics.METRIC_NAMES) {
    assert.ok(name.startsWith('gossiper_'), name);
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has help`);
  }
  assert.ok(samples.every((s) => s.name.startsWith('gossiper_')));

  nodes.forEach((g, i) => {
    const gossiper = g.peer_name;
    assert.equal(value(samples, 'gossiper_peers', { gossiper, status: 'alive' }), 2);
    assert.equal(value(samples, 'gossiper_peers', { gossiper, status: 'left' }), 0);
    for (const other of nodes.filter((o) => o !== g)) {
      const phi = value(samples, 'gossiper_peer_phi', { gossiper, peer: other.peer_name });
      assert.ok(phi >= 0 && phi < g.options.phiThreshold, `phi ${phi}`);
    }
    // counters as stats() had them, taken between two stats() calls
    const between = (name, labels, field, scale = 1) => {
      const v = value(samples, name, { gossiper, ...labels });
      assert.ok(v >= before[i][field] * scale && v <= after[i][field] * scale, `${name} ${v} within [${before[i][field]}, ${after[i][field]}]`);
      return v;
    };
    // every node took part in an exchange (begun by it or by a peer); once
    // formed, gossipers probe each other by datagram
    const completed = between('gossiper_exchanges_completed_total', {}, 'exchangesCompleted');
    assert.ok(completed + between('gossiper_exchanges_served_total', {}, 'exchangesServed') > 0);
    assert.ok(between('gossiper_datagrams_total', { direction: 'in' }, 'datagramsIn') > 0);
    between('gossiper_datagrams_total', { direction: 'out' }, 'datagramsOut');
    between('gossiper_suspicions_total', {}, 'suspicions');
    between('gossiper_exchanges_started_total', {}, 'exchangesStarted');
    assert.ok(between('gossiper_bytes_total', { direction: 'in' }, 'bytesIn') > 0);
    assert.ok(between('gossiper_bytes_total', { direction: 'out' }, 'bytesOut') > 0);
    between('gossiper_messages_total', { direction: 'out' }, 'messagesOut');
    assert.ok(between('gossiper_events_total', {}, 'events') > 0);
    between('gossiper_rounds_total', {}, 'rounds');
    between('gossiper_stalled_seconds_total', {}, 'stalledMs', 1e-3);
    between('gossiper_updates_total', { result: 'applied' }, 'updatesApplied');
    for (const reason of Object.keys(before[i].refused)) {
      const v = value(samples, 'gossiper_refused_connections_total', { gossiper, reason });
      assert.ok(v >= before[i].refused[reason] && v <= after[i].refused[reason]);
    }
  });
  assert.ok(value(samples, 'gossiper_refused_connections_total', { gossiper: nodes[0].peer_name, reason: 'wrongCluster' }) > 0,
    'the intruder is counted as refused');
  assert.ok(value(samples, 'gossiper_rounds_total', { gossiper: intruder.peer_name }) >= 0,
    'every running gossiper of the process is there, the intruder too');

  // a node that leaves: gone from the scrape, and 'left' on the others
  await nodes[2].leave();
  await waitFor(() => nodes[0].stats().peers.some((p) => p.status === 'left'), 5000, { message: 'the leave to arrive' });
  const later = parse(await registry.metrics());
  assert.ok(later.every((s) => s.labels.gossiper !== nodes[2].peer_name), 'a stopped gossiper has no series');
  assert.equal(value(later, 'gossiper_peers', { gossiper: nodes[0].peer_name, status: 'left' }), 1);
});

test('never on the global registry; the same metrics once per registry; a registry is required', async (t) => {
  const a = new client.Registry();
  const b = new client.Registry();
  metrics.register(a);
  metrics.register(a); // again: nothing more, no "already registered"
  metrics.register(b);
  t.after(() => [a, b].forEach((r) => metrics.unregister(r)));
  const g = new Gossiper({ port: await ports.take(), ...FAST });
  t.after(() => stopAll(g));
  await g.start();
  assert.deepEqual(client.register.getMetricsAsArray().filter((m) => m.name.startsWith('gossiper_')), []);
  for (const r of [a, b]) {
    const names = (await r.getMetricsAsJSON()).map((m) => m.name);
    assert.deepEqual(names.sort(), [...metrics.METRIC_NAMES].sort());
    assert.match(await r.metrics(), new RegExp(`gossiper_rounds_total\\{gossiper="${g.peer_name}"\\}`));
  }
  metrics.unregister(b);
  assert.deepEqual((await b.getMetricsAsJSON()).map((m) => m.name), []);
  for (const bad of [undefined, null, {}, 'registry']) {
    assert.throws(() => metrics.register(bad), (e) => e instanceof TypeError && e.code === 'ERR_GOSSIPER_INVALID_TYPE');
  }
});

test('import { register } from "gossiper/metrics" is the same function', async () => {
  const esm = await import('gossiper/metrics');
  assert.equal(esm.register, metrics.register);
  assert.equal(esm.default.register, metrics.register);
});

test('metrics never keep a gossiper alive', async (t) => {
  const registry = new client.Registry();
  metrics.register(registry);
  t.after(() => metrics.unregister(registry));
  let collected = false;
  const registryOfDeath = new FinalizationRegistry(() => {
    collected = true;
  });
  await (async () => {
    const g = new Gossiper({ port: await ports.take(), ...FAST });
    await g.start();
    assert.match(await registry.metrics(), new RegExp(`gossiper="${g.peer_name}"`));
    await g.stop();
    registryOfDeath.register(g, 'g');
  })();
  await registry.metrics();
  await waitFor(async () => {
    gc();
    await new Promise((r) => setImmediate(r));
    return collected;
  }, 10000, { message: 'the stopped, unreferenced gossiper to be collected' });
});
