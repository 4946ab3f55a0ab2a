#!/usr/bin/env node
'use strict';
// Smoke test for the ORIGINAL node-gossip (gossiper@0.0.3 over the msgpack
// shim): three original Gossipers in this process on 127.0.0.1, one seed.
// Each sets a value; we wait until every node sees the other two nodes'
// values, print the timings and livePeers(), stop everything and exit.
// Exit code 0 on success, 1 on failure/timeout. Run: node __test__/support/original-smoke.js
//
// Env: ORIGINAL_SMOKE_BASE_PORT (default 21001; ports BASE..BASE+2),
//      ORIGINAL_SMOKE_TIMEOUT_MS (default 25000).

const { loadOriginal, originalSelfAddress } = require('./original');

const BASE_PORT = Number(process.env.ORIGINAL_SMOKE_BASE_PORT || 21001);
const TIMEOUT_MS = Number(process.env.ORIGINAL_SMOKE_TIMEOUT_MS || 25000);
const COUNT = 3;
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(2)}s`;
const log = (...a) => console.log(`[${elapsed()}]`, ...a);

const warnings = [];
process.on('warning', (w) => {
  warnings.push(`${w.name}${w.code ? ` ${w.code}` : ''}: ${w.message}`);
});

let nodes = [];
let finished = false;

function finish(code, why) {
  if (finished) return;
  finished = true;
  if (why) (code === 0 ? console.log : console.error)(`[${elapsed()}] ${why}`);
  for (const n of nodes) {
    try {
      if (n.g.server) n.g.stop();
    } catch (e) {
      console.error(`stop() of ${n.name} threw: ${e && e.stack}`);
    }
  }
  if (warnings.length) {
    console.log(`process warnings (${warnings.length}):`);
    for (const w of warnings) console.log(`  ${w}`);
  }
  console.log(`${code === 0 ? 'PASS' : 'FAIL'}: original-smoke in ${elapsed()}`);
  // Outgoing gossip sockets of the original may still be closing; don't wait.
  setImmediate(() => process.exit(code));
}

process.on('uncaughtException', (e) => finish(1, `uncaught exception: ${e && e.stack}`));
process.on('unhandledRejection', (e) => finish(1, `unhandled rejection: ${e && e.stack}`));
const deadline = setTimeout(() => {
  for (const n of nodes) {
    log(`${n.name} knows ${JSON.stringify(n.g.allPeers())}, live ${JSON.stringify(n.g.livePeers())}`);
  }
  finish(1, `timed out after ${TIMEOUT_MS} ms before every node saw every value`);
}, TIMEOUT_MS);
deadline.unref();

function valueOf(g, peer, key) {
  return g.peers[peer] ? g.peerValue(peer, key) : undefined;
}

async function main() {
  const Gossiper = loadOriginal();

  // Without ipToBind the original names itself and listens on the IPv4
  // address `hostname` resolves to. Only loopback is acceptable here.
  const addr = await originalSelfAddress();
  let ipToBind;
  let host = addr;
  if (!/^127\./.test(addr || '')) {
    // Fallback for hosts whose name does not resolve to loopback: bind
    // 127.0.0.1 explicitly and pre-set the `address` field the original
    // forgets to assign (otherwise it names itself "undefined:<port>").
    log(`hostname resolves to ${addr}, not loopback: using ipToBind=127.0.0.1 with the address workaround`);
    ipToBind = '127.0.0.1';
    host = '127.0.0.1';
  } else {
    log(`original nodes will name themselves ${host}:<port> (hostname lookup, no ipToBind)`);
  }

  const names = [];
  for (let i = 0; i < COUNT; i++) names.push(`${host}:${BASE_PORT + i}`);
  const seed = names[0];

  nodes = names.map((name, i) => {
    const seeds = i === 0 ? [] : [seed];
    const g = ipToBind ? new Gossiper(BASE_PORT + i, seeds, ipToBind) : new Gossiper(BASE_PORT + i, seeds);
    if (ipToBind) g.address = host;
    return { name, g, value: `value-of-node-${i + 1}`, converged: null };
  });

  // Start all; listen errors (e.g. EADDRINUSE) come as 'error' on g.server.
  await Promise.all(nodes.map((n) => new Promise((resolve, reject) => {
    n.g.start(resolve);
    n.g.server.on('error', (e) => reject(new Error(`${n.name}: ${e.message}`)));
  })));
  const tStarted = Date.now();
  log(`started ${nodes.map((n) => n.g.peer_name).join(', ')} (seed ${seed})`);
  for (const n of nodes) {
    if (n.g.peer_name !== n.name) throw new Error(`node named itself ${n.g.peer_name}, expected ${n.name}`);
    n.g.setLocalState('smoke', n.value);
  }

  await new Promise((resolve) => {
    const timer = setInterval(() => {
      let all = true;
      for (const n of nodes) {
        if (n.converged !== null) continue;
        const ok = nodes.every((o) => o === n || valueOf(n.g, o.name, 'smoke') === o.value);
        if (ok) {
          n.converged = Date.now() - tStarted;
          log(`${n.name} sees all other values after ${n.converged} ms`);
        } else {
          all = false;
        }
      }
      if (all) {
        clearInterval(timer);
        resolve();
      }
    }, 25);
  });

  let ok = true;
  for (const n of nodes) {
    const live = n.g.livePeers().slice().sort();
    log(`${n.name} livePeers: ${JSON.stringify(live)}`);
    for (const o of nodes) {
      if (!live.includes(o.name)) {
        ok = false;
        console.error(`${n.name} does not list ${o.name} as live`);
      }
    }
  }
  const slowest = Math.max(...nodes.map((n) => n.converged));
  finish(ok ? 0 : 1, ok ? `converged: all ${COUNT} nodes saw all values within ${slowest} ms of start` : 'livePeers check failed');
}

main().catch((e) => finish(1, `error: ${e && e.stack}`));
