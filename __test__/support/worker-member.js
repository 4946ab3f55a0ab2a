'use strict';
// One cluster member inside a worker_threads Worker, for __test__/workers.test.js
// and support/workers-process.js.
//
//   new Worker(WORKER_MEMBER, { workerData: { port, seeds, options } })
//
// It starts a Gossiper on 127.0.0.1:port and rewrites a key every 20 ms, so
// that a terminate() always lands mid-gossip. It never stops the gossiper
// itself: that is the point of the tests.
//
// Messages to the parent: {ev:'started', name} | {ev:'start_failed', code, message}
//   | {ev:'live', peers} (each time its live peer list changes)
// Messages from the parent: {cmd:'exit', code} calls process.exit(code) in
// the worker (the worker's own way out, beside terminate()).

const path = require('path');
const { parentPort, workerData } = require('worker_threads');
const { Gossiper } = require(path.join(__dirname, '..', '..'));

const g = new Gossiper({
  address: '127.0.0.1',
  ...(workerData.options || {}),
  port: workerData.port,
  seeds: workerData.seeds || [],
});
const post = (msg) => parentPort.postMessage(msg);
const live = () => post({ ev: 'live', peers: g.livePeers() });
for (const ev of ['new_peer', 'peer_alive', 'peer_failed']) g.on(ev, live);

let n = 0;
g.start().then(
  () => {
    post({ ev: 'started', name: g.peer_name });
    live();
    setInterval(() => g.setLocalState('tick', n++), 20);
  },
  (err) => post({ ev: 'start_failed', code: err.code, message: err.message }),
);

parentPort.on('message', (msg) => {
  if (msg.cmd === 'exit') process.exit(msg.code);
});
