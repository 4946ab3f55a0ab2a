#!/usr/bin/env node
'use strict';
// One cluster member for multi-process tests: runs one Gossiper and speaks
// JSON lines (use JsonLinesChild from ./util.js).
//
//   node cluster-node.js '{"port":23000,"seeds":["127.0.0.1:23001"],
//                          "options":{"gossipIntervalMs":100},"values":{"k":"v"}}'
//
// `values` are set before start(); the gossiper binds 127.0.0.1 unless
// options.address says otherwise.
//
// stdout, one JSON object per line, each with `t` (Date.now() here):
//   {ev:'started', name, pid}           {ev:'start_failed', code, message}
//   {ev:'new_peer'|'peer_alive'|'peer_failed'|'peer_left'|'peer_removed', peer}
//   {ev:'update', peer, key, value}     (heartbeats left out)
//   {ev:'delete', peer, key}
//   {ev:'state', id, name, all, live, dead, values: {peer: {key: value}}, generations: {peer: n}}
//   {ev:'ok', id, cmd, result}          {ev:'error', id, cmd, message}
// stdin, one JSON object per line (`id` is echoed back):
//   {cmd:'set', key, value, ttlMs}   {cmd:'delete', key}   {cmd:'state'}
//   {cmd:'stop', leave}       {cmd:'exit'}: stops, closes stdin and lets the
//                             process end by itself (it does not call exit()).
// If stdin closes (the test runner went away) it stops and ends too.

const readline = require('readline');
const path = require('path');
const { Gossiper } = require(path.join(__dirname, '..', '..'));

const HB = Gossiper.HEARTBEAT_KEY;
const config = JSON.parse(process.argv[2] || '{}');
const out = (obj) => process.stdout.write(`${JSON.stringify({ ...obj, t: Date.now() })}\n`);

const g = new Gossiper({
  address: '127.0.0.1',
  ...(config.options || {}),
  port: config.port || 0,
  seeds: config.seeds || [],
});
for (const [k, v] of Object.entries(config.values || {})) g.setLocalState(k, v);

for (const ev of ['new_peer', 'peer_alive', 'peer_failed', 'peer_left', 'peer_removed']) {
  g.on(ev, (peer) => out({ ev, peer }));
}
g.on('update', (peer, key, value) => {
  if (key !== HB) out({ ev: 'update', peer, key, value });
});
g.on('delete', (peer, key) => out({ ev: 'delete', peer, key }));

function state(id) {
  const values = {};
  for (const peer of g.allPeers()) {
    values[peer] = {};
    for (const key of g.peerKeys(peer)) if (key !== HB) values[peer][key] = g.peerValue(peer, key);
  }
  const generations = {};
  for (const p of g.stats().peers) generations[p.name] = p.generation;
  return { ev: 'state', id, name: g.peer_name, all: g.allPeers(), live: g.livePeers(), dead: g.deadPeers(), values, generations };
}

let ending = false;
async function end() {
  if (ending) return;
  ending = true;
  rl.close();
  process.stdin.destroy(); // a closed readline still holds a piped stdin open
  await g.stop();
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    out({ ev: 'error', message: `bad command line: ${e.message}` });
    return;
  }
  const { id, cmd } = msg;
  try {
    switch (cmd) {
      case 'set':
        g.setLocalState(msg.key, msg.value, msg.ttlMs === undefined ? undefined : { ttlMs: msg.ttlMs });
        out({ ev: 'ok', id, cmd });
        break;
      case 'delete':
        out({ ev: 'ok', id, cmd, result: g.deleteLocalState(msg.key) });
        break;
      case 'state':
        out(state(id));
        break;
      case 'stop':
        await g.stop({ leave: Boolean(msg.leave) });
        out({ ev: 'ok', id, cmd });
        break;
      case 'exit':
        await end();
        out({ ev: 'ok', id, cmd });
        break;
      default:
        throw new Error(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    out({ ev: 'error', id, cmd, message: e.message, code: e.code });
  }
});
rl.on('close', () => {
  end();
});

g.start().then(
  () => out({ ev: 'started', name: g.peer_name, pid: process.pid }),
  (err) => {
    out({ ev: 'start_failed', code: err.code, message: err.message });
    end();
  },
);
