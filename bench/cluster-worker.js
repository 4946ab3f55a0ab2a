#!/usr/bin/env node
'use strict';
// One cluster benchmark run: N gossipers of one implementation in THIS
// process, driven only through the public API (plus, for the original, a
// byte counter on net.Socket#write). Used by bench/run.js, one run per child
// process; can also be run alone:
//
//   node bench/cluster-worker.js IMPL N [options]
//     IMPL            gossiper | original
//     --steady S      steady-state window, seconds (default 20)
//     --cap S         cap on the join and failure-detection waits (default 120)
//     --spread-cap S  cap on the spread wait (default: --cap)
//     --settle S      pause between spread and the steady window (default 2)
//     --block MS      busy-loop the JS thread for MS ms inside the steady window
//     --block-at S    ...starting S seconds into the window (default min(5, steady/4))
//     --base-port P   peers listen on P..P+N-1 (default 20000; keep below 32768)
//     --seeds K       number of seed peers (default 2); every peer gets the same seeds
//     --json          print the result as JSON on stdout (default when not forked)
//     --options JSON  gossiper only: options for new Gossiper({ port, seeds, ...JSON })
//
// Phases: start -> join (every peer lists N live peers) -> spread (one key set
// on one peer is read back with peerValue on all) -> settle -> steady window
// (CPU, RSS, bytes, events, false failures) -> event-loop delay (5 s, measured
// apart: the monitor's 10 ms timer alone costs ~0.8 % of a core, more than
// half of what 100 quiet gossipers take; with --block it runs inside the
// steady window instead, to see the block) -> detection (one non-seed peer is
// stopped; time until every other running peer emitted peer_failed for it).
// Every wait is capped; a capped phase is reported as { capped: true } and the
// run goes on. Partial results are sent to the parent (IPC) after every phase,
// so a crash or a hard timeout still leaves numbers behind.
//
// Exit codes: 0 done; 2 bad arguments; 3 hard timeout; 4 fatal error; 5 parent gone.

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { monitorEventLoopDelay } = require('perf_hooks');
const { threadTicks, threadCpu } = require('./thread-cpu');

const ROOT = path.join(__dirname, '..');
const SPREAD_KEY = 'bench:spread';

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const pos = [];
  const o = {
    steady: 20, cap: 120, spreadCap: null, settle: 2, block: 0, blockAt: null,
    basePort: 20000, seeds: 2, json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v)) usage(`${a} needs a number`);
      return v;
    };
    switch (a) {
      case '--steady': o.steady = num(); break;
      case '--cap': o.cap = num(); break;
      case '--spread-cap': o.spreadCap = num(); break;
      case '--settle': o.settle = num(); break;
      case '--block': o.block = num(); break;
      case '--block-at': o.blockAt = num(); break;
      case '--base-port': o.basePort = num(); break;
      case '--seeds': o.seeds = num(); break;
      case '--json': o.json = true; break;
      case '--options': o.gossiperOptions = JSON.parse(argv[++i]); break;
      case '-h': case '--help': usage(); break;
      default:
        if (a.startsWith('--')) usage(`unknown option ${a}`);
        pos.push(a);
    }
  }
  const [impl, n] = pos;
  if (impl !== 'gossiper' && impl !== 'original') usage('IMPL must be gossiper or original');
  o.impl = impl;
  o.n = Number(n);
  if (!Number.isInteger(o.n) || o.n < 3) usage('N must be an integer >= 3');
  if (o.spreadCap === null) o.spreadCap = o.cap;
  if (o.blockAt === null) o.blockAt = Math.min(5, o.steady / 4);
  o.seeds = Math.max(1, Math.min(o.seeds, o.n - 2));
  if (o.basePort < 1 || o.basePort + o.n - 1 > 65535) usage('ports out of range');
  return o;
}

function usage(msg) {
  if (msg) console.error(`cluster-worker: ${msg}`);
  console.error('usage: node bench/cluster-worker.js gossiper|original N [--steady S] [--cap S] ' +
    '[--spread-cap S] [--settle S] [--block MS] [--block-at S] [--base-port P] [--seeds K] [--json]');
  process.exit(msg ? 2 : 0);
}

const opt = parseArgs(process.argv.slice(2));
const N = opt.n;
const forked = typeof process.send === 'function';

// ------------------------------------------------------------------ result

const T0 = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - T0) / 1e6; // ms since worker start
const log = (...a) => console.error(`[${opt.impl} N=${N} ${(now() / 1000).toFixed(1)}s]`, ...a);

