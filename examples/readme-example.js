#!/usr/bin/env node
'use strict';
// node-gossip's README example, unchanged but for the require and an exit:
// a seed, 20 peers pointed at it, and one more peer that sets a key after a
// while. Each peer prints the update when it arrives.
const { Gossiper } = require('..');

const BASE = Number(process.env.PORT_BASE || 9000);
const seed = new Gossiper(BASE, []);
seed.start();

const peers = [seed];
let heard = 0;
for (let i = BASE + 1; i <= BASE + 20; i++) {
  const g = new Gossiper(i, [`127.0.0.1:${BASE}`]);
  g.start();
  peers.push(g);
  g.on('update', function (peer, k, v) {
    if (k === 'somekey') {
      console.log(`peer ${peer} set ${k} to ${v} (seen by ${this.peer_name})`);
      if (++heard === 20) {
        console.log('all 20 peers have it');
        Promise.all(peers.map((p) => p.stop())).then(() => process.exit(0));
      }
    }
  });
}

// Another peer updates its state after a few seconds (15 in the original).
const updater = new Gossiper(BASE + 999, [`127.0.0.1:${BASE}`]);
updater.start();
peers.push(updater);
setTimeout(() => updater.setLocalState('somekey', 'somevalue'), Number(process.env.DELAY_MS || 3000));
