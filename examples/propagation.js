#!/usr/bin/env node
'use strict';
// node-gossip's simulation 1: 100 peers and a seed; after they settle, one
// peer sets a key and we time how long until all 100 have it.
const { Gossiper } = require('..');

const BASE = Number(process.env.PORT_BASE || 9000);
const COUNT = Number(process.env.COUNT || 100);
const seed = new Gossiper(BASE, []);
seed.start();
const all = [seed];
let received = 0;
let sentAt;
for (let i = BASE + 1; i <= BASE + COUNT; i++) {
  const g = new Gossiper(i, [`127.0.0.1:${BASE}`]);
  g.start();
  all.push(g);
  g.on('update', (peer, k) => {
    if (k !== 'hi') return;
    if (++received === COUNT) {
      console.log(`fully propagated to ${COUNT} peers in ${Date.now() - sentAt} ms`);
      Promise.all(all.map((p) => p.stop())).then(() => process.exit(0));
    }
  });
}
const sender = new Gossiper(BASE + COUNT + 1, [`127.0.0.1:${BASE}`]);
sender.start();
all.push(sender);
setTimeout(() => {
  console.log(`the seed knows ${seed.allPeers().length} peers (itself included)`);
  sender.setLocalState('hi', 'hello');
  sentAt = Date.now();
  console.log('hi sent');
}, Number(process.env.SETTLE_MS || 5000));
