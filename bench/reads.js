#!/usr/bin/env node
'use strict';
// Read-path and event-delivery micro-benchmarks: gossiper vs the original.
//
//   npm run bench:reads          # = node bench/reads.js
//   node bench/reads.js [options]
//     --calls 1000000     calls per measurement (default 1e6)
//     --repeat 5          measurements per operation; the median is reported (default 5)
//     --impl both         gossiper | original | both (default both)
//     --event-seconds 10  length of each event-delivery measurement (default 10)
//     --no-events         skip the event-delivery benchmarks (steady and burst)
//     --burst-writers 20  writers of 1000 keys each in the burst (default 20)
//     --burst-listeners 50  listeners receiving them (default 50)
//     --base-port 12500   first listening port (runs use disjoint ranges below 32768)
//     --json FILE         write the results as JSON (default bench/out/reads-<stamp>.json)
//     --readme, --no-readme  do or do not put the figures in bench/README.md (default:
//                         only for a run given no option above but --json, --base-port)
//     --render FILE       run nothing: write bench/README.md's section from a saved JSON
//
// 1. Reads. A converged 10-peer cluster of one implementation in a child
//    process (one child per implementation, one after the other); every peer
//    holds the same 20 keys (strings, numbers, objects). On peer 0, for
//    `--calls` calls each: peerValue(peer, key) over the 9 other peers x 20
//    keys, peerKeys(peer), livePeers(), getLocalState(key). ns/call is the
//    median of `--repeat` timed loops after a warm-up; "loop" is the same
//    loop calling an empty function (the harness's own cost, included in
//    every row). Ratio = gossiper / original (target <= 2x).
// 2. Events. One process, 10 peers: peer 0 (the writer) rewrites its 1000
//    keys in batches (a tight loop of setLocalState, then yields); the 9
//    others count `update` events; events/s is measured at the listeners over
//    `--event-seconds`. Runs: both implementations with default settings
//    (1 s rounds: the protocol, not delivery, is the limit there), then
//    gossiper with 10 ms rounds, which pushes the native -> JS event path
//    towards its ceiling.
// 3. Event burst (bench/event-burst.js): --burst-writers gossipers holding
//    1000 keys each, --burst-listeners gossipers joining them at once in the
//    same process; each listener receives every key. Events/s from the first to the last of those
//    updates. Runs: both implementations with default settings (1 s rounds;
//    gossiper's 64 KiB messages carry a listener's 20 000 updates in a chain
//    of catch-up exchanges, catchUpExchanges), then gossiper tuned for
//    throughput (1 MiB messages, two runtime threads: GOSSIPER_THREADS=2),
//    where the native runtime producing and JavaScript consuming are the limit.
//
// Exit code: 0 ok, 1 a child failed or timed out, 2 bad arguments.

