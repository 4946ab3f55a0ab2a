'use strict';
// The event burst of bench/reads.js: how many `update` events per second one
// process can hand to JavaScript listeners when the network brings them
// faster than they are consumed. `writers` gossipers hold `keys` keys each
// (half numbers, half strings; 1000 keeps within the default maxKeysPerPeer)
// before anyone joins; `listeners` gossipers in the same process then start
// at once, seeded with the writers, and each receives every key: listeners x
// writers x keys events. Rate = those events / the time from the first to the
// last of them. Everything (the native runtime producing the events,
// the JavaScript thread consuming them) shares the process, as in an app.

const { threadTicks, threadCpu } = require('./thread-cpu');

async function burst(Impl, host, basePort, params) {
  const { keys, writers: nWriters, listeners, intervalMs, options } = params;
  const make = (port, seeds) => (intervalMs || options
    ? new Impl({ port, seeds, address: host, ...(intervalMs ? { gossipIntervalMs: intervalMs } : {}), ...options })
    : new Impl(port, seeds, host));
  const start = (g) => new Promise((ok, fail) => g.start((err) => (err ? fail(err) : ok())));
  const writerNames = new Set();
  const writers = [];
  for (let w = 0; w < nWriters; w++) {
    const g = make(basePort + w, w === 0 ? [] : [`${host}:${basePort}`]);
    for (let k = 0; k < keys; k++) g.setLocalState(`b${k}`, k % 2 ? k : `value-${w}-${k}`);
    writerNames.add(`${host}:${basePort + w}`);
    writers.push(g);
  }
  await Promise.all(writers.map(start));
  // the writers know each other before the listeners come
  while (!writers.every((g) => g.livePeers().length >= nWriters)) await new Promise((ok) => setTimeout(ok, 50));

  const total = keys * nWriters * listeners;
  let events = 0;
  let first = 0n;
  let last = 0n;
  let finished;
  const done = new Promise((ok) => { finished = ok; });
  const gs = [];
  const seeds = [...writerNames].slice(0, 2);
  for (let i = 0; i < listeners; i++) {
    const g = make(basePort + nWriters + i, seeds);
    g.on('update', (peer, key) => {
      if (key.charCodeAt(0) !== 98 /* b */ || !writerNames.has(peer)) return;
      if (events === 0) first = process.hrtime.bigint();
      events++;
      if (events === total) {
        last = process.hrtime.bigint();
        finished();
      }
    });
    gs.push(g);
  }
  const c0 = process.cpuUsage();
  const th0 = threadTicks();
  const t0 = process.hrtime.bigint();
  await Promise.all(gs.map(start));
  const capped = await Promise.race([done.then(() => false), new Promise((ok) => setTimeout(() => ok(true), params.capS * 1000))]);
  if (capped) last = process.hrtime.bigint();
  const cpu = process.cpuUsage(c0);
  const threads = threadCpu(th0, threadTicks(), Number(last - t0) / 1e6);
  const seconds = events === 0 ? null : Number(last - first) / 1e9;
  const wall = Number(last - t0) / 1e9;
  for (const g of [...writers, ...gs]) { try { g.stop(); } catch (e) { /* ignore */ } }
  return {
    keys,
    writers: nWriters,
    listeners,
    intervalMs: intervalMs || 1000,
    events,
    expected: total,
    complete: !capped,
    seconds,
    sinceStartS: wall,
    eventsPerS: events === 0 ? 0 : Math.round(events / seconds),
    cpuPct: Math.round(((cpu.user + cpu.system) / 1e3 / (wall * 1e3)) * 1000) / 10,
    cpuByThread: threads,
    rssMB: Math.round(process.memoryUsage().rss / 104857.6) / 10,
  };
}

module.exports = { burst };