const result = {
  impl: opt.impl,
  n: N,
  options: { steadyS: opt.steady, capS: opt.cap, spreadCapS: opt.spreadCap, settleS: opt.settle,
    blockMs: opt.block, blockAtS: opt.blockAt, basePort: opt.basePort, seeds: opt.seeds },
  pid: process.pid,
  node: process.version,
  addon: null,
  phase: 'setup',
  error: null,
  warnings: [],
  uncaught: { count: 0, first: null },
  start: null,
  join: null,
  spread: null,
  steady: null,
  detect: null,
  // samples: up to 20 per phase; perSecond: count per second since worker start
  falseFailures: { total: 0, byPhase: {}, samples: [], perSecond: {} },
  peerAlive: { total: 0, byPhase: {} },
  updates: { total: 0 },
  netTotals: null,
  wallMs: null,
};

function sendResult(final) {
  result.wallMs = Math.round(now());
  result.updates.total = updates;
  if (forked && process.connected) {
    try {
      process.send({ type: final ? 'final' : 'partial', result });
    } catch (e) { /* parent gone */ }
  }
}

let exiting = false;
function exitWith(code) {
  if (exiting) return;
  exiting = true;
  sendResult(true);
  if (opt.json || !forked) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  const done = () => process.exit(code);
  if (forked && process.connected) {
    // make sure the last message is flushed before exiting
    process.send({ type: 'bye', code }, () => done());
    setTimeout(done, 2000).unref();
  } else {
    done();
  }
}

process.on('disconnect', () => {
  if (!exiting) { exiting = true; process.exit(5); }
});

process.on('uncaughtException', (e) => {
  // The original throws inside socket handlers on malformed input; we record
  // it and go on (in production it would have killed the process).
  result.uncaught.count++;
  if (!result.uncaught.first) result.uncaught.first = String(e && e.stack || e).slice(0, 2000);
  log('uncaught exception:', e && e.message);
});
process.on('unhandledRejection', (e) => {
  result.uncaught.count++;
  if (!result.uncaught.first) result.uncaught.first = `unhandledRejection: ${String(e && e.stack || e).slice(0, 2000)}`;
});

const hardBudgetS = 50 + opt.cap + opt.spreadCap + opt.settle + opt.steady + opt.block / 1000 + opt.cap + 120;
const hardTimer = setTimeout(() => {
  result.error = `hard timeout after ${hardBudgetS} s in phase ${result.phase}`;
  log(result.error);
  exitWith(3);
}, hardBudgetS * 1000);
hardTimer.unref();

// ------------------------------------------------------------------ the cluster

let updates = 0;
let phase = 'setup';
const samplesByPhase = {};
let victim = -1; // index of the peer stopped in the detection phase
const stopped = new Set();
let spreadToken = null;
let spreadSetAt = 0;
let spreadEventCount = 0;
let spreadEventDoneAt = null;
const spreadSeen = new Set();
let detectStartAt = 0;
const detectSeen = new Map(); // observer index -> ms after stop

let wireBytes = 0; // original only: bytes written on TCP sockets
function installByteCounter() {
  const net = require('net');
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function countingWrite(chunk, encoding) {
    if (this !== process.stdout && this !== process.stderr && chunk != null) {
      wireBytes += typeof chunk === 'string'
        ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : chunk.length;
    }
    return write.apply(this, arguments);
  };
}

function addonInfo() {
  try {
    const file = path.join(ROOT, 'gossiper.linux-x64-gnu.node');
    const buf = fs.readFileSync(file);
    const st = fs.statSync(file);
    return { file: path.basename(file), sha256: crypto.createHash('sha256').update(buf).digest('hex').slice(0, 16),
      mtime: st.mtime.toISOString(), bytes: st.size };
  } catch (e) {
    return { error: e.message };
  }
}

const { systemCpu } = require('./machine-load');

function bump(obj, key) { obj[key] = (obj[key] || 0) + 1; }

async function hostAddress() {
  if (opt.impl === 'gossiper') return '127.0.0.1';
  const { originalSelfAddress } = require('../__test__/support/original');
  return originalSelfAddress();
}

