#!/usr/bin/env node
'use strict';
// The ORIGINAL node-gossip (gossiper@0.0.3, see ../support/original.js) on
// one test host, speaking the same JSON-lines protocol as gossip-host.js (so
// gossip-host's Member drives it):
//
//   node original-host.js '{"port":9000,"seeds":["198.18.7.1:9000"],"naming":"hostname"}'
//
// Naming. The original has two ways to pick its name, both awkward in a
// network namespace (which shares the machine's host name):
// - naming 'hostname' (default): constructed without ipToBind, it runs
//   `hostname`, resolves it (dns.lookup, IPv4) and names itself and listens on
//   that address -- its ordinary, unmodified code path. On this machine the
//   host name resolves to 127.0.0.1, so the test gives the namespace its own
//   /etc/hosts: `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over
//   /etc/hosts for the processes it starts (prepareHostsFile() below writes
//   it). Before starting we check the lookup gives this host's address and
//   fail clearly otherwise.
// - naming 'preset': constructed with ipToBind = the host's address, which
//   alone would name it "undefined:<port>" (it reads a field it never sets),
//   so `g.address` is preset to the same address (as support/original-smoke.js
//   does).
//
// Differences from gossip-host.js: no 'delete' op (the original cannot
// delete), no 'peer_removed'/'delete' events, no stats in dumps, and
// 'update' events also come for this node's own heartbeat only if asked.
//
// Required as a module it exports the /etc/netns helpers.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HEARTBEAT = '__heartbeat__';
const NETNS_ETC = '/etc/netns';

// --------------------------------------------------------- test side ----

// Gives host `host` (a harness Host) an /etc/hosts in which the machine's
// host name resolves to the host's own address. Takes effect for processes
// started afterwards with `ip netns exec` (spawnNode does that).
function prepareHostsFile(host) {
  const hostname = os.hostname();
  const dir = path.join(NETNS_ETC, host.ns);
  fs.mkdirSync(dir, { recursive: true });
  let base = '';
  try { base = fs.readFileSync('/etc/hosts', 'utf8'); } catch { /* none */ }
  // Keep every other entry; drop the lines naming this host.
  const kept = base.split('\n').filter((l) => {
    const fields = l.replace(/#.*/, '').trim().split(/\s+/);
    return !(fields.length > 1 && fields.slice(1).includes(hostname));
  });
  fs.writeFileSync(path.join(dir, 'hosts'), `${kept.join('\n').trim()}\n${host.ip} ${hostname}\n`);
  return dir;
}

function removeHostsFile(host) {
  fs.rmSync(path.join(NETNS_ETC, host.ns), { recursive: true, force: true });
  try { fs.rmdirSync(NETNS_ETC); } catch { /* not empty or absent */ }
}

// Removes /etc/netns/<ns> directories of harness namespaces that no longer
// exist (left by a test killed before its cleanup ran).
function removeStaleHostsFiles(harness) {
  let entries = [];
  try { entries = fs.readdirSync(NETNS_ETC); } catch { return []; }
  const live = new Set(harness._listNetns());
  const removed = [];
  for (const e of entries) {
    if (e.startsWith(harness.PREFIX) && !live.has(e)) {
      fs.rmSync(path.join(NETNS_ETC, e), { recursive: true, force: true });
      removed.push(e);
    }
  }
  try { fs.rmdirSync(NETNS_ETC); } catch { /* not empty or absent */ }
  return removed;
}

// ---------------------------------------------------------- host side ----

function runHost() {
  const { serveCommands, replyAndExit, setValues } = require('./host-commands');
  const { loadOriginal, originalSelfAddress } = require('../support/original');

  const config = JSON.parse(process.argv[2] || '{}');
  const hostIp = config.address || process.env.GOSSIPER_NET_HOST_IP;
  const naming = config.naming || 'hostname';
  const out = (obj) => process.stdout.write(`${JSON.stringify({ ...obj, t: Date.now() })}\n`);
  const fatal = (err) => {
    try { out({ type: 'fatal', message: String(err && err.stack || err) }); } catch { /* stdout gone */ }
    process.exit(1);
  };
  // The original throws from socket handlers on bad input: that kills it.
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);

  const Gossiper = loadOriginal();
  let g;
  let running = false;

  function attach() {
    for (const ev of ['new_peer', 'peer_failed', 'peer_alive']) g.on(ev, (peer) => out({ type: 'event', ev, peer }));
    g.on('update', (peer, key, value) => {
      if (key !== HEARTBEAT || config.heartbeatEvents) out({ type: 'event', ev: 'update', peer, key, value });
    });
  }

  function start() {
    return new Promise((resolve, reject) => {
      g.start(() => { running = true; resolve({ name: g.peer_name }); });
      g.server.once('error', reject);
    });
  }

  function dump() {
    const values = {};
    for (const peer of g.allPeers()) {
      const v = {};
      for (const key of g.peerKeys(peer)) if (key !== HEARTBEAT) v[key] = g.peerValue(peer, key);
      values[peer] = v;
    }
    return { name: g.peer_name, running, live: g.livePeers(), dead: g.deadPeers(), all: g.allPeers(), values };
  }

  let ending = false;
  function end(reply) {
    if (ending) return;
    ending = true;
    try { if (running) g.stop(); } catch { /* exiting anyway */ }
    running = false;
    replyAndExit(reply);
  }

  const handlers = {
    set(msg) { return setValues(g, msg); },
    delete() { throw new Error('the original node-gossip cannot delete a key'); },
    dump() { return dump(); },
    stop() { if (running) g.stop(); running = false; return {}; },
    start() {
      if (running) throw new Error('already running');
      return start();
    },
  };

  serveCommands(handlers, out, end);

  (async () => {
    if (naming === 'hostname') {
      const addr = await originalSelfAddress();
      if (hostIp && addr !== hostIp) {
        throw new Error(`host name ${os.hostname()} resolves to ${addr} here, not to this host's address ${hostIp}: `
          + `the original would name itself ${addr}:${config.port}. Write /etc/netns/<namespace>/hosts first `
          + '(prepareHostsFile) or use naming "preset"');
      }
      g = new Gossiper(config.port, config.seeds || []);
    } else if (naming === 'preset') {
      g = new Gossiper(config.port, config.seeds || [], hostIp);
      g.address = hostIp; // the field the original reads but never sets
    } else {
      throw new Error(`unknown naming ${JSON.stringify(naming)}`);
    }
    attach();
    for (const [k, v] of Object.entries(config.values || {})) g.setLocalState(k, v);
    const r = await start().catch((err) => {
      out({ type: 'start_failed', code: err.code, message: err.message });
      end();
      return null;
    });
    if (r) out({ type: 'started', name: g.peer_name, pid: process.pid, naming });
  })().catch(fatal);
}

module.exports = { prepareHostsFile, removeHostsFile, removeStaleHostsFiles, NETNS_ETC };

if (require.main === module) runHost();
