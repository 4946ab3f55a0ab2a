#!/usr/bin/env node
'use strict';
// One gossiper per process: N Node processes on 127.0.0.1, each running ONE
// node of one implementation with default options, the way users deploy it.
// gossiper first, then node-gossip 0.0.3 (the original), never both at once
// (the machine has 2 cores).
//
//   npm run bench:processes        # = node bench/processes.js
//   node bench/processes.js [options]
//     --n 30             processes (= nodes) per implementation
//     --steady 30        steady window, seconds: the CPU of all the processes together
//     --settle 5         pause between the spread and the steady window, seconds
//     --join-cap 60      cap on the join wait (and on the spread wait), seconds
//     --detect-cap 90    cap on the failure-detection wait, seconds
//     --seeds 2          seed nodes: the first K, the same seeds for every node
//     --impl both        gossiper | original | both
//     --base-port 32000  gossiper listens on P..P+N-1, the original on a disjoint range above
//     --wait-quiet 60    before each run, wait up to this many seconds for other processes to
//                        use less than --quiet-pct (default 30) % of one core, sampled over
//                        3 s; 0 = don't wait. The load seen is reported either way.
//     --json FILE        write the results as JSON (default bench/out/processes-<time>.json)
//     --quick            smoke run: --n 6 --steady 5 (explicit options still win)
//     --readme, --no-readme  do or do not write the figures into bench/README.md
//                        (default: only after a standard run, one given no option above
//                        but --json, --wait-quiet, --quiet-pct and --base-port)
//     --render FILE      run nothing: print a saved JSON's report and write it into
//                        bench/README.md (unless --no-readme)
//
// Each member is bench/process-member.js, forked with an IPC channel; it
// loads its implementation, then starts when told, so every node of a run
// starts at the same moment whatever Node's boot time. The parent is idle
// during the steady window and the members do no polling then, so the
// window's CPU is the gossip's plus each process's Node runtime: what a user
// pays per node. Phases: join (every member lists N live) -> spread (one
// member sets a key; until every other reads it with peerValue) -> settle
// -> steady (CPU, RSS, false failures) -> detection (SIGKILL one non-seed
// member; until every other emitted peer_failed for it).
//
// Exit code: 0 if every run completed (capped waits are results), 1 if a run
// failed (a member crashed, could not start...), 2 on bad arguments. Every
// member is SIGKILLed when this process exits, however it exits.

const { fork, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sections = require('./sections');

const ROOT = path.join(__dirname, '..');
const MEMBER = path.join(__dirname, 'process-member.js');
const SPREAD_KEY = 'bench:spread';

function usage(msg) {
  if (msg) console.error(`bench:processes: ${msg}`);
  console.error(fs.readFileSync(__filename, 'utf8').split('\n').slice(7, 27).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const o = { n: 30, steady: 30, settle: 5, joinCap: 60, detectCap: 90, seeds: 2, impl: 'both',
    basePort: 32000, waitQuiet: 60, quietPct: 30, json: null, quick: false, render: null };
  const given = new Set();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) usage(`${a} needs a non-negative number`);
      given.add(a);
      return v;
    };
    switch (a) {
      case '--n': o.n = num(); break;
      case '--steady': o.steady = num(); break;
      case '--settle': o.settle = num(); break;
      case '--join-cap': o.joinCap = num(); break;
      case '--detect-cap': o.detectCap = num(); break;
      case '--seeds': o.seeds = num(); break;
      case '--impl': o.impl = argv[++i]; break;
      case '--base-port': o.basePort = num(); break;
      case '--wait-quiet': o.waitQuiet = num(); break;
      case '--quiet-pct': o.quietPct = num(); break;
      case '--json': o.json = argv[++i]; if (!o.json) usage('--json needs a file'); break;
      case '--quick': o.quick = true; break;
      case '--render': o.render = argv[++i]; if (!o.render) usage('--render needs a file'); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (o.quick) {
    if (!given.has('--n')) o.n = 6;
    if (!given.has('--steady')) o.steady = 5;
  }
  if (!['both', 'gossiper', 'original'].includes(o.impl)) usage('--impl is gossiper, original or both');
  if (!Number.isInteger(o.n) || o.n < 4) usage('--n must be an integer >= 4');
  o.seeds = Math.max(1, Math.min(Math.floor(o.seeds), o.n - 2));
  if (o.steady <= 0) usage('--steady must be > 0');
  return o;
}

// Options that leave a run standard: it may then replace the README's figures.
const NEUTRAL = ['--json', '--wait-quiet', '--quiet-pct', '--base-port', '--render'];
const choice = sections.readmeChoice(process.argv.slice(2), NEUTRAL);
const opt = parseArgs(choice.argv);

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const round1 = (x) => Math.round(x * 10) / 10;
const log = (...a) => console.error(`[processes ${new Date().toISOString().slice(11, 19)}]`, ...a);

function sh(cmd, args) {
  try { return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch (e) { return null; }
}

const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;

// utime + stime of one process (all its threads), in seconds; null if it is gone
function procCpuS(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces: split after its closing parenthesis
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
  } catch (e) {
    return null;
  }
}

function procRssKB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch (e) {
    return null;
  }
}