function makeCluster(host) {
  const names = [];
  for (let i = 0; i < N; i++) names.push(`${host}:${opt.basePort + i}`);
  const seedNames = names.slice(0, opt.seeds);
  let Impl;
  if (opt.impl === 'gossiper') {
    Impl = require(ROOT).Gossiper;
  } else {
    installByteCounter();
    Impl = require('../__test__/support/original').loadOriginal();
  }
  const peers = [];
  for (let i = 0; i < N; i++) {
    const seeds = seedNames.filter((s) => s !== names[i]);
    // Two arguments only: with a third the original names itself ":port".
    const g = opt.gossiperOptions && opt.impl === 'gossiper'
      ? new Impl({ port: opt.basePort + i, seeds, ...opt.gossiperOptions })
      : new Impl(opt.basePort + i, seeds);
    const p = { i, name: names[i], g, rounds: 0 };
    g.on('update', (peer, key, value) => {
      updates++;
      if (key === SPREAD_KEY && value === spreadToken && !spreadSeen.has(i)) {
        spreadSeen.add(i);
        spreadEventCount++;
        if (spreadEventCount === N - 1) spreadEventDoneAt = now();
      }
    });
    g.on('peer_failed', (peer) => {
      if (stopped.has(i)) return; // a stopped peer's opinion does not count
      if (phase === 'detect' && peer === names[victim]) {
        if (!detectSeen.has(i)) detectSeen.set(i, now() - detectStartAt);
        return;
      }
      result.falseFailures.total++;
      bump(result.falseFailures.byPhase, phase);
      const sec = Math.floor(now() / 1000);
      result.falseFailures.perSecond[sec] = (result.falseFailures.perSecond[sec] || 0) + 1;
      if ((samplesByPhase[phase] = (samplesByPhase[phase] || 0) + 1) <= 20) {
        result.falseFailures.samples.push({ phase, atMs: Math.round(now()), observer: names[i], failed: peer });
      }
    });
    g.on('peer_alive', () => {
      if (stopped.has(i)) return;
      result.peerAlive.total++;
      bump(result.peerAlive.byPhase, phase);
    });
    if (opt.impl === 'original') {
      // count gossip rounds (the timer calls self.gossip() each second)
      const proto = Object.getPrototypeOf(g);
      g.gossip = function countedGossip() { p.rounds++; return proto.gossip.call(this); };
    }
    peers.push(p);
  }
  return { peers, names, seedNames };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// the window the event-loop delay is measured in, after the steady one
const ELD_WINDOW_S = 5;

// Polls `test` every `everyMs` until it is true or `capMs` passed.
async function waitFor(test, capMs, everyMs, progress) {
  const t = now();
  let lastLog = t;
  for (;;) {
    if (test()) return { ok: true, ms: now() - t };
    if (now() - t >= capMs) return { ok: false, ms: now() - t };
    if (progress && now() - lastLog >= 10000) { lastLog = now(); progress(); }
    await sleep(everyMs);
  }
}

function running(peers) { return peers.filter((p) => !stopped.has(p.i)); }

// stats() lists every known peer, so calling it on all N peers costs O(N^2);
// beyond SAMPLE peers the gossiper totals come from an evenly spaced sample.
const SAMPLE = 100;
function sample(peers) {
  if (peers.length <= SAMPLE) return peers;
  const out = [];
  for (let k = 0; k < SAMPLE; k++) out.push(peers[Math.floor(((k + 0.5) * peers.length) / SAMPLE)]);
  return out;
}

function netTotals(all) {
  if (opt.impl === 'gossiper') {
    const peers = sample(all);
    const counters = ['bytesOut', 'bytesIn', 'rounds', 'stalledMs', 'exchangesStarted', 'catchUps',
      'exchangesCompleted', 'exchangesFailed', 'connectFailures', 'connectionsAccepted'];
    const t = Object.fromEntries(counters.map((k) => [k, 0]));
    t.refused = {};
    for (const p of peers) {
      const s = p.g.stats();
      for (const k of counters) t[k] += s[k];
      for (const [k, v] of Object.entries(s.refused || {})) t.refused[k] = (t.refused[k] || 0) + v;
    }
    t.peersCounted = peers.length;
    return t;
  }
  let rounds = 0;
  for (const p of all) rounds += p.rounds;
  return { bytesOut: wireBytes, rounds, peersCounted: all.length };
}

function setPhase(name) {
  phase = name;
  result.phase = name;
  sendResult(false);
}

function round1(x) { return Math.round(x * 10) / 10; }

async function main() {
  result.addon = opt.impl === 'gossiper' ? addonInfo() : null;
  const host = await hostAddress();
  if (opt.impl === 'original' && !/^127\./.test(host)) {
    result.warnings.push(`hostname resolves to ${host}, not loopback; the original listens there`);
  }
  const { peers, names, seedNames } = makeCluster(host);
  result.seeds = seedNames;

  // ---- start
  setPhase('start');
  log(`starting ${N} peers on ports ${opt.basePort}-${opt.basePort + N - 1}, seeds ${seedNames.join(', ')}`);
  const startErrors = [];
  const tStart = now();
  let started = 0;
  let allStartedAt = null;
  for (const p of peers) {
    const cb = (err) => {
      if (err) startErrors.push(`${p.name}: ${err.message}`);
      started++;
      if (started === N) allStartedAt = now();
    };
    if (opt.impl === 'gossiper') {
      p.g.start(cb);
    } else {
      p.g.start(() => cb());
      p.g.server.on('error', (e) => { startErrors.push(`${p.name}: ${e.message}`); started++; });
    }
  }
  const st = await waitFor(() => started >= N, 30000, 20);
  result.start = { ms: allStartedAt === null ? null : Math.round(allStartedAt - tStart), capped: !st.ok,
    errors: startErrors.slice(0, 10), errorCount: startErrors.length };
  if (startErrors.length) {
    result.error = `${startErrors.length} peers failed to start: ${startErrors[0]}`;
    log(result.error);
    return exitWith(4);
  }
  for (const p of peers) {
    if (p.g.peer_name !== p.name) {
      result.warnings.push(`${p.name} named itself ${p.g.peer_name}`);
    }
  }
  sendResult(false);

  // ---- join
  setPhase('join');
  const joined = () => {
    for (const p of peers) if (p.g.livePeers().length !== N) return false;
    return true;
  };
  const liveSummary = () => {
    const l = peers.map((p) => p.g.livePeers().length);
    return { min: Math.min(...l), max: Math.max(...l), complete: l.filter((x) => x === N).length };
  };
  const j = await waitFor(joined, opt.cap * 1000, 100,
    () => log('join progress: livePeers', JSON.stringify(liveSummary())));
  result.join = { ms: Math.round(now() - tStart), capped: !j.ok, capMs: opt.cap * 1000, live: liveSummary() };
  log(j.ok ? `joined after ${result.join.ms} ms` : `join not complete after ${opt.cap} s: ${JSON.stringify(result.join.live)}`);
  sendResult(false);

  // ---- spread
  setPhase('spread');
  const writer = peers[Math.floor(N / 2)];
  spreadToken = `token-${process.pid}-${Date.now()}`;
  const readValue = (p) => {
    try { return p.g.peerValue(writer.name, SPREAD_KEY); } catch (e) { return undefined; } // original throws for unknown peers
  };
  spreadSetAt = now();
  writer.g.setLocalState(SPREAD_KEY, spreadToken);
  const sp = await waitFor(() => peers.every((p) => p === writer || readValue(p) === spreadToken),
    opt.spreadCap * 1000, 50);
  const reached = peers.filter((p) => p !== writer && readValue(p) === spreadToken).length;
  result.spread = { ms: Math.round(now() - spreadSetAt), capped: !sp.ok, capMs: opt.spreadCap * 1000,
    reached, of: N - 1, writer: writer.name,
    eventsMs: spreadEventDoneAt === null ? null : Math.round(spreadEventDoneAt - spreadSetAt) };
  log(sp.ok ? `spread in ${result.spread.ms} ms` : `spread reached ${reached}/${N - 1} after ${opt.spreadCap} s`);
  sendResult(false);

  // ---- steady window
  setPhase('settle');
  await sleep(opt.settle * 1000);
  setPhase('steady');
  log(`steady window ${opt.steady} s${opt.block ? `, blocking the event loop ${opt.block} ms at +${opt.blockAt} s` : ''}`);
  const before = netTotals(peers);
  const u0 = updates;
  const eld = monitorEventLoopDelay({ resolution: 10 });
  let rssPeak = 0;
  const rssTimer = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 1000);
  let blockInfo = null;
  let wallStart = 0;
  const blockTimer = opt.block > 0 ? setTimeout(() => {
    const b0 = now();
    const end = Date.now() + opt.block;
    let spins = 0;
    while (Date.now() < end) spins++;
    blockInfo = { requestedMs: opt.block, atMs: Math.round(b0 - wallStart), blockedMs: Math.round(now() - b0) };
  }, opt.blockAt * 1000) : null;
  if (opt.block > 0) eld.enable();
  wallStart = now();
  const sys0 = systemCpu();
  const thr0 = threadTicks();
  const load0 = os.loadavg()[0];
  const cpu0 = process.cpuUsage();
  await sleep(opt.steady * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = now() - wallStart;
  const sys1 = systemCpu();
  const thr1 = threadTicks();
  clearInterval(rssTimer);
  if (blockTimer) clearTimeout(blockTimer);
  const u1 = updates;
  const mem = process.memoryUsage();
  rssPeak = Math.max(rssPeak, mem.rss);
  const after = netTotals(peers);
  const dRounds = after.rounds - before.rounds;
  const dBytes = after.bytesOut - before.bytesOut;
  const liveEnd = liveSummary();
  if (opt.block === 0) {
    setPhase('delay');
    eld.enable();
    await sleep(ELD_WINDOW_S * 1000);
  }
  eld.disable();
  result.steady = {
    wallMs: Math.round(wallMs),
    cpuPct: round1(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
    cpuUserPct: round1((cpu.user / 1000 / wallMs) * 100),
    cpuSystemPct: round1((cpu.system / 1000 / wallMs) * 100),
    rssMB: round1(mem.rss / 1048576),
    rssPeakMB: round1(rssPeak / 1048576),
    heapUsedMB: round1(mem.heapUsed / 1048576),
    externalMB: round1(mem.external / 1048576),
    rounds: dRounds,
    roundsPerPeerPerS: round1((dRounds / after.peersCounted) / (wallMs / 1000)),
    bytesPerPeerPerRound: dRounds > 0 ? Math.round(dBytes / dRounds) : null,
    bytesPerPeerPerS: Math.round(dBytes / after.peersCounted / (wallMs / 1000)),
    bytesPeersCounted: after.peersCounted,
    bytesSource: opt.impl === 'gossiper' ? 'stats().bytesOut' : 'net.Socket#write interception',
    updateEventsPerS: Math.round((u1 - u0) / (wallMs / 1000)),
    eventLoopDelayMs: { p50: round1(eld.percentile(50) / 1e6), p99: round1(eld.percentile(99) / 1e6),
      max: round1(eld.max / 1e6) },
    falseFailures: result.falseFailures.byPhase.steady || 0,
    peerAliveEvents: result.peerAlive.byPhase.steady || 0,
    liveAtEnd: liveEnd,
    // the whole machine during the window, in % of one core: what other
    // processes used is (machine - ours); large values mean a noisy machine
    machineCpuPct: sys0 && sys1 ? round1(((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * os.cpus().length * 100) : null,
    loadAvg1: [round1(load0), round1(os.loadavg()[0])],
    cpuByThread: threadCpu(thr0, thr1, wallMs),
    block: opt.block > 0 ? (blockInfo || { requestedMs: opt.block, note: 'block did not run (window too short?)' }) : null,
  };
  log(`steady: cpu ${result.steady.cpuPct}% rss ${result.steady.rssMB} MB, ` +
    `${result.steady.bytesPerPeerPerRound} B/peer/round, ${result.steady.updateEventsPerS} updates/s, ` +
    `false failures ${result.steady.falseFailures}`);
  sendResult(false);

  // ---- failure detection
  victim = N - 1; // never a seed, never the writer
  const victimPeer = peers[victim];
  setPhase('detect');
  detectStartAt = now();
  stopped.add(victim);
  const stopping = victimPeer.g.stop();
  if (stopping && typeof stopping.catch === 'function') stopping.catch(() => {});
  const observers = () => running(peers).length;
  const dt = await waitFor(() => detectSeen.size >= observers(), opt.cap * 1000, 50,
    () => log(`detect progress: ${detectSeen.size}/${observers()} observers report ${victimPeer.name} failed`));
  const times = [...detectSeen.values()].sort((a, b) => a - b);
  const q = (f) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.floor(f * times.length))]) : null);
  result.detect = { ms: dt.ok ? Math.round(dt.ms) : null, capped: !dt.ok, capMs: opt.cap * 1000,
    reported: detectSeen.size, of: observers(), victim: victimPeer.name,
    firstMs: q(0), medianMs: q(0.5) };
  log(dt.ok ? `stopped peer failed everywhere after ${result.detect.ms} ms` :
    `after ${opt.cap} s only ${detectSeen.size}/${observers()} report the stopped peer failed`);
  result.netTotals = netTotals(running(peers));
  sendResult(false);

  // ---- cleanup
  setPhase('cleanup');
  const stops = [];
  for (const p of running(peers)) {
    stopped.add(p.i);
    try {
      const r = p.g.stop();
      if (r && typeof r.then === 'function') stops.push(r.catch(() => {}));
    } catch (e) {
      result.warnings.push(`stop() of ${p.name} threw: ${e.message}`);
    }
  }
  await Promise.race([Promise.all(stops), sleep(10000)]);
  setPhase('done');
  exitWith(0);
}

main().catch((e) => {
  result.error = `fatal in phase ${result.phase}: ${e && e.stack || e}`;
  log(result.error);
  exitWith(4);
});
