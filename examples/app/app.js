#!/usr/bin/env node
'use strict';
// One cluster member as a container runs it, configured from the
// environment (the same app for examples/compose and examples/kubernetes):
//
//   GOSSIP_PORT         gossip port (default 9000)
//   GOSSIP_SEEDS        members to contact first, "host:port,host:port"
//   GOSSIP_ADDRESS      address to bind (default: the host name's IPv4 address,
//                       which in a container or pod is its own)
//   GOSSIP_CLUSTER      cluster name (default none)
//   GOSSIP_INTERVAL_MS  gossip interval (default 1000)
//   HTTP_PORT           /healthz and /members (default 8080; 0: no HTTP)
//
// It logs one JSON line per membership event. On SIGTERM (docker stop, a
// pod's deletion) or SIGINT it tells the cluster it leaves, so the others
// report it gone within a round instead of after the failure detector's
// timeout, and exits 0.
const http = require('http');
const os = require('os');
const { Gossiper } = require('gossiper');

const env = process.env;
const log = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);

function member() {
  const options = {
    port: Number(env.GOSSIP_PORT || 9000),
    seeds: (env.GOSSIP_SEEDS || '').split(',').map((s) => s.trim()).filter(Boolean),
    gossipIntervalMs: Number(env.GOSSIP_INTERVAL_MS || 1000),
  };
  if (env.GOSSIP_ADDRESS) options.address = env.GOSSIP_ADDRESS;
  if (env.GOSSIP_CLUSTER) options.clusterName = env.GOSSIP_CLUSTER;
  try {
    return new Gossiper(options);
  } catch (e) {
    log('error', { code: e.code, message: e.message });
    return process.exit(1);
  }
}

function serve(g, port) {
  const server = http.createServer((req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/healthz') return send(g.peer_name ? 200 : 503, { ok: Boolean(g.peer_name) });
    if (req.url === '/members') {
      const peers = g.stats().peers.map(({ name, status, phi }) => ({ name, status, phi, host: g.peerValue(name, 'host') }));
      return send(200, { self: g.peer_name, peers });
    }
    return send(404, { error: 'not found' });
  });
  return new Promise((resolve) => server.listen(port, () => resolve(server)));
}

async function main() {
  const g = member();
  for (const event of ['new_peer', 'peer_alive', 'peer_failed', 'peer_left', 'peer_removed']) g.on(event, (peer) => log(event, { peer }));
  const server = Number(env.HTTP_PORT ?? 8080) > 0 ? await serve(g, Number(env.HTTP_PORT ?? 8080)) : null;
  try {
    await g.start();
  } catch (e) {
    log('error', { code: e.code, message: e.message });
    process.exit(1);
  }
  g.setLocalState('host', os.hostname());
  log('started', { peer: g.peer_name, seeds: g.seeds });

  let leaving = false;
  const leave = async (signal) => {
    if (leaving) return;
    leaving = true;
    log('leaving', { signal });
    await g.leave();
    if (server) server.close();
    log('left');
    process.exit(0);
  };
  process.on('SIGTERM', () => leave('SIGTERM'));
  process.on('SIGINT', () => leave('SIGINT'));
}

main();