const { fork, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { monitorEventLoopDelay } = require('perf_hooks');
const sections = require('./sections');

const ROOT = path.join(__dirname, '..');
const PEERS = 10;
const KEYS = 20;

// ================================================================== child

async function child(kind, impl, basePort, params) {
  const send = (m) => new Promise((ok) => process.send(m, () => ok()));
  process.on('disconnect', () => process.exit(5));
  const Impl = impl === 'gossiper' ? require(ROOT).Gossiper : require('../__test__/support/original').loadOriginal();
  const host = impl === 'gossiper' ? '127.0.0.1' : await require('../__test__/support/original').originalSelfAddress();
  if (kind === 'burst') {
    await send({ type: 'result', result: await require('./event-burst').burst(Impl, host, basePort, params) });
    setTimeout(() => process.exit(0), 200);
    return;
  }
  const names = [];
  for (let i = 0; i < PEERS; i++) names.push(`${host}:${basePort + i}`);
  const seeds = names.slice(0, 2);
  // 'writer': only peer 0 here; 'listeners': peers 1..9 here (the writer is
  // another process); 'reads' and 'events': all ten peers here.
  const local = kind === 'writer' ? [0] : kind === 'listeners' ? names.map((_, i) => i).slice(1) : names.map((_, i) => i);
  const gs = [];
  for (const i of local) {
    const s = seeds.filter((x) => x !== names[i]);
    gs[i] = params.intervalMs
      ? new Impl({ port: basePort + i, seeds: s, gossipIntervalMs: params.intervalMs })
      : new Impl(basePort + i, s);
  }
  const mine = local.map((i) => gs[i]);
  let updates = 0;
  let writerUpdates = 0;
  for (const i of local) {
    if (i === 0) continue;
    gs[i].on('update', (peer) => {
      updates++;
      if (peer === names[0]) writerUpdates++;
    });
  }
  await Promise.all(mine.map((g) => new Promise((ok, fail) => {
    g.start((err) => (err ? fail(err) : ok()));
    if (impl === 'original') g.server.on('error', fail);
  })));

  if (kind === 'writer') {
    const writer = gs[0];
    let writes = 0;
    let counter = 0;
    let writing = true;
    const a = process.hrtime.bigint();
    const batch = () => {
      if (!writing) return;
      for (let k = 0; k < params.keys; k++) writer.setLocalState(`w${k}`, ++counter);
      writes += params.keys;
      setImmediate(batch);
    };
    process.on('message', async (m) => {
      if (m && m.type === 'stop') {
        writing = false;
        const s = Number(process.hrtime.bigint() - a) / 1e9;
        await send({ type: 'result', result: { writesPerS: Math.round(writes / s), seconds: s } });
        writer.stop();
        setTimeout(() => process.exit(0), 200);
      }
    });
    await send({ type: 'ready' });
    batch();
    return;
  }

  const data = (i, k) => {
    switch (k % 4) {
      case 0: return `value-${i}-${k}`;
      case 1: return i * 1000 + k;
      case 2: return { peer: i, key: k, tags: ['a', 'b'], ok: true };
      default: return [i, k, `s${k}`];
    }
  };
  const keys = [];
  for (let k = 0; k < KEYS; k++) keys.push(`key${k}`);
  if (kind === 'reads') {
    gs.forEach((g, i) => keys.forEach((key, k) => g.setLocalState(key, data(i, k))));
  }
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const converged = () => local.every((i) => gs[i].livePeers().length === PEERS && names.every((n, j) => j === i ||
    (kind !== 'reads' || keys.every((key, k) => { try { return same(gs[i].peerValue(n, key), data(j, k)); } catch (e) { return false; } }))));
  const t0 = Date.now();
  while (!converged()) {
    if (Date.now() - t0 > 120000) throw new Error('cluster did not converge within 120 s');
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const convergeMs = Date.now() - t0;

  if (kind === 'reads') {
    const g = gs[0];
    const others = names.slice(1);
    const n = params.calls;
    const ops = {
      loop: () => { const f = () => undefined; let s = 0; for (let i = 0; i < n; i++) if (f(others[i % 9], keys[i % KEYS]) === undefined) s++; return s; },
      peerValue: () => { let s = 0; for (let i = 0; i < n; i++) if (g.peerValue(others[i % 9], keys[i % KEYS]) !== undefined) s++; return s; },
      peerKeys: () => { let s = 0; for (let i = 0; i < n; i++) s += g.peerKeys(others[i % 9]).length; return s; },
      livePeers: () => { let s = 0; for (let i = 0; i < n; i++) s += g.livePeers().length; return s; },
      getLocalState: () => { let s = 0; for (let i = 0; i < n; i++) if (g.getLocalState(keys[i % KEYS]) !== undefined) s++; return s; },
    };
    const out = { convergeMs, calls: n, ops: {} };
    for (const [name, fn] of Object.entries(ops)) {
      fn(); // warm-up (JIT)
      const samples = [];
      let check = 0;
      for (let r = 0; r < params.repeat; r++) {
        await new Promise((ok) => setImmediate(ok)); // let timers and native events run between loops
        const a = process.hrtime.bigint();
        check = fn();
        samples.push(Number(process.hrtime.bigint() - a) / n);
      }
      samples.sort((x, y) => x - y);
      out.ops[name] = { nsPerCall: samples[Math.floor(samples.length / 2)], min: samples[0], max: samples[samples.length - 1], check };
    }
    out.samples = { peerKeysLength: g.peerKeys(others[0]).length, livePeersLength: g.livePeers().length };
    await send({ type: 'result', result: out });
  } else {
    // events: the writer rewrites its keys in batches until the window ends
    // (in 'listeners' mode the writer is another process and writes = 0 here)
    const writer = gs[0];
    const nKeys = params.keys;
    const wkeys = [];
    for (let k = 0; k < nKeys; k++) wkeys.push(`w${k}`);
    let writes = 0;
    let counter = 0;
    let writing = true;
    const batch = () => {
      if (!writing || !writer) return;
      for (let k = 0; k < nKeys; k++) writer.setLocalState(wkeys[k], ++counter);
      writes += nKeys;
      if (params.pauseMs > 0) setTimeout(batch, params.pauseMs); else setImmediate(batch);
    };
    batch();
    await new Promise((ok) => setTimeout(ok, 2000)); // ramp up
    const eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    const u0 = updates, w0 = writerUpdates, wr0 = writes;
    const c0 = process.cpuUsage();
    const a = process.hrtime.bigint();
    await new Promise((ok) => setTimeout(ok, params.seconds * 1000));
    const s = Number(process.hrtime.bigint() - a) / 1e9;
    const cpu = process.cpuUsage(c0);
    eld.disable();
    writing = false;
    const out = {
      convergeMs,
      seconds: s,
      listeners: PEERS - 1,
      writerInProcess: Boolean(writer),
      keys: nKeys,
      intervalMs: params.intervalMs || 1000,
      writesPerS: Math.round((writes - wr0) / s),
      eventsPerS: Math.round((updates - u0) / s),
      writerEventsPerS: Math.round((writerUpdates - w0) / s),
      perListenerPerS: Math.round((updates - u0) / s / (PEERS - 1)),
      cpuPct: Math.round(((cpu.user + cpu.system) / 1e3 / (s * 1e3)) * 1000) / 10,
      eventLoopDelayP99Ms: Math.round(eld.percentile(99) / 1e5) / 10,
      rssMB: Math.round(process.memoryUsage().rss / 104857.6) / 10,
    };
    await send({ type: 'result', result: out });
  }
  for (const g of mine) { try { g.stop(); } catch (e) { /* ignore */ } }
  setTimeout(() => process.exit(0), 200);
}

// ================================================================== parent

function usage(msg) {
  if (msg) console.error(`bench:reads: ${msg}`);
  console.error(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 18).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const o = { calls: 1e6, repeat: 5, impl: 'both', eventSeconds: 10, events: true, basePort: 12500, json: null,
    burstWriters: 20, burstListeners: 50 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) usage(`${a} needs a positive number`);
      return v;
    };
    switch (a) {
      case '--calls': o.calls = Math.round(num()); break;
      case '--repeat': o.repeat = Math.round(num()); break;
      case '--impl': o.impl = argv[++i]; break;
      case '--event-seconds': o.eventSeconds = num(); break;
      case '--no-events': o.events = false; break;
      case '--burst-writers': o.burstWriters = Math.round(num()); break;
      case '--burst-listeners': o.burstListeners = Math.round(num()); break;
      case '--base-port': o.basePort = num(); break;
      case '--json': o.json = argv[++i]; break;
      case '--render': o.render = argv[++i]; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (!['both', 'gossiper', 'original'].includes(o.impl)) usage('--impl is gossiper, original or both');
  if (o.basePort + 10 * 20 + 2 * (o.burstWriters + o.burstListeners) > 32767) usage('--base-port too high (keep the ports below 32768)');
  return o;
}

const children = new Set();
const killAll = () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

function spawnChild(args, timeoutS, onMessage, env) {
  const c = fork(__filename, ['--child', ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
  children.add(c);
  const killer = setTimeout(() => { console.error(`bench:reads: ${args.slice(0, 2).join(' ')} timed out, killing pid ${c.pid}`); c.kill('SIGKILL'); }, timeoutS * 1000);
  let result = null;
  c.on('message', (m) => {
    if (m && m.type === 'result') result = m.result;
    if (m && m.type === 'error') result = { error: m.error };
    if (onMessage) onMessage(m);
  });
  const done = new Promise((resolve) => c.on('exit', (code, signal) => {
    clearTimeout(killer);
    children.delete(c);
    resolve(result || { error: `child exited (${signal || code}) without a result` });
  }));
  return { c, done };
}

function runChild(args, timeoutS, env) {
  return spawnChild(args, timeoutS, undefined, env).done;
}

// A writer in its own process; resolves once it is listening and writing.
function startWriter(args, timeoutS) {
  let ready;
  const isReady = new Promise((ok) => { ready = ok; });
  const w = spawnChild(args, timeoutS, (m) => { if (m && m.type === 'ready') ready(true); });
  w.done.then(() => ready(false));
  return { ready: isReady, done: w.done, stop: () => { if (w.c.connected) w.c.send({ type: 'stop' }); return w.done; } };
}

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

// The report without its title, for bench/README.md.
function readmeSection(saved) {
  return saved.markdown.replace(/^# .*\n+/, '');
}

async function parent() {
  const choice = sections.readmeChoice(process.argv.slice(2), ['--json', '--base-port', '--render']);
  const opt = parseArgs(choice.argv);
  if (opt.render) {
    sections.writeSection('reads', readmeSection(JSON.parse(fs.readFileSync(opt.render, 'utf8'))));
    return;
  }
  const impls = opt.impl === 'both' ? ['gossiper', 'original'] : [opt.impl];
  const t0 = Date.now();
  const date = new Date().toISOString();
  const loadStart = os.loadavg()[0];
  let port = opt.basePort;
  const nextPorts = () => { const p = port; port += 20; return p; };
  const out = { date, machine: { cpu: os.cpus()[0] && os.cpus()[0].model, cores: os.cpus().length, node: process.version,
    git: (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(); } catch (e) { return null; } })() },
  options: opt, reads: {}, events: [], bursts: [] };
  let failed = false;
  for (const impl of impls) {
    console.error(`bench:reads: reads, ${impl} (10-peer cluster, waiting for convergence)`);
    const r = await runChild(['reads', impl, String(nextPorts()), JSON.stringify({ calls: opt.calls, repeat: opt.repeat })],
      150 + (opt.calls / 1e6) * opt.repeat * 5 * 10);
    if (r.error) { failed = true; console.error(`bench:reads: ${impl}: ${r.error}`); }
    out.reads[impl] = r;
  }
  if (opt.events) {
    const runs = impls.map((impl) => ({ impl, label: `${impl}, 1 s rounds, batch every 100 ms`, params: { keys: 1000, pauseMs: 100 } }));
    if (impls.includes('gossiper')) {
      runs.push({ impl: 'gossiper', label: 'gossiper, 10 ms rounds, back-to-back batches', params: { keys: 1000, pauseMs: 0, intervalMs: 10 } });
      runs.push({ impl: 'gossiper', label: 'gossiper, 10 ms rounds, writer in another process', params: { keys: 1000, intervalMs: 10 }, remote: true });
    }
    for (const r of runs) {
      console.error(`bench:reads: events, ${r.label}`);
      const base = nextPorts();
      const params = JSON.stringify({ ...r.params, seconds: opt.eventSeconds });
      const timeoutS = 150 + opt.eventSeconds + 30;
      let res;
      if (r.remote) {
        const w = startWriter(['writer', r.impl, String(base), params], timeoutS + 30);
        if (await w.ready) {
          res = await runChild(['listeners', r.impl, String(base), params], timeoutS);
          const wr = await w.stop();
          if (!res.error) res.writesPerS = wr.error ? null : wr.writesPerS;
        } else {
          res = await w.done;
          if (!res.error) res = { error: 'writer did not start' };
        }
      } else {
        res = await runChild(['events', r.impl, String(base), params], timeoutS);
      }
      if (res.error) { failed = true; console.error(`bench:reads: events ${r.label}: ${res.error}`); }
      out.events.push({ ...r, result: res });
    }
  }
  if (opt.events) {
    // gossiper with its defaults, then tuned for throughput: 1 MiB messages
    // (a listener then gets a writer's keys in one exchange, not over three
    // rounds) and two runtime threads; the original with its defaults.
    const runs = [];
    for (const impl of impls) {
      runs.push({ impl, label: `${impl}, defaults` });
      if (impl === 'gossiper') {
        runs.push({ impl, label: 'gossiper, maxOutgoingMessageBytes 1 MiB, GOSSIPER_THREADS=2',
          options: { maxOutgoingMessageBytes: 1 << 20 }, env: { GOSSIPER_THREADS: '2' } });
      }
    }
    for (const r of runs) {
      console.error(`bench:reads: event burst, ${r.label}: ${opt.burstListeners} listeners x ${opt.burstWriters} writers x 1000 keys`);
      const base = port;
      port += opt.burstWriters + opt.burstListeners;
      const params = { keys: 1000, writers: opt.burstWriters, listeners: opt.burstListeners, capS: 90, options: r.options };
      const res = await runChild(['burst', r.impl, String(base), JSON.stringify(params)], 240, r.env);
      if (res.error) { failed = true; console.error(`bench:reads: burst ${r.label}: ${res.error}`); }
      out.bursts.push({ impl: r.impl, label: r.label, result: res });
    }
  }
  out.totalS = (Date.now() - t0) / 1000;
  out.machine.loadAvg = [loadStart, os.loadavg()[0]].map((x) => Math.round(x * 100) / 100);

  const L = [];
  L.push(`# Read and event micro-benchmarks: gossiper vs node-gossip 0.0.3`);
  L.push('');
  L.push(`${date} · ${out.machine.cpu}, ${out.machine.cores} cores · Node ${out.machine.node} · git ${out.machine.git} · ` +
    `${opt.calls} calls per loop, median of ${opt.repeat} · total ${out.totalS.toFixed(0)} s · load average ${out.machine.loadAvg.join('→')}`);
  L.push('');
  L.push('| call (on a converged 10-peer cluster) | gossiper ns/call | original ns/call | gossiper ÷ original |');
  L.push('|---|---|---|---|');
  const g = out.reads.gossiper && out.reads.gossiper.ops;
  const o = out.reads.original && out.reads.original.ops;
  for (const op of ['peerValue', 'peerKeys', 'livePeers', 'getLocalState', 'loop']) {
    const gv = g && g[op] ? g[op].nsPerCall : null;
    const ov = o && o[op] ? o[op].nsPerCall : null;
    const label = op === 'loop' ? 'loop (empty function; harness cost, included above)' : `${op}(${op === 'peerValue' ? 'peer, key' : op === 'peerKeys' ? 'peer' : op === 'getLocalState' ? 'key' : ''})`;
    const ratio = gv != null && ov != null && op !== 'loop' ? `${(gv / ov).toFixed(2)}×${gv / ov > 2 ? ' (over 2× target)' : ''}` : '—';
    L.push(`| ${label} | ${gv == null ? '—' : fmt(gv)} | ${ov == null ? '—' : fmt(ov)} | ${ratio} |`);
  }
  if (out.events.length) {
    L.push('');
    L.push('| event delivery (1 writer, 9 listeners, one process) | writes/s | update events/s at listeners | per listener | CPU % | loop delay p99 | RSS MB |');
    L.push('|---|---|---|---|---|---|---|');
    for (const e of out.events) {
      const r = e.result;
      if (r.error) { L.push(`| ${e.label} | error: ${r.error} | | | | | |`); continue; }
      L.push(`| ${e.label} | ${r.writesPerS} | ${r.eventsPerS} | ${r.perListenerPerS} | ${r.cpuPct} | ${r.eventLoopDelayP99Ms} ms | ${r.rssMB} |`);
    }
  }
  if (out.bursts.length) {
    L.push('');
    L.push(`| event burst (${opt.burstListeners} listeners join ${opt.burstWriters} writers of 1000 keys, one process) | rounds | update events | first→last event | update events/s | CPU % (from start): all / JS thread / runtime | RSS MB |`);
    L.push('|---|---|---|---|---|---|---|');
    for (const b of out.bursts) {
      const r = b.result;
      if (r.error) { L.push(`| ${b.label} | error: ${r.error} | | | | | |`); continue; }
      const got = r.complete ? `${r.events}` : `${r.events} of ${r.expected} (capped at ${r.sinceStartS.toFixed(0)} s)`;
      L.push(`| ${b.label} | ${r.intervalMs} ms | ${got} | ${r.seconds === null ? '—' : `${r.seconds.toFixed(2)} s`} | ${r.eventsPerS} | ${r.cpuPct} / ${r.cpuByThread['js main'] ?? '—'} / ${r.cpuByThread['gossiper runtime'] ?? '—'} | ${r.rssMB} |`);
    }
  }
  const md = L.join('\n');
  const jsonFile = path.resolve(opt.json || sections.outFile('reads', new Date(date), 'json'));
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, JSON.stringify({ ...out, markdown: md }, null, 2));
  console.log(md);
  console.error(`\nbench:reads: results in ${path.relative(process.cwd(), jsonFile)}`);
  if (choice.readme && !failed) sections.writeSection('reads', readmeSection({ markdown: md }));
  else console.error('bench:reads: bench/README.md not updated (not a standard, complete run; --readme forces it)');
  process.exit(failed ? 1 : 0);
}

if (process.argv[2] === '--child') {
  const [, , , kind, impl, port, params] = process.argv;
  child(kind, impl, Number(port), JSON.parse(params)).catch((e) => {
    process.send({ type: 'error', error: String(e && e.stack || e) }, () => process.exit(4));
  });
} else {
  parent().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
}
