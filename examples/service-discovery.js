#!/usr/bin/env node
'use strict';
// Service discovery: backends publish { role, httpPort }; a client picks a
// live backend at random for each request and notices when one goes away.
const http = require('http');
const { Gossiper } = require('..');

const BASE = Number(process.env.PORT_BASE || 9400);
const seed = `127.0.0.1:${BASE}`;

async function backend(i) {
  const server = http.createServer((req, res) => res.end(`hello from backend ${i}\n`));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const g = new Gossiper({ port: BASE + i, seeds: [seed], address: '127.0.0.1', profile: 'local' });
  await g.start();
  g.setLocalState('service', { role: 'backend', httpPort: server.address().port });
  return { g, server };
}

function liveBackends(g) {
  return g
    .livePeers()
    .map((peer) => ({ peer, service: g.peerValue(peer, 'service') }))
    .filter(({ service }) => service && service.role === 'backend');
}

function get(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body.trim()));
    }).on('error', reject);
  });
}

(async () => {
  const backends = [await backend(0), await backend(1), await backend(2)];
  const client = new Gossiper({ port: BASE + 10, seeds: [seed], address: '127.0.0.1', profile: 'local' });
  client.on('peer_failed', (p) => console.log(`client: ${p} failed, no longer used`));
  client.on('peer_left', (p) => console.log(`client: ${p} left, no longer used`));
  await client.start();
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  while (liveBackends(client).length < 3) await wait(50);

  for (let i = 0; i < 4; i++) {
    const choices = liveBackends(client);
    const pick = choices[Math.floor(Math.random() * choices.length)];
    console.log(`client -> ${pick.peer} (http ${pick.service.httpPort}): ${await get(pick.service.httpPort)}`);
  }

  console.log('backend 2 goes away');
  await backends[2].g.stop();
  backends[2].server.close();
  while (liveBackends(client).length !== 2) await wait(50);
  for (let i = 0; i < 3; i++) {
    const choices = liveBackends(client);
    const pick = choices[Math.floor(Math.random() * choices.length)];
    console.log(`client -> ${pick.peer}: ${await get(pick.service.httpPort)}`);
  }
  await client.stop();
  for (const b of backends.slice(0, 2)) {
    await b.g.stop();
    b.server.close();
  }
})();
