#!/usr/bin/env node
'use strict';
// A process whose gossipers run in worker_threads, for __test__/workers.test.js,
// which runs it as a child and checks how it ends (exit code, signal, time).
//
//   node workers-process.js MODE '[port, port, ...]'
//
// Every member runs in its own Worker (support/worker-member.js), seeded at
// the first port. MODE:
//   workers-only  the main thread never loads the addon; once the workers see
//                 each other alive they are all terminated at once, mid-gossip,
//                 and the main thread falls off its end.
//   one-after-another  the main thread never loads the addon; one worker at a
//                 time starts a gossiper and is terminated, so each loads the
//                 addon after the last environment that had it was torn down.
//   with-main     the main thread runs a gossiper on the first port too; the
//                 first worker is terminated, the second calls process.exit()
//                 inside itself, the rest are terminated; the main gossiper
//                 waits until it reports every one of them failed, then stops.
//   exit          like with-main, but the main thread calls process.exit(0)
//                 while everything still gossips.
// stdout: JSON lines {ev:'formed'} {ev:'ended', portsFree:[bool...]}
//   {ev:'failed', peers:[...]} {ev:'stopped'}.
//
// Ports are checked once the worker has ended; on Deno, whose terminate()
// resolves before the worker's environment is torn down (the port is free
// some 10 ms later), within a second of that.

const path = require('path');
const { Worker } = require('worker_threads');
const { isFree, waitFor } = require('./util');

const [mode, portsJson] = process.argv.slice(2);
const ports = JSON.parse(portsJson);
const OPTIONS = { gossipIntervalMs: 50 };
const WORKER_MEMBER = path.join(__dirname, 'worker-member.js');
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const names = ports.map((p) => `127.0.0.1:${p}`);

function member(port) {
  const w = new Worker(WORKER_MEMBER, { workerData: { port, seeds: [names[0]], options: OPTIONS } });
  w.livePeers = [];
  w.on('message', (m) => {
    if (m.ev === 'start_failed') throw new Error(`worker on ${port}: ${m.message}`);
    if (m.ev === 'live') w.livePeers = m.peers;
    w.emit('changed');
  });
  w.on('error', (e) => {
    throw e;
  });
  return w;
}

const settle = process.versions.deno ? 1000 : 0;
const freed = (port) => waitFor(() => isFree(port), settle, { interval: 5 }).catch(() => false);

/** Resolves once `cond()` holds, checked after every message of `workers`. */
function until(workers, cond) {
  return new Promise((resolve) => {
    const check = () => {
      if (!cond()) return;
      for (const w of workers) w.off('changed', check);
      resolve();
    };
    for (const w of workers) w.on('changed', check);
    check();
  });
}

async function main() {
  let g = null;
  if (mode === 'with-main' || mode === 'exit') {
    const { Gossiper } = require(path.join(__dirname, '..', '..'));
    g = new Gossiper({ ...OPTIONS, address: '127.0.0.1', port: ports[0] });
    await g.start();
  }
  const workerPorts = g ? ports.slice(1) : ports;
  if (mode === 'one-after-another') {
    for (const port of workerPorts) {
      const w = member(port);
      await new Promise((resolve) => w.once('changed', resolve));
      await w.terminate();
    }
    out({ ev: 'ended', portsFree: await Promise.all(workerPorts.map(freed)) });
    return;
  }
  const workers = workerPorts.map(member);
  await until(workers, () => workers.every((w) => names.every((n) => w.livePeers.includes(n))));
  out({ ev: 'formed' });

  if (mode === 'exit') process.exit(0);

  if (mode === 'workers-only') {
    await Promise.all(workers.map((w) => w.terminate()));
  } else {
    workers[1].postMessage({ cmd: 'exit', code: 0 });
    await Promise.all([
      new Promise((resolve) => workers[1].once('exit', resolve)),
      ...workers.filter((w, i) => i !== 1).map((w) => w.terminate()),
    ]);
  }
  out({ ev: 'ended', portsFree: await Promise.all(workerPorts.map(freed)) });
  if (!g) return;

  const gone = names.slice(1);
  await new Promise((resolve) => {
    const check = () => {
      if (gone.every((n) => g.deadPeers().includes(n))) {
        g.off('peer_failed', check);
        resolve();
      }
    };
    g.on('peer_failed', check);
    check();
  });
  out({ ev: 'failed', peers: g.deadPeers() });
  await g.stop();
  out({ ev: 'stopped' });
}

main();