const { systemCpu, machinePct } = require('./machine-load');

const waitQuiet = () => require('./machine-load').waitQuiet({
  waitS: opt.waitQuiet, quietPct: opt.quietPct, stop: () => interrupted, log,
});

// Polls `test` every `everyMs` until it is true or `capMs` passed.
async function waitFor(test, capMs, everyMs, progress) {
  const t = Date.now();
  let lastLog = t;
  for (;;) {
    if (test()) return true;
    if (interrupted || Date.now() - t >= capMs) return false;
    if (progress && Date.now() - lastLog >= 10000) { lastLog = Date.now(); progress(); }
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------ members (child processes)

const children = new Set(); // every ChildProcess not known to have exited
let interrupted = false;
const naps = new Set(); // wake-ups of the pending nap()s

// a sleep that a signal cuts short, so an interrupted run stops at once
function nap(ms) {
  return new Promise((ok) => {
    const wake = () => { clearTimeout(t); naps.delete(wake); ok(); };
    const t = setTimeout(wake, ms);
    naps.add(wake);
  });
}

function killAll() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch (e) { /* gone */ }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) { killAll(); process.exit(130); }
    interrupted = true;
    log(`${sig}: killing ${children.size} members`);
    killAll();
    for (const wake of [...naps]) wake();
  });
}
process.on('exit', killAll);
process.on('uncaughtException', (e) => {
  console.error(e);
  killAll();
  process.exit(1);
});

function spawnMember(impl, i, port, seeds) {
  const m = {
    i, port, pid: null, proc: null, name: null, loaded: false, started: false, live: -1,
    seenAt: null, exited: null, stderr: '', pending: new Map(), nextId: 1,
    onFailed: null, onAlive: null, onUncaught: null, onError: null,
  };
  const proc = fork(MEMBER, [impl, String(port), String(opt.n), seeds.join(',')],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  m.proc = proc;
  m.pid = proc.pid;
  children.add(proc);
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { m.stderr = (m.stderr + d).slice(-2000); });
  proc.on('message', (msg) => {
    switch (msg && msg.type) {
      case 'loaded': m.loaded = true; break;
      case 'started': m.started = true; m.name = msg.name; break;
      case 'live': m.live = msg.count; break;
      case 'seen': m.seenAt = msg.at; break;
      case 'failed': if (m.onFailed) m.onFailed(m, msg); break;
      case 'alive': if (m.onAlive) m.onAlive(m, msg); break;
      case 'uncaught': if (m.onUncaught) m.onUncaught(m, msg); break;
      case 'error': if (m.onError) m.onError(m, msg); break;
      case 'value': case 'cpu': {
        const p = m.pending.get(msg.id);
        if (p) { m.pending.delete(msg.id); p(msg); }
        break;
      }
      default: break;
    }
  });
  proc.on('error', (e) => { if (m.onError) m.onError(m, { message: `process: ${e.message}` }); });
  proc.on('exit', (code, signal) => {
    children.delete(proc);
    m.exited = { code, signal, at: Date.now() };
    for (const p of m.pending.values()) p(null);
    m.pending.clear();
  });
  return m;
}

function tell(m, msg) {
  if (m.exited || !m.proc.connected) return false;
  try { m.proc.send(msg); return true; } catch (e) { return false; }
}

