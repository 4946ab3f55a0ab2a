// ESM and CommonJS entries give the same class, and it works from ESM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
import { Gossiper } from 'gossiper';
import gossiperDefault from 'gossiper';

const require = createRequire(import.meta.url);

test('import { Gossiper } and require() are the same class', () => {
  assert.equal(Gossiper, require('gossiper').Gossiper);
  assert.equal(gossiperDefault.Gossiper, Gossiper);
  assert.ok(new Gossiper({ port: 0 }) instanceof EventEmitter);
});

test('a gossiper imported as ESM gossips with one required as CommonJS', async () => {
  const { Gossiper: Cjs } = require('gossiper');
  const a = new Gossiper({ port: 0, address: '127.0.0.1', gossipIntervalMs: 50 });
  await a.start();
  const b = new Cjs({ port: 0, address: '127.0.0.1', seeds: [a.peer_name], gossipIntervalMs: 50 });
  await b.start();
  try {
    a.setLocalState('from', 'esm');
    const deadline = Date.now() + 10000;
    while (b.peerValue(a.peer_name, 'from') !== 'esm') {
      assert.ok(Date.now() < deadline, 'value did not arrive');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
