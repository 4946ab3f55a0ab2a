'use strict';
// pushOnChange: news goes out at once instead of waiting for a round. With
// one-minute rounds no regular round runs during these tests, so whatever
// spreads here was pushed; with pushOnChange: false nothing moves at all.
//
// Ports: 27500-27999.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll } = require('./support/util');

const ports = new PortRange(27500, 27999);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MINUTE_ROUNDS = { gossipIntervalMs: 60000 };

async function cluster(t, n, options) {
  const seedPort = await ports.take();
  const gs = [];
  for (let i = 0; i < n; i++) {
    const port = i === 0 ? seedPort : await ports.take();
    gs.push(new Gossiper({ port, address: '127.0.0.1', seeds: [`127.0.0.1:${seedPort}`], ...MINUTE_ROUNDS, ...options }));
  }
  t.after(() => stopAll(gs));
  await Promise.all(gs.map((g) => g.start()));
  return gs;
}

test('with pushOnChange (the default) joins and writes travel without waiting for a round', async (t) => {
  const gs = await cluster(t, 5, {});
  const [seed, ...others] = gs;
  // each newcomer pushes to its seed at once: the seed knows everyone
  await waitFor(() => seed.livePeers().length === gs.length, 5000, { message: () => `seed lists ${seed.livePeers()}` });
  await sleep(300); // let the join's pushes finish
  const writer = others[1];
  const before = gs.map((g) => g.stats().exchangesCompleted);
  writer.setLocalState('colour', 'blue');
  // the writer pushes to `fanout` (2) live peers
  await waitFor(() => gs.filter((g) => g !== writer && g.peerValue(writer.peer_name, 'colour') === 'blue').length >= 2,
    5000, { message: 'the write at two peers' });
  assert.ok(writer.stats().exchangesCompleted > before[gs.indexOf(writer)], 'the writer started exchanges');
  assert.equal(writer.stats().rounds, 0, 'no regular round ran');
});

test('with pushOnChange: false nothing moves before the first round', async (t) => {
  const gs = await cluster(t, 3, { pushOnChange: false });
  gs[1].setLocalState('colour', 'blue');
  await sleep(1500);
  assert.deepEqual(gs[0].livePeers(), [gs[0].peer_name], 'the seed heard of nobody');
  assert.equal(gs[2].peerValue(gs[1].peer_name, 'colour'), undefined);
  for (const g of gs) assert.equal(g.stats().exchangesStarted, 0);
});
