'use strict';
// Gossipers in worker_threads: when a worker's JavaScript environment goes
// away (terminate(), process.exit() in the worker, the process's own exit)
// its gossipers stop with it: the port is free once terminate() resolves, the
// others report the member failed, and the process neither crashes nor hangs
// (the napi-rs hazards: an addon image unloaded under running threads, a
// threadsafe function released after its environment is gone).
// Ports: 29500-29999.
//
//   node --test __test__/workers.test.js

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { Worker } = require('worker_threads');

const { Gossiper } = require('..');
const { waitFor, once, isFree, PortRange, stopAll, runNode } = require('./support/util');

const ports = new PortRange(29500, 29999);
const WORKER_MEMBER = path.join(__dirname, 'support', 'worker-member.js');
const PROCESS = path.join(__dirname, 'support', 'workers-process.js');
const OPTIONS = { gossipIntervalMs: 50 };
// Deno's terminate() resolves before the worker's environment is torn down
// (its port is free some 10 ms later): there the check may wait a second.
// Elsewhere the port must be free when terminate() resolves.
const SETTLE_MS = process.versions.deno ? 1000 : 0;
const freed = (port) => waitFor(() => isFree(port), SETTLE_MS, { interval: 5 }).then(() => true, () => false);

function memberWorker(port, seeds) {
  return new Worker(WORKER_MEMBER, { workerData: { port, seeds, options: OPTIONS } });
}

function message(worker, evs, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${evs} message from the worker within ${timeout} ms`)), timeout);
    const on = (m) => {
      if (!evs.includes(m.ev)) return;
      clearTimeout(timer);
      worker.off('message', on);
      resolve(m);
    };
    worker.on('message', on);
  });
}

async function started(worker) {
  const m = await message(worker, ['started', 'start_failed']);
  assert.equal(m.ev, 'started', m.message);
  return m.name;
}

/** A gossiper here and one in a worker seeded with it, the worker's alive here. */
async function pairWithWorker(t) {
  const [portA, portB] = [await ports.take(), await ports.take()];
  const nameA = `127.0.0.1:${portA}`;
  const nameB = `127.0.0.1:${portB}`;
  const a = new Gossiper({ ...OPTIONS, address: '127.0.0.1', port: portA });
  t.after(() => stopAll(a));
  await a.start();
  const w = memberWorker(portB, [nameA]);
  t.after(() => w.terminate());
  assert.equal(await started(w), nameB);
  await waitFor(() => a.livePeers().includes(nameB), 10000, { message: `${nameB} alive in ${nameA}` });
  return { a, w, nameA, nameB, portB };
}

test('a terminated worker stops its gossiper: port free at once, reported failed, a new worker takes the port', { timeout: 60000 }, async (t) => {
  const { a, w, nameA, nameB, portB } = await pairWithWorker(t);
  // mid-gossip: its writes are arriving
  await once(a, 'update', { filter: (peer, key) => peer === nameB && key === 'tick' });

  const failed = once(a, 'peer_failed', { filter: (peer) => peer === nameB, timeout: 20000 });
  failed.catch(() => {}); // awaited below, after the port check
  const t0 = Date.now();
  await w.terminate();
  const terminateMs = Date.now() - t0;
  assert.equal(await freed(portB), true, `port ${portB} still bound after terminate() resolved`);
  const [peer] = await failed;
  const detectMs = Date.now() - t0;
  assert.equal(peer, nameB);
  assert.deepEqual(a.deadPeers(), [nameB]);

  // a replacement binds the same port and is taken back
  const alive = once(a, 'peer_alive', { filter: (p) => p === nameB, timeout: 20000 });
  const w2 = memberWorker(portB, [nameA]);
  t.after(() => w2.terminate());
  assert.equal(await started(w2), nameB);
  await alive;
  assert.deepEqual(a.deadPeers(), []);
  t.diagnostic(`terminate() took ${terminateMs} ms; reported failed ${detectMs} ms after it began`);
});

test('a worker that calls process.exit() mid-gossip stops its gossiper too', { timeout: 60000 }, async (t) => {
  const { a, w, nameB, portB } = await pairWithWorker(t);

  const failed = once(a, 'peer_failed', { filter: (peer) => peer === nameB, timeout: 20000 });
  failed.catch(() => {}); // awaited below, after the port check
  const exited = new Promise((resolve) => w.once('exit', resolve));
  w.postMessage({ cmd: 'exit', code: 3 });
  assert.equal(await exited, 3);
  assert.equal(await freed(portB), true, `port ${portB} still bound after the worker exited`);
  await failed;
});

/** Runs support/workers-process.js MODE on `count` fresh ports; its JSON lines and exit. */
async function runProcess(mode, count, timeout) {
  const list = [];
  for (let i = 0; i < count; i++) list.push(await ports.take());
  const r = await runNode([PROCESS, mode, JSON.stringify(list)], { timeout });
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const exit = `exit ${r.code}, signal ${r.signal}${r.timedOut ? ', killed at the deadline' : ''}; stderr: ${r.stderr}`;
  return { ...r, lines, exit, names: list.map((p) => `127.0.0.1:${p}`) };
}

test('several workers in one process, none in the main thread: all terminated mid-gossip, the process exits cleanly', { timeout: 60000 }, async () => {
  const r = await runProcess('workers-only', 3, 30000);
  assert.equal(r.code, 0, r.exit);
  assert.equal(r.signal, null, r.exit);
  assert.deepEqual(r.lines.map((l) => l.ev), ['formed', 'ended'], r.exit);
  assert.deepEqual(r.lines[1].portsFree, [true, true, true]);
});

test('workers one after another, none in the main thread: each loads the addon after the last one was torn down', { timeout: 60000 }, async () => {
  const r = await runProcess('one-after-another', 3, 30000);
  assert.equal(r.code, 0, r.exit);
  assert.equal(r.signal, null, r.exit);
  assert.deepEqual(r.lines.map((l) => l.ev), ['ended'], r.exit);
  assert.deepEqual(r.lines[0].portsFree, [true, true, true]);
});

test('workers beside a main-thread gossiper: terminated or exited mid-gossip, reported failed, the process exits after stop()', { timeout: 90000 }, async () => {
  const r = await runProcess('with-main', 4, 60000);
  assert.equal(r.code, 0, r.exit);
  assert.equal(r.signal, null, r.exit);
  assert.deepEqual(r.lines.map((l) => l.ev), ['formed', 'ended', 'failed', 'stopped'], r.exit);
  assert.deepEqual(r.lines[1].portsFree, [true, true, true]);
  assert.deepEqual([...r.lines[2].peers].sort(), r.names.slice(1).sort());
});

test('process.exit() in the main thread while gossipers run there and in workers: exit code 0, no crash', { timeout: 60000 }, async () => {
  const r = await runProcess('exit', 3, 30000);
  assert.equal(r.code, 0, r.exit);
  assert.equal(r.signal, null, r.exit);
  assert.deepEqual(r.lines.map((l) => l.ev), ['formed'], r.exit);
});
