#!/usr/bin/env node
'use strict';
// A small local cluster in one process: five gossipers on 127.0.0.1 find each
// other through one seed, share values, notice one of them stop, and the
// demo exits by itself. Run: npm run demo
const { Gossiper } = require('..');

const BASE_PORT = Number(process.env.DEMO_PORT || 20000);
const SIZE = 5;
const started = Date.now();
const t = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const short = (name) => name.split(':')[1];

async function main() {
  const seed = `127.0.0.1:${BASE_PORT}`;
  const nodes = [];
  for (let i = 0; i < SIZE; i++) {
    // 'local' profile: 200 ms rounds, so the demo takes seconds, not minutes
    const g = new Gossiper({ port: BASE_PORT + i, seeds: [seed], address: '127.0.0.1', profile: 'local' });
    nodes.push(g);
  }
  const watcher = nodes[0];
  watcher.on('new_peer', (p) => console.log(`${t()}  [${short(watcher.peer_name)}] new peer ${p}`));
  watcher.on('update', (p, k, v) => {
    if (k !== '__heartbeat__') console.log(`${t()}  [${short(watcher.peer_name)}] ${p} set ${k} = ${JSON.stringify(v)}`);
  });
  watcher.on('peer_failed', (p) => console.log(`${t()}  [${short(watcher.peer_name)}] ${p} FAILED`));
  watcher.on('peer_alive', (p) => console.log(`${t()}  [${short(watcher.peer_name)}] ${p} alive again`));

  for (const g of nodes) await g.start();
  console.log(`${t()}  started ${SIZE} gossipers on ports ${BASE_PORT}-${BASE_PORT + SIZE - 1}, seed ${seed}`);

  nodes.forEach((g, i) => g.setLocalState('role', i === 0 ? 'leader' : 'worker'));
  nodes[2].setLocalState('load', { cpu: 0.42, jobs: [7, 9] });

  await until(() => nodes.every((g) => g.livePeers().length === SIZE), 15000);
  console.log(`${t()}  everyone sees everyone: ${watcher.livePeers().join(', ')}`);

  const leaving = nodes[SIZE - 1];
  console.log(`${t()}  stopping ${leaving.peer_name} (no goodbye: the others must notice)`);
  await leaving.stop();
  await until(() => watcher.deadPeers().includes(leaving.peer_name), 15000);

  console.log(`\n${t()}  membership as seen by ${watcher.peer_name}:`);
  for (const p of watcher.allPeers()) {
    const status = watcher.livePeers().includes(p) ? 'alive ' : 'failed';
    console.log(`         ${p}  ${status}  role=${watcher.peerValue(p, 'role')}`);
  }
  await Promise.all(nodes.slice(0, SIZE - 1).map((g) => g.stop()));
  console.log(`${t()}  all stopped; the process exits by itself`);
}

function until(cond, timeoutMs) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = setInterval(() => {
      if (cond()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(poll);
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }
    }, 50);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