// a request with an id; resolves to the reply, or null (member gone / no answer in 5 s)
function ask(m, msg) {
  return new Promise((resolve) => {
    const id = m.nextId++;
    const timer = setTimeout(() => { m.pending.delete(id); resolve(null); }, 5000);
    m.pending.set(id, (r) => { clearTimeout(timer); resolve(r); });
    if (!tell(m, { ...msg, id })) { clearTimeout(timer); m.pending.delete(id); resolve(null); }
  });
}

async function stopAll(members) {
  for (const m of members) tell(m, { type: 'stop' });
  await waitFor(() => members.every((m) => m.exited), 5000, 50);
  for (const m of members) if (!m.exited) { try { m.proc.kill('SIGKILL'); } catch (e) { /* gone */ } }
  await waitFor(() => members.every((m) => m.exited), 5000, 50);
}

// ------------------------------------------------------------------ one run

async function runImpl(impl, basePort) {
  const N = opt.n;
  const res = { impl, n: N, basePort, error: null, warnings: [], boot: null, start: null, join: null,
    spread: null, steady: null, detect: null,
    falseFailures: { total: 0, byPhase: {}, samples: [] }, peerAlive: { total: 0, byPhase: {} },
    uncaught: { count: 0, first: null }, memberErrors: [] };
  let phase = 'boot';
  const t0 = Date.now();

  let host = '127.0.0.1';
  if (impl === 'original') {
    // without ipToBind the original names itself by what `hostname` resolves to
    host = await require('../__test__/support/original').originalSelfAddress();
    if (!/^127\./.test(host)) res.warnings.push(`hostname resolves to ${host}, not loopback; the original listens there`);
  }
  const names = [];
  for (let i = 0; i < N; i++) names.push(`${host}:${basePort + i}`);
  const seedNames = names.slice(0, opt.seeds);
  res.seeds = seedNames;
  const victim = N - 1; // never a seed, never the writer
  const writer = Math.floor(N / 2);
  const failedVictim = new Map(); // observer index -> ms after the kill
  let killedAt = 0;

  const onFailed = (m, msg) => {
    if (m.i === victim && phase === 'detect') return;
    if (phase === 'detect' && msg.peer === names[victim]) {
      if (!failedVictim.has(m.i)) failedVictim.set(m.i, Math.max(0, msg.at - killedAt));
      return;
    }
    res.falseFailures.total++;
    res.falseFailures.byPhase[phase] = (res.falseFailures.byPhase[phase] || 0) + 1;
    if (res.falseFailures.samples.length < 20) {
      res.falseFailures.samples.push({ phase, atMs: msg.at - t0, observer: names[m.i], failed: msg.peer });
    }
  };
  const onAlive = () => {
    res.peerAlive.total++;
    res.peerAlive.byPhase[phase] = (res.peerAlive.byPhase[phase] || 0) + 1;
  };
  const onUncaught = (m, msg) => {
    res.uncaught.count++;
    if (!res.uncaught.first) res.uncaught.first = `${names[m.i]}: ${msg.message}`;
  };
  const onError = (m, msg) => { if (res.memberErrors.length < 10) res.memberErrors.push(`${names[m.i]}: ${msg.message}`); };

  const members = [];
  try {
    // ---- boot: fork every member, wait until each has loaded its implementation
    log(`${impl}: forking ${N} members on ports ${basePort}-${basePort + N - 1}, seeds ${seedNames.join(', ')}`);
    for (let i = 0; i < N; i++) {
      const m = spawnMember(impl, i, basePort + i, seedNames.filter((s) => s !== names[i]));
      Object.assign(m, { onFailed, onAlive, onUncaught, onError });
      members.push(m);
    }
    const booted = await waitFor(() => members.every((m) => m.loaded || m.exited), 60000, 20);
    res.boot = { ms: Date.now() - t0 };
    const dead = () => members.filter((m) => m.exited && !(phase === 'detect' && m.i === victim));
    // between phases: stop on a signal or on a member that died (its figures would be missing)
    const check = (what) => {
      if (interrupted) throw new Error('interrupted');
      const d = dead();
      if (d.length) throw new Error(`${d.length} members exited ${what}; first ${names[d[0].i]} ${JSON.stringify(d[0].exited)}`);
    };
    if (!booted || dead().length) {
      throw new Error(`${dead().length} members exited and ${members.filter((m) => !m.loaded).length} did not load within 60 s` +
        `${dead().length ? `; first: ${names[dead()[0].i]} ${JSON.stringify(dead()[0].exited)} ${dead()[0].stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    }

    // ---- start, join
    phase = 'join';
    const tStart = Date.now();
    for (const m of members) tell(m, { type: 'start' });
    for (const m of members) tell(m, { type: 'watchLive', everyMs: 100 });
    const allStarted = await waitFor(() => members.every((m) => m.started) || res.memberErrors.length > 0 || dead().length > 0, 30000, 20);
    res.start = { ms: Date.now() - tStart };
    if (!allStarted || res.memberErrors.length || dead().length) {
      throw new Error(`start failed: ${res.memberErrors[0] || `${members.filter((m) => !m.started).length} members did not start`}`);
    }
    for (const m of members) if (m.name !== names[m.i]) res.warnings.push(`${names[m.i]} named itself ${m.name}`);
    const liveSummary = () => {
      const l = members.filter((m) => !m.exited).map((m) => m.live);
      return { min: Math.min(...l), max: Math.max(...l), complete: l.filter((x) => x === N).length };
    };
    const joined = await waitFor(() => members.every((m) => m.live === N) || dead().length > 0, opt.joinCap * 1000, 50,
      () => log(`${impl}: join progress ${JSON.stringify(liveSummary())}`));
    check('during the join');
    res.join = { ms: Date.now() - tStart, capped: !joined, capMs: opt.joinCap * 1000, live: liveSummary() };
    log(`${impl}: ${joined ? `all know all after ${res.join.ms} ms` : `join incomplete after ${opt.joinCap} s: ${JSON.stringify(res.join.live)}`}`);
    for (const m of members) tell(m, { type: 'unwatchLive' });

    // ---- spread
    phase = 'spread';
    const token = `token-${process.pid}-${Date.now()}`;
    const readers = members.filter((m) => m.i !== writer);
    for (const m of readers) tell(m, { type: 'watchValue', peer: names[writer], key: SPREAD_KEY, value: token, everyMs: 50 });
    await nap(200); // let every watch arm before the write
    const setAt = Date.now();
    tell(members[writer], { type: 'set', key: SPREAD_KEY, value: token });
    const spread = await waitFor(() => readers.every((m) => m.seenAt !== null), opt.joinCap * 1000, 20);
    const reached = readers.filter((m) => m.seenAt !== null);
    res.spread = { ms: spread ? Math.max(...reached.map((m) => m.seenAt)) - setAt : null, capped: !spread,
      capMs: opt.joinCap * 1000, reached: reached.length, of: readers.length, writer: names[writer] };
    for (const m of readers) tell(m, { type: 'unwatchValue' });
    // the request path: ask one member for the writer's key, as an application would
    const back = await ask(members[victim], { type: 'get', peer: names[writer], key: SPREAD_KEY });
    res.spread.readBack = back ? back.value === token : null;
    check('during the spread');
    log(`${impl}: ${spread ? `one key reached all after ${res.spread.ms} ms` : `key reached ${reached.length}/${readers.length} after ${opt.joinCap} s`}`);

    // ---- settle, steady window
    phase = 'settle';
    await nap(opt.settle * 1000);
    check('while settling');
    phase = 'steady';
    log(`${impl}: steady window ${opt.steady} s`);
    const pids = members.map((m) => m.pid);
    const c0 = await Promise.all(members.map((m) => ask(m, { type: 'cpu' })));
    const p0 = pids.map(procCpuS);
    const sys0 = systemCpu();
    const w0 = process.hrtime.bigint();
    const load0 = os.loadavg()[0];
    await nap(opt.steady * 1000);
    check('during the steady window');
    const wallS = Number(process.hrtime.bigint() - w0) / 1e9;
    const p1 = pids.map(procCpuS);
    const sys1 = systemCpu();
    const c1 = await Promise.all(members.map((m) => ask(m, { type: 'cpu' })));
    const rssKB = pids.map(procRssKB);
    let user = 0; let system = 0; let counted = 0;
    for (let k = 0; k < N; k++) {
      if (c0[k] && c1[k]) { user += c1[k].user - c0[k].user; system += c1[k].system - c0[k].system; counted++; }
    }
    let procS = 0;
    for (let k = 0; k < N; k++) if (p0[k] !== null && p1[k] !== null) procS += p1[k] - p0[k];
    const cpuPct = round1(((user + system) / 1e6 / wallS) * 100);
    const machine = machinePct(sys0, sys1);
    const perProc = members.map((m, k) => (c0[k] && c1[k] ? ((c1[k].user + c1[k].system - c0[k].user - c0[k].system) / 1e6 / wallS) * 100 : null))
      .filter((x) => x !== null).sort((a, b) => a - b);
    const liveEnd = c1.filter(Boolean).map((c) => c.live);
    res.steady = {
      wallS: round1(wallS),
      cpuPct,
      cpuUserPct: round1((user / 1e6 / wallS) * 100),
      cpuSystemPct: round1((system / 1e6 / wallS) * 100),
      cpuProcStatPct: round1((procS / wallS) * 100),
      membersCounted: counted,
      perProcessCpuPct: perProc.length ? { min: round1(perProc[0]), median: round1(perProc[Math.floor(perProc.length / 2)]),
        max: round1(perProc[perProc.length - 1]) } : null,
      rssMB: round1(rssKB.reduce((a, b) => a + (b || 0), 0) / 1024),
      rssPerProcessMB: round1(rssKB.reduce((a, b) => a + (b || 0), 0) / 1024 / rssKB.filter((x) => x !== null).length),
      falseFailures: res.falseFailures.byPhase.steady || 0,
      peerAliveEvents: res.peerAlive.byPhase.steady || 0,
      liveAtEnd: { min: Math.min(...liveEnd), complete: liveEnd.filter((x) => x === N).length, of: liveEnd.length },
      // the whole machine during the window, % of one core; others = machine - members
      machineCpuPct: machine,
      othersCpuPct: machine === null ? null : round1(machine - cpuPct),
      loadAvg1: [round1(load0), round1(os.loadavg()[0])],
    };
    log(`${impl}: CPU of all ${N} processes ${cpuPct}% of one core (/proc: ${res.steady.cpuProcStatPct}%), ` +
      `RSS ${res.steady.rssMB} MB, false failures ${res.steady.falseFailures}, machine ${machine}%`);

    // ---- failure detection
    phase = 'detect';
    killedAt = Date.now();
    members[victim].proc.kill('SIGKILL');
    const observers = () => members.filter((m) => m.i !== victim && !m.exited);
    const detected = await waitFor(() => observers().every((m) => failedVictim.has(m.i)), opt.detectCap * 1000, 50,
      () => log(`${impl}: detection progress ${failedVictim.size}/${observers().length}`));
    const times = [...failedVictim.values()].sort((a, b) => a - b);
    res.detect = { ms: detected ? Date.now() - killedAt : null, lastMs: times.length ? times[times.length - 1] : null,
      firstMs: times.length ? times[0] : null, medianMs: times.length ? times[Math.floor(times.length / 2)] : null,
      capped: !detected, capMs: opt.detectCap * 1000, reported: failedVictim.size, of: observers().length, victim: names[victim] };
    // the member's own timestamps are the precise figure; the parent's poll adds up to 50 ms
    if (detected) res.detect.ms = res.detect.lastMs;
    log(`${impl}: ${detected ? `killed member failed everywhere after ${res.detect.ms} ms` : `after ${opt.detectCap} s only ${failedVictim.size}/${observers().length} report it failed`}`);
    if (dead().length) res.warnings.push(`${dead().length} members exited before the end: ${dead().map((m) => `${names[m.i]} ${JSON.stringify(m.exited)}`).slice(0, 3).join('; ')}`);
  } catch (e) {
    res.error = `${phase}: ${e.message}`;
    log(`${impl}: ERROR ${res.error}`);
  } finally {
    phase = 'cleanup';
    await stopAll(members);
    const left = members.filter((m) => { try { process.kill(m.pid, 0); return true; } catch (e) { return false; } });
    if (left.length) res.warnings.push(`${left.length} members still alive after cleanup (pids ${left.map((m) => m.pid).join(' ')})`);
    const noisy = members.filter((m) => m.stderr.trim());
    if (noisy.length) res.stderr = noisy.slice(0, 3).map((m) => `${names[m.i]}: ${m.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  res.wallS = round1((Date.now() - t0) / 1000);
  return res;
}

// ------------------------------------------------------------------ report

const fmtS = (ms) => `${(ms / 1000).toFixed(1)} s`;

function cell(row, r) {
  if (!r || (r.error && !r[row.of])) return r && r.error ? 'error' : '—';
  return row.cell(r);
}

// original ÷ gossiper; "> x" when the original's figure is a cap
function ratio(row, g, o) {
  if (!g || !o) return '—';
  const gv = row.value(g); const ov = row.value(o);
  if (gv == null || ov == null || gv.v === 0 || gv.capped) return '—';
  const v = ov.v / gv.v;
  return `${ov.capped ? '> ' : ''}${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`;
}

const ROWS = [
  { name: 'all know all (join)', of: 'join',
    cell: (r) => (r.join.capped ? `> ${fmtS(r.join.capMs)} (${r.join.live.complete}/${r.n})` : fmtS(r.join.ms)),
    value: (r) => r.join && { v: r.join.capped ? r.join.capMs : r.join.ms, capped: r.join.capped } },
  { name: 'one key reaches all', of: 'spread',
    cell: (r) => (r.spread.capped ? `> ${fmtS(r.spread.capMs)} (${r.spread.reached}/${r.spread.of})` : fmtS(r.spread.ms)),
    value: (r) => r.spread && { v: r.spread.capped ? r.spread.capMs : r.spread.ms, capped: r.spread.capped } },
  { name: 'stopped (SIGKILL) peer failed everywhere', of: 'detect',
    cell: (r) => (r.detect.capped ? `> ${fmtS(r.detect.capMs)} (${r.detect.reported}/${r.detect.of})` : fmtS(r.detect.ms)),
    value: (r) => r.detect && { v: r.detect.capped ? r.detect.capMs : r.detect.ms, capped: r.detect.capped } },
  { name: 'CPU of all processes, % of one core', of: 'steady',
    cell: (r) => `${r.steady.cpuPct}`, value: (r) => r.steady && { v: r.steady.cpuPct } },
  { name: 'total RSS, MB', of: 'steady',
    cell: (r) => `${Math.round(r.steady.rssMB)}`, value: (r) => r.steady && { v: r.steady.rssMB } },
  { name: 'false failures (steady window)', of: 'steady',
    cell: (r) => `${r.steady.falseFailures}${r.falseFailures.total !== r.steady.falseFailures ? ` (run: ${r.falseFailures.total})` : ''}`,
    value: () => null },
];

// `o`: the options of the run (the JSON keeps them)
function report(results, m, o) {
  const g = results.find((r) => r.impl === 'gossiper');
  const orig = results.find((r) => r.impl === 'original');
  const L = [];
  L.push(`${m.date} · ${m.cpu}, ${m.cores} cores · Node ${m.node} · git ${m.git}${m.gitDirty ? ' (dirty tree)' : ''} · ` +
    `load average at start ${m.loadAvg.join(', ')}`);
  L.push('');
  L.push(`${o.n} processes per implementation, one node each, loopback, default options (1 s rounds), ` +
    `${o.seeds} seeds shared by all; steady window ${o.steady} s after ${o.settle} s of settling; ` +
    `caps ${o.joinCap} s (join, spread) and ${o.detectCap} s (detection).`);
  L.push('');
  L.push('| | gossiper | node-gossip | ratio |');
  L.push('|---|---|---|---|');
  for (const row of ROWS) {
    L.push(`| ${row.name} | ${cell(row, g)} | ${cell(row, orig)} | ${row.name.startsWith('false') ? '' : ratio(row, g, orig)} |`);
  }
  L.push('');
  L.push('Ratio: node-gossip ÷ gossiper (> 1: gossiper is faster / lighter).');
  L.push('');
  for (const r of results) {
    const b = [];
    if (r.machineBefore) b.push(`machine before the run ${r.machineBefore.busyPct}% of one core${r.machineBefore.quiet ? '' : ' (NOT quiet)'}${r.machineBefore.waitedS ? `, waited ${r.machineBefore.waitedS} s` : ''}`);
    if (r.boot) b.push(`boot ${fmtS(r.boot.ms)}`);
    if (r.start) b.push(`start ${fmtS(r.start.ms)}`);
    const s = r.steady;
    if (s) {
      b.push(`CPU user/sys ${s.cpuUserPct}/${s.cpuSystemPct}% (from /proc/PID/stat: ${s.cpuProcStatPct}%)`,
        `per process min/median/max ${s.perProcessCpuPct ? `${s.perProcessCpuPct.min}/${s.perProcessCpuPct.median}/${s.perProcessCpuPct.max}` : '—'}%`,
        `RSS per process ${s.rssPerProcessMB} MB`,
        `machine during the window ${s.machineCpuPct}% of one core (others ≈ ${s.othersCpuPct}%${s.othersCpuPct >= (o.quietPct || 30) ? ', NOT quiet' : ''}), load avg ${s.loadAvg1.join('→')}`,
        `live at window end ${s.liveAtEnd.complete}/${s.liveAtEnd.of} complete (min ${s.liveAtEnd.min})`);
    }
    if (r.spread && r.spread.readBack === false) b.push('spread: a get request after the spread did NOT read the key');
    if (r.detect) b.push(`detection first/median/last ${[r.detect.firstMs, r.detect.medianMs, r.detect.lastMs].map((x) => (x == null ? '—' : fmtS(x))).join('/')}`);
    if (r.falseFailures.total) b.push(`false failures by phase ${JSON.stringify(r.falseFailures.byPhase)}`);
    if (r.peerAlive.total) b.push(`peer_alive events by phase ${JSON.stringify(r.peerAlive.byPhase)}`);
    if (r.uncaught.count) b.push(`UNCAUGHT EXCEPTIONS ${r.uncaught.count}: ${String(r.uncaught.first).split('\n')[0]}`);
    if (r.warnings.length) b.push(`warnings: ${r.warnings.slice(0, 3).join('; ')}`);
    if (r.stderr) b.push(`stderr: ${r.stderr.join(' || ')}`);
    if (r.error) b.push(`ERROR: ${r.error}`);
    b.push(`run ${r.wallS} s`);
    L.push(`- ${r.impl === 'original' ? 'node-gossip' : r.impl}: ${b.join('; ')}`);
  }
  return L.join('\n');
}

function machine() {
  const status = sh('git', ['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    cpu: os.cpus().length ? os.cpus()[0].model : 'unknown',
    cores: os.cpus().length,
    node: process.version,
    git: sh('git', ['rev-parse', '--short', 'HEAD']),
    gitDirty: status === null ? null : status.length > 0,
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    clkTck: CLK_TCK,
  };
}

// ------------------------------------------------------------------ main

function writeReadme(md) {
  sections.writeSection('processes', md);
}

async function main() {
  if (opt.render) {
    const saved = JSON.parse(fs.readFileSync(opt.render, 'utf8'));
    const md = report(saved.results, saved.machine, saved.options);
    console.log(md);
    if (!process.argv.includes('--no-readme')) writeReadme(md);
    return;
  }
  const m = machine();
  const impls = opt.impl === 'both' ? ['gossiper', 'original'] : [opt.impl];
  // disjoint port ranges, so a run never meets the previous run's sockets
  const stride = Math.max(50, opt.n + 10);
  if (opt.basePort + stride * impls.length > 65535) usage('ports out of range');
  if (opt.basePort + stride * impls.length > 32768) log('warning: ports reach the ephemeral range (32768 and up)');
  const results = [];
  for (const [k, impl] of impls.entries()) {
    if (interrupted) break;
    const before = await waitQuiet();
    log(`${impl}: machine before the run ${before.busyPct}% of one core busy${before.quiet ? '' : ' (not quiet)'}`);
    const r = await runImpl(impl, opt.basePort + k * stride);
    r.machineBefore = before;
    results.push(r);
  }
  const md = report(results, m, opt);
  console.log(md);
  const jsonFile = path.resolve(opt.json || sections.outFile('processes', new Date(m.date), 'json'));
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, `${JSON.stringify({ machine: m, options: opt, results, markdown: md }, null, 2)}\n`);
  log(`wrote ${path.relative(process.cwd(), jsonFile)}`);
  const failed = interrupted || results.some((r) => r.error);
  if (choice.readme && !failed && results.length === 2) writeReadme(md);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  killAll();
  process.exit(1);
});
