'use strict';
// The asynchronous interfaces: events.on() iteration, start({ signal }),
// stop({ signal, leave }) and Symbol.asyncDispose (`await using`, compiled
// by TypeScript, since Node 20 has the symbol but not the syntax).
//
// Ports: 28000-28499.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { on } = require('node:events');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Gossiper } = require('..');
const { waitFor, PortRange, stopAll, canConnect, runNode } = require('./support/util');

const ports = new PortRange(28000, 28499);
const FAST = { gossipIntervalMs: 100 };

async function node(seeds = []) {
  return new Gossiper({ port: await ports.take(), address: '127.0.0.1', seeds, ...FAST });
}

async function pair(t) {
  const a = await node();
  await a.start();
  const b = await node([a.peer_name]);
  t.after(() => stopAll(a, b));
  await b.start();
  await waitFor(() => a.livePeers().length === 2 && b.livePeers().length === 2, 10000, { message: 'the pair to meet' });
  return [a, b];
}

const isAbort = (err) => err.name === 'AbortError' && err.code === 'ABORT_ERR';
const statusOf = (g, peer) => (g.stats().peers.find((p) => p.name === peer) || {}).status;

test("for await (const [peer, key, value] of on(g, 'update', { signal })) yields updates until aborted", async (t) => {
  const [a, b] = await pair(t);
  const ac = new AbortController();
  const seen = [];
  const loop = (async () => {
    for await (const [peer, key, value] of on(b, 'update', { signal: ac.signal })) {
      if (key === '__heartbeat__') continue;
      seen.push([peer, key, value]);
      if (seen.length === 2) ac.abort();
    }
  })();
  a.setLocalState('job', 1);
  await waitFor(() => b.peerValue(a.peer_name, 'job') === 1, 10000, { message: 'the first write' });
  a.setLocalState('job', 2);
  await assert.rejects(loop, isAbort);
  assert.deepEqual(seen, [[a.peer_name, 'job', 1], [a.peer_name, 'job', 2]]);
});

test('start({ signal }) with an aborted signal rejects with an AbortError and does nothing', async () => {
  const g = await node();
  const reason = new Error('shutting down');
  await assert.rejects(g.start({ signal: AbortSignal.abort(reason) }), (err) => isAbort(err) && err.cause === reason);
  assert.equal(await canConnect(g.port), false, 'not listening');
  await g.start({ signal: new AbortController().signal });
  assert.equal(await canConnect(g.port), true, 'a later start works');
  await g.stop();
});

test('start({ signal }) aborted before it is listening stops the node and rejects', async (t) => {
  const [a] = await pair(t);
  const g = await node([a.peer_name]);
  t.after(() => stopAll(g));
  const ac = new AbortController();
  const started = g.start({ signal: ac.signal });
  // the outcome of a start arrives from the native side on a later turn
  ac.abort();
  await assert.rejects(started, isAbort);
  await waitFor(async () => !(await canConnect(g.port)), 10000, { message: 'the listener to close' });
  // it stopped (not merely stopped waiting): it starts again, on the same port
  await waitFor(async () => {
    try {
      await g.start();
      return true;
    } catch (err) {
      if (err.code !== 'ERR_GOSSIPER_RUNNING') throw err;
      return false; // still stopping
    }
  }, 10000, { message: 'a second start' });
  await waitFor(() => a.livePeers().includes(g.peer_name), 10000, { message: 'the restarted node to join' });
});

test('start({ signal }) aborted once listening changes nothing', async (t) => {
  const [a, b] = await pair(t);
  const ac = new AbortController();
  const g = await node([a.peer_name]);
  t.after(() => stopAll(g));
  await g.start({ signal: ac.signal });
  ac.abort();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await canConnect(g.port), true);
  g.setLocalState('still', 'here');
  await waitFor(() => b.peerValue(g.peer_name, 'still') === 'here', 10000, { message: 'gossip after the abort' });
});

