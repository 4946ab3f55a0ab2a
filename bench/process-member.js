#!/usr/bin/env node
'use strict';
// One member of the one-gossiper-per-process benchmark (bench/processes.js):
// exactly ONE gossiper node in this process, default options, driven by the
// parent over the IPC channel of child_process.fork.
//
//   fork('bench/process-member.js', [IMPL, PORT, N, SEEDS])
//     IMPL   gossiper | original
//     PORT   the port this node listens on (127.0.0.1)
//     N      cluster size: "everyone known" means livePeers().length === N
//     SEEDS  comma-separated "host:port" seeds ('' for none)
//
// The member loads the implementation and builds the node, says 'loaded', and
// calls start() only when the parent says 'start', so that every member of a
// run starts at the same moment whatever Node's boot time was. It does no work
// of its own between the parent's requests except while a watch is armed (the
// join and spread phases, polling every 100 or 50 ms), so that the steady
// window measures the gossip alone: peer_failed / peer_alive events are
// forwarded as they come (rare), live-count changes only while watching.
//
// Messages, parent -> member:
//   { type: 'start' }
//   { type: 'watchLive', everyMs }             report { type: 'live', count } on change
//   { type: 'unwatchLive' }
//   { type: 'set', key, value }                setLocalState
//   { type: 'watchValue', peer, key, value, everyMs }  report { type: 'seen' } when peerValue matches
//   { type: 'get', id, peer, key }             reply { type: 'value', id, value }
//   { type: 'cpu', id }                        reply { type: 'cpu', id, user, system, rss } (µs, bytes)
//   { type: 'stop' }                           stop() and exit
// member -> parent: 'loaded', 'started', 'live', 'seen', 'value', 'cpu',
//   'failed' / 'alive' { peer, at } (at = Date.now()), 'error', 'uncaught'.
// The member exits when the IPC channel closes (the parent died).

const path = require('path');

const ROOT = path.join(__dirname, '..');
const [impl, portArg, nArg, seedsArg = ''] = process.argv.slice(2);
const port = Number(portArg);
const N = Number(nArg);
const seeds = seedsArg.split(',').filter(Boolean);

function send(m) {
  if (process.connected) {
    try { process.send(m); } catch (e) { /* parent gone */ }
  }
}

process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (e) => {
  // the original throws from socket handlers on malformed input; report and go on,
  // as the in-process benchmark does
  send({ type: 'uncaught', message: String(e && e.stack || e).slice(0, 1000) });
});

if ((impl !== 'gossiper' && impl !== 'original') || !Number.isInteger(port) || !Number.isInteger(N)) {
  console.error('usage: process-member.js gossiper|original PORT N SEEDS (forked by bench/processes.js)');
  process.exit(2);
}

// Two arguments only, as bench/cluster-worker.js does: with a third the
// original names itself "undefined:port".
const Impl = impl === 'gossiper' ? require(ROOT).Gossiper : require('../__test__/support/original').loadOriginal();
const g = new Impl(port, seeds);

g.on('peer_failed', (peer) => send({ type: 'failed', peer, at: Date.now() }));
g.on('peer_alive', (peer) => send({ type: 'alive', peer, at: Date.now() }));

let liveTimer = null;
let lastLive = -1;
let valueTimer = null;

function live() {
  try { return g.livePeers().length; } catch (e) { return -1; }
}

function read(peer, key) {
  try { return g.peerValue(peer, key); } catch (e) { return undefined; } // the original throws for unknown peers
}

process.on('message', (m) => {
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'start': {
      let answered = false;
      const done = (err) => {
        if (answered) return;
        answered = true;
        if (err) send({ type: 'error', message: `start: ${err.message}` });
        else send({ type: 'started', name: g.peer_name, at: Date.now() });
      };
      if (impl === 'gossiper') {
        g.start(done);
      } else {
        g.start(() => done());
        // listen errors surface on the server only; attach before listen() runs
        g.server.on('error', (e) => done(e));
      }
      break;
    }
    case 'watchLive': {
      clearInterval(liveTimer);
      lastLive = -1;
      const tick = () => {
        const c = live();
        if (c !== lastLive) { lastLive = c; send({ type: 'live', count: c, of: N, at: Date.now() }); }
      };
      tick();
      liveTimer = setInterval(tick, m.everyMs || 100);
      break;
    }
    case 'unwatchLive':
      clearInterval(liveTimer);
      liveTimer = null;
      send({ type: 'live', count: live(), of: N, at: Date.now() });
      break;
    case 'set':
      g.setLocalState(m.key, m.value);
      break;
    case 'watchValue': {
      clearInterval(valueTimer);
      const tick = () => {
        if (read(m.peer, m.key) === m.value) {
          clearInterval(valueTimer);
          valueTimer = null;
          send({ type: 'seen', key: m.key, at: Date.now() });
        }
      };
      valueTimer = setInterval(tick, m.everyMs || 50);
      tick();
      break;
    }
    case 'unwatchValue':
      clearInterval(valueTimer);
      valueTimer = null;
      break;
    case 'get':
      send({ type: 'value', id: m.id, value: read(m.peer, m.key) });
      break;
    case 'cpu': {
      const c = process.cpuUsage();
      send({ type: 'cpu', id: m.id, user: c.user, system: c.system, rss: process.memoryUsage.rss(), live: live() });
      break;
    }
    case 'stop': {
      clearInterval(liveTimer);
      clearInterval(valueTimer);
      let r;
      try { r = g.stop(); } catch (e) { /* already stopped */ }
      const bye = () => process.exit(0);
      if (r && typeof r.then === 'function') r.then(bye, bye);
      else setTimeout(bye, 50);
      setTimeout(bye, 3000).unref();
      break;
    }
    default:
      break;
  }
});

send({ type: 'loaded', pid: process.pid, impl, port });
