#!/usr/bin/env node
'use strict';
// node-gossip's simulation 2: 100 peers; one is stopped, then started again
// (on the same port) a while later. Prints when each peer thinks it is dead
// and alive again, and the time it took the whole cluster.
const { Gossiper } = require('..');

const BASE = Number(process.env.PORT_BASE || 9000);
const COUNT = Number(process.env.COUNT || 100);
const DOWN_MS = Number(process.env.DOWN_MS || 15000);
const peers = [new Gossiper(BASE, [])];
for (let i = 1; i <= COUNT; i++) peers.push(new Gossiper(BASE + i, [`127.0.0.1:${BASE}`]));
const victim = peers[20];
const failedBy = new Set();
const aliveBy = new Set();
let stoppedAt;
let restartedAt;
const quiet = !!process.env.QUIET;
for (const g of peers) {
  if (g === victim) continue;
  g.on('peer_failed', (peer) => {
    if (!quiet) console.log(`${g.peer_name} thinks ${peer} is dead`);
    if (peer === victim.peer_name && !failedBy.has(g) && failedBy.add(g).size === COUNT) {
      console.log(`every peer reported ${peer} failed ${Date.now() - stoppedAt} ms after it stopped`);
    }
  });
  g.on('peer_alive', (peer) => {
    if (!quiet) console.log(`${g.peer_name} thinks ${peer} is alive`);
    if (peer === victim.peer_name && restartedAt && !aliveBy.has(g) && aliveBy.add(g).size === COUNT) {
      console.log(`every peer saw ${peer} alive again ${Date.now() - restartedAt} ms after it restarted`);
      Promise.all(peers.map((p) => p.stop())).then(() => process.exit(0));
    }
  });
}
(async () => {
  for (const g of peers) await g.start();
  await new Promise((r) => setTimeout(r, 5000));
  console.log(`stopping ${victim.peer_name}`);
  stoppedAt = Date.now();
  await victim.stop();
  await new Promise((r) => setTimeout(r, DOWN_MS));
  console.log(`starting ${victim.peer_name} again (${failedBy.size} of ${COUNT} peers had reported it failed)`);
  restartedAt = Date.now();
  await victim.start();
})();