test('start(callback) keeps node-gossip\'s form; bad start/stop options are TypeErrors with a code', async () => {
  const g = await node();
  assert.equal(g.start((err) => assert.ifError(err)), undefined);
  await waitFor(() => canConnect(g.port), 10000, { message: 'listening' });
  await g.stop();
  for (const [call, code] of [
    [() => g.start(42), 'ERR_GOSSIPER_INVALID_TYPE'],
    [() => g.start({ signal: 'soon' }), 'ERR_GOSSIPER_INVALID_TYPE'],
    [() => g.start({ sginal: AbortSignal.abort() }), 'ERR_GOSSIPER_UNKNOWN_OPTION'],
    [() => g.stop(true), 'ERR_GOSSIPER_INVALID_TYPE'],
    [() => g.stop({ signal: {} }), 'ERR_GOSSIPER_INVALID_TYPE'],
    [() => g.stop({ leav: true }), 'ERR_GOSSIPER_UNKNOWN_OPTION'],
  ]) {
    assert.throws(call, (err) => err instanceof TypeError && err.code === code, String(call));
  }
  assert.equal(await canConnect(g.port), false, 'no bad call started it');
});

test('stop({ signal }) with an aborted signal rejects and leaves the node running', async (t) => {
  const [a, b] = await pair(t);
  await assert.rejects(b.stop({ leave: true, signal: AbortSignal.abort() }), isAbort);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await canConnect(b.port), true);
  assert.equal(statusOf(a, b.peer_name), 'alive');
});

test('stop({ leave, signal }) aborted while stopping rejects at once; the node still stops and leaves', async (t) => {
  const [a, b] = await pair(t);
  const ac = new AbortController();
  const stopping = b.stop({ leave: true, signal: ac.signal });
  ac.abort();
  await assert.rejects(stopping, isAbort);
  await waitFor(() => statusOf(a, b.peer_name) === 'left', 5000, { message: 'a to see b leave' });
  await waitFor(async () => !(await canConnect(b.port)), 10000, { message: 'b to close' });
  await b.stop(); // resolves once stopped
});

test('g[Symbol.asyncDispose]() leaves the cluster', { skip: typeof Symbol.asyncDispose !== 'symbol' }, async (t) => {
  const [a, b] = await pair(t);
  assert.equal(typeof b[Symbol.asyncDispose], 'function');
  await b[Symbol.asyncDispose]();
  assert.equal(await canConnect(b.port), false, 'stopped once disposed');
  await waitFor(() => statusOf(a, b.peer_name) === 'left', 5000, { message: 'a to see b leave' });
});

test('`await using g = new Gossiper(...)` leaves at the end of its scope (TypeScript-compiled)', {
  skip: typeof Symbol.asyncDispose !== 'symbol',
  timeout: 120000,
}, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-using-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [seedPort, usedPort] = [await ports.take(), await ports.take()];
  const entry = path.join(__dirname, '..', 'index').replace(/\\/g, '/');
  fs.writeFileSync(path.join(dir, 'using.ts'), `
import { Gossiper } from ${JSON.stringify(entry)};

const opts = { address: '127.0.0.1', gossipIntervalMs: 100 };
const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 20)); };

async function main(): Promise<void> {
  const seed = new Gossiper({ port: ${seedPort}, ...opts });
  await seed.start();
  const name = '127.0.0.1:${usedPort}';
  {
    await using g = new Gossiper({ port: ${usedPort}, seeds: [seed.peer_name!], ...opts });
    await g.start();
    await until(() => seed.livePeers().includes(name) && g.livePeers().length === 2);
    console.log(JSON.stringify({ inScope: seed.stats().peers.find((p) => p.name === name)!.status }));
  }
  await until(() => seed.stats().peers.find((p) => p.name === name)!.status === 'left');
  console.log(JSON.stringify({ afterScope: 'left' }));
  await seed.stop();
}
main().catch((e) => { console.error(e); process.exit(1); });
`);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node',
      lib: ['ES2022', 'esnext.disposable'], types: ['node'], typeRoots: [path.join(__dirname, '..', 'node_modules', '@types')],
      outDir: dir,
    },
    files: ['using.ts'],
  }));
  const tsc = await runNode([require.resolve('typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.json'), '--pretty', 'false'], { timeout: 100000 });
  assert.equal(tsc.code, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
  assert.match(fs.readFileSync(path.join(dir, 'using.js'), 'utf8'), /__addDisposableResource/, 'compiled to the dispose helpers');
  const r = await runNode([path.join(dir, 'using.js')], { timeout: 20000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [{ inScope: 'alive' }, { afterScope: 'left' }]);
});
