'use strict';
// pushOnChange: news goes out at once instead of waiting for a round. With
// one-hour rounds no regular round runs during these tests (a node's first
// round falls at a random phase of its interval: with one-minute rounds it
// came within the test's few seconds once in thirty runs), so whatever spreads
// here was pushed; with pushOnChange: false nothing moves at all.
// catchUpExchanges: a push that had to leave updates out is followed at once
// by more exchanges, so a state larger than one message moves in one go.
//
// Ports: 27500-27999.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll } = require('./support/util');

const ports = new PortRange(27500, 27999);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const HOUR_ROUNDS = { gossipIntervalMs: 3600000 };

async function cluster(t, n, options) {
  const seedPort = await ports.take();
  const gs = [];
  for (let i = 0; i < n; i++) {
    const port = i === 0 ? seedPort : await ports.take();
    gs.push(new Gossiper({ port, address: '127.0.0.1', seeds: [`127.0.0.1:${seedPort}`], ...HOUR_ROUNDS, ...options }));
  }
  t.after(() => stopAll(gs));
  // the seed first: started together, a newcomer's push may reach the seed
  // before it listens (the runtime starts them in parallel), and with
  // hour-long rounds no round would try again
  await gs[0].start();
  await Promise.all(gs.slice(1).map((g) => g.start()));
  return gs;
}

test('with pushOnChange (the default) joins and writes travel without waiting for a round', async (t) => {
  const gs = await cluster(t, 5, {});
  const [seed, ...others] = gs;
  // each newcomer pushes to its seed at once: the seed knows everyone
  await waitFor(() => seed.livePeers().length === gs.length, 5000, { message: () => `seed lists ${seed.livePeers()}` });
  await sleep(300); // let the join's pushes finish
  const writer = others[1];
  const before = writer.stats().datagramsOut;
  writer.setLocalState('colour', 'blue');
  // between gossipers the writer sends the news at once by datagram, and
  // every receiver passes it on
  await waitFor(() => gs.every((g) => g === writer || g.peerValue(writer.peer_name, 'colour') === 'blue'),
    5000, { message: 'the write everywhere' });
  assert.ok(writer.stats().datagramsOut > before, 'the writer sent gossip datagrams');
  assert.equal(writer.stats().rounds, 0, 'no regular round ran');
});

test('with probes: false a write travels by pushed exchanges', async (t) => {
  const gs = await cluster(t, 4, { probes: false });
  const [seed] = gs;
  await waitFor(() => seed.livePeers().length === gs.length, 5000, { message: () => `seed lists ${seed.livePeers()}` });
  // the writer joins last: its join spends one or two of its pushes (rounds
  // an hour apart never refill them), and some are left for the write
  const writer = new Gossiper({ port: await ports.take(), address: '127.0.0.1', seeds: [seed.peer_name], ...HOUR_ROUNDS, probes: false });
  t.after(() => stopAll([writer]));
  await writer.start();
  gs.push(writer);
  await waitFor(() => writer.livePeers().length === gs.length, 5000, { message: () => `the writer lists ${writer.livePeers()}` });
  await sleep(300); // let the join's pushes finish
  const before = writer.stats().exchangesCompleted;
  writer.setLocalState('colour', 'blue');
  // the writer pushes to `fanout` (2) live peers
  await waitFor(() => gs.filter((g) => g !== writer && g.peerValue(writer.peer_name, 'colour') === 'blue').length >= 2,
    5000, { message: 'the write at two peers' });
  assert.ok(writer.stats().exchangesCompleted > before, 'the writer started exchanges');
  assert.equal(writer.stats().datagramsOut, 0, 'no datagrams');
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

// A writer holding about 300 kB (300 keys of 1000 characters) against 40 kB
// messages, and a newcomer seeded with it. One chain of catch-ups (the
// default 8, one chain at a time per node) carries 9 messages: 360 kB.
async function bigStateJoin(t, options) {
  const [pa, pb] = [await ports.take(), await ports.take()];
  const common = { address: '127.0.0.1', ...HOUR_ROUNDS, maxOutgoingMessageBytes: 40000, ...options };
  const writer = new Gossiper({ port: pa, ...common });
  const fill = 'x'.repeat(1000);
  for (let k = 0; k < 300; k++) writer.setLocalState(`k${k}`, `${k}:${fill}`);
  const newcomer = new Gossiper({ port: pb, seeds: [`127.0.0.1:${pa}`], ...common });
  t.after(() => stopAll([writer, newcomer]));
  await writer.start();
  await newcomer.start();
  const held = () => newcomer.peerKeys(writer.peer_name).filter((k) => k !== '__heartbeat__').length;
  return { writer, newcomer, held };
}

test('a state larger than one message moves in one go through catch-up exchanges', async (t) => {
  const { writer, newcomer, held } = await bigStateJoin(t, {});
  await waitFor(() => held() === 300, 5000, { message: () => `the newcomer holds ${held()} of 300 keys` });
  assert.equal(newcomer.peerValue(writer.peer_name, 'k299'), `299:${'x'.repeat(1000)}`);
  const catchUps = writer.stats().catchUps + newcomer.stats().catchUps;
  // 300 kB in 40 kB messages: at least 8 messages; the join's pushes start 4 exchanges
  assert.ok(catchUps >= 4, `catch-up exchanges: ${catchUps}`);
});

test('with catchUpExchanges: 0 a big state waits for later rounds', async (t) => {
  const { writer, newcomer, held } = await bigStateJoin(t, { catchUpExchanges: 0 });
  await waitFor(() => held() > 0, 5000, { message: 'the first message of the state' });
  await sleep(1500);
  const n = held();
  // the join's few pushes (4 exchanges) carry a few 40 kB messages, not 300 kB
  assert.ok(n < 300 && n >= 30, `the newcomer holds ${n} of 300 keys`);
  assert.equal(writer.stats().catchUps + newcomer.stats().catchUps, 0);
});
