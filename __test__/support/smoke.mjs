// The smoke suite for other runtimes (Bun, Deno; scripts/runtimes.js runs it,
// and __test__/smoke.test.js under Node): one ES module, nothing but the
// package's own entry and the runtime's node: modules.
//
//   node|bun __test__/support/smoke.mjs        deno run -A __test__/support/smoke.mjs
//
// Three gossipers on 127.0.0.1 form a cluster, a value set on one reaches the
// others with its events, one leaves and the others report it, then all stop
// and the script falls off its end: the runtime must exit by itself (a
// gossiper that keeps it alive after stop(), or a crash at exit, shows in
// the exit status the caller checks). Prints one JSON line per step, then
// {"ok":true,...}; on failure {"ok":false,"error":...} and exit code 1.
import { Gossiper } from '../../index.mjs';

const ROUND = 50;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));

async function until(what, cond, timeout = 15000) {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function main() {
  const t0 = Date.now();
  const options = { address: '127.0.0.1', port: 0, gossipIntervalMs: ROUND };
  const a = new Gossiper(options);
  await a.start();
  const b = new Gossiper({ ...options, seeds: [a.peer_name] });
  const c = new Gossiper({ ...options, seeds: [a.peer_name] });
  const all = [a, b, c];
  const events = { new_peer: 0, update: 0, peer_failed: 0, peer_left: 0 };
  const updates = [];
  for (const g of all) {
    g.on('new_peer', () => events.new_peer++);
    g.on('peer_failed', () => events.peer_failed++);
    g.on('peer_left', () => events.peer_left++);
    g.on('update', (peer, key, value) => {
      events.update++;
      if (key === 'greeting') updates.push({ at: g.peer_name, peer, value });
    });
  }
  await Promise.all([b.start(), c.start()]);
  const names = all.map((g) => g.peer_name).sort();
  await until('every member to see all three alive', () =>
    all.every((g) => JSON.stringify([...g.livePeers()].sort()) === JSON.stringify(names)));
  step('formed', { names, ms: Date.now() - t0 });

  const value = { hello: 'world', n: 42, list: [1, 'two', null], nested: { ok: true } };
  a.setLocalState('greeting', value);
  await until('the value at b and c', () =>
    [b, c].every((g) => JSON.stringify(g.peerValue(a.peer_name, 'greeting')) === JSON.stringify(value)));
  await until('update events at b and c', () => updates.filter((u) => u.peer === a.peer_name).length >= 2);
  if (JSON.stringify(updates[0].value) !== JSON.stringify(value)) throw new Error(`update event carried ${JSON.stringify(updates[0].value)}`);
  step('values', { updates: updates.length });

  // a leave is reported as peer_left, not as a failure
  const left = new Promise((resolve) => a.once('peer_left', resolve));
  await c.leave();
  const gone = await left;
  if (gone !== c.peer_name) throw new Error(`a reported ${gone} left, expected ${c.peer_name}`);
  step('left', { peer: gone });

  if (events.new_peer < 4) throw new Error(`only ${events.new_peer} new_peer events`);
  await Promise.all([a.stop(), b.stop()]);
  console.log(JSON.stringify({ ok: true, ms: Date.now() - t0, events }));
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }));
  process.exitCode = 1;
  // a failed run must not be held open by a gossiper that still runs
  setTimeout(() => process.exit(1), 1000).unref();
});
