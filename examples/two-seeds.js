#!/usr/bin/env node
'use strict';
// node-gossip's simulation 3: two seeds and 100 peers; prints when every
// peer knows about every other (through 'new_peer' events).
const { Gossiper } = require('..');

const BASE = Number(process.env.PORT_BASE || 9000);
const COUNT = Number(process.env.COUNT || 100);
const seeds = [`127.0.0.1:${BASE}`, `127.0.0.1:${BASE + 1}`];
const all = [new Gossiper(BASE, []), new Gossiper(BASE + 1, [])];
const started = Date.now();
let done = 0;
for (let i = 0; i < COUNT; i++) {
  const g = new Gossiper(BASE + 101 + i, seeds);
  let known = 0;
  g.on('new_peer', () => {
    // everyone else: the other peers and both seeds
    if (++known === COUNT + 1) {
      if (++done === COUNT) {
        console.log(`all ${COUNT} peers know about each other after ${Date.now() - started} ms`);
        Promise.all(all.map((p) => p.stop())).then(() => process.exit(0));
      }
    }
  });
  all.push(g);
}
for (const g of all) g.start();
