'use strict';
// Multi-host network harness: every "host" is a Linux network namespace on
// this machine, wired to a software switch. Needs root and iproute2 (ip, tc).
//
// Topology (nothing is created in the root namespace):
//
//   ns <id>-<name>-h0: eth0 198.18.X.1/24 ──veth── <id>h0 ┐
//   ns <id>-<name>-h1: eth0 198.18.X.2/24 ──veth── <id>h1 ┼─ bridge <id>b
//   ...                                                   ┘  (ns <id>-<name>-sw)
//
// <id> = "gsp" + owner pid (base 36, 5 chars) + 1 sequence char; it starts
// every namespace and every switch-side interface name, and the owner pid in
// it lets a later run recognise and remove leftovers of a crashed one.
//
// The bridge lives in its own namespace so that the machine's firewall
// (Docker's FORWARD DROP + br_netfilter, for instance) never sees our traffic
// and so that deleting the namespaces removes every interface at once.
//
// API (all indexes are host indexes 0..N-1):
//   await isSupported()          -> true/false; why: isSupported.reason
//   checkSupportSync()           -> {ok, reason, netemBackends, netemReasons}
//   net = await createNetwork({hosts: N, name, netem: 'auto'|'kernel'|'relay'})
//   net.id, net.subnet ('198.18.X.0/24'), net.ips, net.namespaces, net.switchNs
//   net.hosts[i].ns / .ip / .iface ('eth0') / .index
//   await net.hosts[i].exec('shell cmd' | [argv...], {timeoutMs})
//                                -> {stdout, stderr, code, signal, timedOut}
//   child = net.hosts[i].spawnNode(script, args, {env, cwd, execArgv, echoStderr})
//   child = net.hosts[i].spawn([argv...], opts)
//     child.on('message', obj) / ('line', text) / ('stderr', text) / ('exit', {code, signal})
//     await child.waitFor(pred, timeoutMs = 10000, {past: false})
//         pred: function, 'type' string, or {field: value, ...}
//     await child.request(obj, timeoutMs)   send + wait for reply with same id
//     child.send(obj); child.kill(sig = 'SIGTERM'); await child.exited
//     child.messages, child.stderrTail, child.pid
//   await net.linkDown(i) / net.linkUp(i)
//   await net.partition([[0, 1], [2, 3, 4]]) / net.heal()
//   await net.block(from, to, {bidirectional}) / net.unblock(from, to, ...)
//   await net.netem(i, {delayMs, jitterMs, lossPercent}) / net.netemAll(opts) / net.clearNetem()
//   await net.destroy()          (also runs on exit, SIGINT/SIGTERM/SIGHUP,
//                                 uncaught exceptions; a reaper process
//                                 covers SIGKILL)
//   cleanupStale()               remove leftovers whose owner pid is dead
//
// Fault injection:
//   partition/block: a classic-BPF tc filter (clsact ingress, direct-action)
//     on each host's eth0 silently drops IPv4 frames from blocked source
//     addresses. Silent drop = real partition: connects time out, no ICMP.
//   linkDown/linkUp: sets the switch-side veth down/up; the host's eth0 then
//     loses carrier (like pulling a cable). The host keeps its address.
//   netem: per-host link impairment applied in BOTH directions (so a round
//     trip between a delayed host and an undelayed host crosses the delayed
//     link twice). Backend "kernel": tc netem on both ends of the host's
//     veth. Backend "relay" (for kernels without sch_netem): the host's veth
//     is taken off the bridge and a userspace relay (host-agent.js relay)
//     forwards frames between two macvtap devices with delay/jitter/loss.
//     Like kernel netem, every frame gets its own delay, so jitter reorders
//     frames. The relay adds well under a millisecond per frame and costs
//     CPU (fine for test traffic, not for bulk benchmarks).

const { spawn, spawnSync } = require('node:child_process');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');

const PREFIX = 'gsp';
const ID_RE = /^gsp([0-9a-z]{5})([0-9a-z])(?![0-9a-z])/;
const STATE_DIR = process.env.GOSSIPER_NET_STATE_DIR || '/tmp/gossiper-net';
const AGENT = path.join(__dirname, 'host-agent.js');
const SUBNET_PREFIX = '198.18'; // RFC 2544 benchmarking range, 198.18.0.0/15
const HOST_IFACE = 'eth0';
const VERBOSE = !!process.env.GOSSIPER_NET_VERBOSE;

// ------------------------------------------------------------ utilities ----

function findTool(name) {
  const dirs = (process.env.PATH || '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}
let IP = null;
let TC = null;
function tools() {
  if (!IP) IP = findTool('ip');
  if (!TC) TC = findTool('tc');
  return { ip: IP, tc: TC };
}

function log(...a) {
  if (VERBOSE) process.stderr.write('[net] ' + a.join(' ') + '\n');
}

function cmdString(file, args) {
  return [path.basename(file), ...args].join(' ');
}

// Run a command; resolves {code, signal, stdout, stderr}; never rejects
// except when the binary cannot be spawned.
function run(file, args, { input, timeoutMs = 30000, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.on('error', () => {});
    child.stdin.end(input == null ? '' : input);
  });
}

function runSync(file, args, { input, timeoutMs = 30000 } = {}) {
  const r = spawnSync(file, args, { input: input == null ? '' : input, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, signal: r.signal, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

async function must(file, args, opts) {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    const err = new Error(`${cmdString(file, args)} failed (code ${r.code}${r.signal ? ', ' + r.signal : ''}): ${r.stderr.trim() || r.stdout.trim()}`
      + (opts && opts.input ? `\ninput:\n${opts.input}` : ''));
    err.result = r;
    throw err;
  }
  return r;
}
const ip = (args, opts) => must(tools().ip, args, opts);
const tc = (args, opts) => must(tools().tc, args, opts);

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
// Resolves with the promise's value, or undefined after ms; leaves no timer.
function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((r) => { timer = setTimeout(r, ms); })])
    .finally(() => clearTimeout(timer));
}
function sleepSync(ms) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }

function ipToInt(addr) {
  return addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

// Start time of a process (clock ticks since boot) from /proc; guards
// against pid reuse.
function procStartTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch { return null; }
}

function pidAlive(pid) {
  if (!pid) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

function isOwnerAlive(state) {
  if (!state || !pidAlive(state.pid)) return false;
  if (state.startTime == null) return true;
  const st = procStartTime(state.pid);
  return st == null || st === String(state.startTime);
}

function listNetnsSync() {
  const r = runSync(tools().ip, ['netns', 'list']);
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

function netnsPidsSync(ns) {
  const r = runSync(tools().ip, ['netns', 'pids', ns]);
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((p) => p > 0 && p !== process.pid);
}

function killPid(pid, sig = 'SIGKILL') {
  try { process.kill(pid, sig); return true; } catch { return false; }
}
function killGroup(pgid, sig = 'SIGKILL') {
  try { process.kill(-pgid, sig); return true; } catch { return false; }
}

// Kill everything running inside the namespaces, then delete them.
// Synchronous: usable from 'exit' and signal handlers.
function removeNamespacesSync(namespaces) {
  const existing = new Set(listNetnsSync());
  const present = namespaces.filter((n) => existing.has(n));
  if (!present.length) return [];
  for (let round = 0; round < 3; round++) {
    let any = false;
    for (const ns of present) for (const pid of netnsPidsSync(ns)) { any = true; killPid(pid, 'SIGKILL'); }
    if (!any) break;
    sleepSync(50);
  }
  runSync(tools().ip, ['-force', '-batch', '-'], { input: present.map((n) => `netns del ${n}\n`).join('') });
  return present;
}

function stateFileFor(id) { return path.join(STATE_DIR, `${id}.json`); }
function subnetLockFor(x) { return path.join(STATE_DIR, `subnet-${x}.lock`); }

function readJson(file) {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')); } catch { return null; }
}

function unlinkQuiet(file) { try { fs.unlinkSync(file); } catch { /* gone */ } }

// Atomic write (readers never see a half-written file).
function writeJsonAtomic(file, obj) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(obj, null, 2));
  fs.renameSync(tmp, file);
}

// Unreadable files may be in the middle of being written: only old ones
// are garbage.
function isOldFile(file, ms = 60000) {
  try { return Date.now() - fs.statSync(file).mtimeMs > ms; } catch { return false; }
}

// Remove one (dead owner's or our own) network described by a state file.
function cleanupState(state, file) {
  const removed = removeNamespacesSync(state.namespaces || []);
  // Namespaces created before the state file was updated are found by id.
  const byId = listNetnsSync().filter((n) => n.startsWith(state.id + '-'));
  removed.push(...removeNamespacesSync(byId));
  if (state.subnet != null) {
    const lock = subnetLockFor(state.subnet);
    if (readJson(lock) && readJson(lock).id === state.id) unlinkQuiet(lock);
  }
  if (file) unlinkQuiet(file);
  return removed;
}

// Removes leftovers of crashed runs: namespaces whose id encodes a dead pid
// (or whose state file says the owner is gone) and their state files.
// Never touches networks of live processes.
function cleanupStale() {
  const removed = [];
  if (process.getuid && process.getuid() !== 0) return removed;
  let files = [];
  try { files = fs.readdirSync(STATE_DIR); } catch { /* none */ }
  const liveIds = new Set();
  for (const f of files) {
    const full = path.join(STATE_DIR, f);
    if (f.endsWith('.tmp') && isOldFile(full)) unlinkQuiet(full);
    if (f.endsWith('.json')) {
      const state = readJson(full);
      if (!state || !state.id) { if (isOldFile(full)) unlinkQuiet(full); continue; }
      if (isOwnerAlive(state)) { liveIds.add(state.id); continue; }
      log('removing stale network', state.id, 'of dead pid', state.pid);
      removed.push(...cleanupState(state, full));
    }
  }
  const orphans = [];
  for (const ns of listNetnsSync()) {
    const m = ID_RE.exec(ns);
    if (!m) continue;
    const id = m[0];
    if (liveIds.has(id)) continue;
    const pid = parseInt(m[1], 36);
    const state = readJson(stateFileFor(id));
    if (state ? isOwnerAlive(state) : pidAlive(pid)) continue;
    orphans.push(ns);
  }
  if (orphans.length) log('removing orphaned namespaces', orphans.join(' '));
  removed.push(...removeNamespacesSync(orphans));
  for (const f of files) {
    if (!f.startsWith('subnet-')) continue;
    const full = path.join(STATE_DIR, f);
    const lock = readJson(full);
    if (!lock || !lock.id) { if (isOldFile(full)) unlinkQuiet(full); continue; }
    const st = readJson(stateFileFor(lock.id));
    if (!(st ? isOwnerAlive(st) : pidAlive(lock.pid))) unlinkQuiet(full);
  }
  return removed;
}

// ------------------------------------------------------ exit handling ----

const liveNetworks = new Set();
const handlers = {};

function destroyAllSync(reason) {
  for (const n of [...liveNetworks]) {
    try { n.destroySync(reason); } catch (err) { process.stderr.write(`[net] cleanup of ${n.id} failed: ${err.message}\n`); }
  }
}

function installHandlers() {
  if (handlers.exit) return;
  handlers.exit = () => destroyAllSync('exit');
  process.on('exit', handlers.exit);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const h = () => {
      const othersListen = process.listenerCount(sig) > 1;
      destroyAllSync(sig); // may uninstall this handler
      // If nobody else handles the signal, die from it as we would have.
      if (!othersListen) {
        process.removeListener(sig, h);
        process.kill(process.pid, sig);
      }
    };
    handlers[sig] = h;
    process.on(sig, h);
  }
  // Fires before an uncaught exception / unhandled rejection kills us
  // ('exit' is not emitted then). If someone handles the exception (the
  // node:test runner does), the process lives on and we leave the network.
  handlers.monitor = (err, origin) => {
    if (process.listenerCount('uncaughtException') === 0) destroyAllSync(origin);
  };
  process.on('uncaughtExceptionMonitor', handlers.monitor);
}

function uninstallHandlers() {
  if (!handlers.exit) return;
  process.removeListener('exit', handlers.exit);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeListener(sig, handlers[sig]);
  process.removeListener('uncaughtExceptionMonitor', handlers.monitor);
  for (const k of Object.keys(handlers)) delete handlers[k];
}

// ------------------------------------------------------ child process ----

function describePredicate(pred) {
  if (typeof pred === 'function') return pred.toString().slice(0, 200);
  return JSON.stringify(pred);
}

function makeMatcher(pred) {
  if (typeof pred === 'function') return pred;
  if (typeof pred === 'string') return (m) => m && m.type === pred;
  if (pred && typeof pred === 'object') {
    return (m) => m && typeof m === 'object' && Object.keys(pred).every((k) => m[k] === pred[k]);
  }
  throw new TypeError('waitFor: predicate must be a function, a type string or an object');
}

let requestCounter = 0;

// A spawned process (in a host namespace, or a harness helper in the root
// namespace) speaking newline-delimited JSON on stdout.
// Events: 'message' (parsed object), 'line' (non-JSON stdout line),
// 'stderr' (text chunk), 'exit' ({code, signal}).
class ManagedProcess extends EventEmitter {
  constructor(label, file, args, opts = {}) {
    super();
    this.label = label;
    this.command = [file, ...args];
    this.messages = [];
    this.lines = [];
    this._stderr = '';
    this._stderrMax = opts.stderrTailBytes || 8192;
    this._echoStderr = opts.echoStderr != null ? opts.echoStderr : VERBOSE;
    this.exitStatus = null;
    const env = { ...process.env, ...(opts.env || {}) };
    delete env.NODE_TEST_CONTEXT; // don't let children think they are node:test workers
    this.child = spawn(file, args, {
      cwd: opts.cwd,
      env,
      detached: true, // own process group, so kill(-pid) reaches grandchildren
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    this.pgid = this.child.pid;
    this.startTime = this.pid ? procStartTime(this.pid) : null;
    let out = '';
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        this._onLine(line);
      }
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      this._stderr = (this._stderr + chunk).slice(-this._stderrMax);
      if (this._echoStderr) process.stderr.write(chunk.replace(/^(?=.)/gm, `[${this.label}] `));
      this.emit('stderr', chunk);
    });
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      let exitInfo = null;
      let settled = false;
      const settle = (info) => {
        if (settled) return;
        settled = true;
        if (out.trim()) this._onLine(out);
        this.exitStatus = info;
        this.emit('exit', info);
        resolve(info);
      };
      this.child.on('error', (err) => {
        this._stderr += `\nspawn error: ${err.message}`;
        settle({ code: null, signal: null, error: err });
      });
      this.child.on('exit', (code, signal) => {
        exitInfo = { code, signal };
        // stdout may still be held open by a grandchild: don't wait forever.
        setTimeout(() => settle(exitInfo), 500).unref();
      });
      this.child.on('close', (code, signal) => settle(exitInfo || { code, signal }));
    });
  }

  _onLine(line) {
    const t = line.trim();
    if (!t) return;
    if (t[0] === '{') {
      try {
        const msg = JSON.parse(t);
        this.messages.push(msg);
        if (this.messages.length > 10000) this.messages.splice(0, 5000);
        this.emit('message', msg);
        return;
      } catch { /* not JSON after all */ }
    }
    this.lines.push(line);
    if (this.lines.length > 1000) this.lines.splice(0, 500);
    this.emit('line', line);
  }

  get stderrTail() { return this._stderr; }
  get running() { return this.exitStatus === null; }

  send(obj) {
    if (!this.running || this.child.stdin.destroyed) throw new Error(`${this.label}: cannot send, process is not running`);
    this.child.stdin.write(JSON.stringify(obj) + '\n');
  }

  // Signal the whole process group (the process and its children).
  kill(signal = 'SIGTERM') {
    if (!this.running) return false;
    return killGroup(this.pgid, signal) || killPid(this.pid, signal);
  }

  // Resolves with the first message matching `predicate` (function, type
  // string, or object of fields that must be equal). Only messages that
  // arrive after the call count unless {past: true}. Rejects on timeout or
  // when the process exits first, with recent stderr in the error.
  waitFor(predicate, timeoutMs = 10000, { past = false } = {}) {
    const match = makeMatcher(predicate);
    if (past) {
      const found = this.messages.find((m) => match(m));
      if (found) return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('message', onMsg);
        this.off('exit', onExit);
      };
      const fail = (why) => {
        cleanup();
        const recent = this.messages.slice(-5).map((m) => JSON.stringify(m)).join('\n    ');
        reject(new Error(`${this.label} (pid ${this.pid}): ${why} while waiting for ${describePredicate(predicate)}\n`
          + `  command: ${this.command.join(' ')}\n`
          + `  last messages:\n    ${recent || '(none)'}\n`
          + `  stderr tail:\n${this._stderr.split('\n').slice(-30).map((l) => '    ' + l).join('\n') || '    (empty)'}`));
      };
      const onMsg = (m) => {
        let ok = false;
        try { ok = match(m); } catch (err) { fail(`predicate threw ${err.message}`); return; }
        if (ok) { cleanup(); resolve(m); }
      };
      const onExit = (info) => fail(`process exited (code ${info.code}, signal ${info.signal})`);
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      if (!this.running) { fail(`process already exited (code ${this.exitStatus.code}, signal ${this.exitStatus.signal})`); return; }
      this.on('message', onMsg);
      this.on('exit', onExit);
    });
  }

  // send() + waitFor() the reply carrying the same `id` (one is assigned
  // if missing).
  request(obj, timeoutMs = 10000) {
    const msg = { ...obj };
    if (msg.id == null) msg.id = `r${++requestCounter}`;
    const p = this.waitFor((m) => m && m.id === msg.id, timeoutMs);
    this.send(msg);
    return p;
  }
}

// ---------------------------------------------------------------- hosts ----

class Host {
  constructor(network, index, ns, ipAddr) {
    this.network = network;
    this.index = index;
    this.name = `h${index}`;
    this.ns = ns;
    this.ip = ipAddr;
    this.iface = HOST_IFACE;
    this.switchPort = `${network.id}h${index}`;
  }

  // Run a command in the namespace: a string goes through `sh -c`, an array
  // is an argv. Resolves {stdout, stderr, code, signal, timedOut}.
  async exec(cmd, { timeoutMs = 30000, env, cwd } = {}) {
    const argv = Array.isArray(cmd) ? cmd : ['sh', '-c', cmd];
    const p = this.spawn(argv, { env, cwd, label: `${this.name}:exec` });
    let stdout = '';
    let stderr = '';
    p.child.stdout.removeAllListeners('data');
    p.child.stdout.on('data', (d) => { stdout += d; });
    p.child.stderr.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; p.kill('SIGKILL'); }, timeoutMs);
    return p.exited.then((info) => {
      clearTimeout(timer);
      return { stdout, stderr, code: info.code, signal: info.signal, timedOut };
    });
  }

  // Spawn argv inside the namespace (ip netns exec NS argv...).
  spawn(argv, opts = {}) {
    this.network._assertAlive();
    const env = {
      GOSSIPER_NET_HOST_INDEX: String(this.index),
      GOSSIPER_NET_HOST_IP: this.ip,
      GOSSIPER_NET_NS: this.ns,
      ...(opts.env || {}),
    };
    const p = new ManagedProcess(opts.label || `${this.name}:${path.basename(argv[0])}`,
      tools().ip, ['netns', 'exec', this.ns, ...argv], { ...opts, env });
    this.network._track(p);
    return p;
  }

  // Spawn `node script ...args` inside the namespace.
  spawnNode(scriptPath, args = [], opts = {}) {
    const execArgv = opts.execArgv || [];
    return this.spawn([process.execPath, ...execArgv, scriptPath, ...args.map(String)],
      { ...opts, label: opts.label || `${this.name}:${path.basename(scriptPath)}` });
  }
}

// ----------------------------------------------------------------- netem ----

function normNetem(opts = {}) {
  const n = {
    delayMs: Number(opts.delayMs || 0),
    jitterMs: Number(opts.jitterMs || 0),
    lossPercent: Number(opts.lossPercent || 0),
  };
  for (const [k, v] of Object.entries(n)) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`netem: ${k} must be a number >= 0, got ${opts[k]}`);
  }
  if (n.lossPercent > 100) throw new RangeError('netem: lossPercent must be <= 100');
  return n;
}
const isZeroNetem = (n) => !n.delayMs && !n.jitterMs && !n.lossPercent;

let kernelNetemProbe = null; // cached {ok, reason}

// cBPF program (tc direct-action): drop IPv4 frames whose source address is
// in `ips`, pass everything else. Returns tc's "bytecode" string.
function dropFromSourcesBytecode(ips) {
  const n = ips.length;
  if (n > 250) throw new Error('too many blocked sources for one filter');
  const prog = [
    [0x28, 0, 0, 12], // ldh [12]            ethertype
    [0x15, 0, n + 1, 0x0800], // jeq #IPv4 ? next : pass
    [0x20, 0, 0, 26], // ld [26]             IPv4 source address
  ];
  ips.forEach((addr, k) => prog.push([0x15, n - k, 0, ipToInt(addr)])); // jeq addr ? drop : next
  prog.push([0x06, 0, 0, 0]); // pass: ret TC_ACT_OK
  prog.push([0x06, 0, 0, 2]); // drop: ret TC_ACT_SHOT
  return `${prog.length},${prog.map((i) => i.join(' ')).join(',')}`;
}

// -------------------------------------------------------------- network ----

let seqCounter = 0;

function allocateId() {
  const pidPart = process.pid.toString(36).padStart(5, '0');
  const existing = listNetnsSync();
  for (let tries = 0; tries < 36; tries++) {
    const id = PREFIX + pidPart + (seqCounter++ % 36).toString(36);
    if (!existing.some((n) => n.startsWith(id + '-')) && !fs.existsSync(stateFileFor(id))) return id;
  }
  throw new Error('harness: too many networks alive in this process (max 36)');
}

function allocateSubnet(id) {
  const start = (process.pid * 7 + seqCounter * 13) % 256;
  for (let k = 0; k < 256; k++) {
    const x = (start + k) % 256;
    const lock = subnetLockFor(x);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(lock, JSON.stringify({ id, pid: process.pid }), { flag: 'wx' });
        return x;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
        const owner = readJson(lock);
        const st = owner && readJson(stateFileFor(owner.id));
        // (an unreadable lock may be half-written by its new owner)
        const alive = owner ? (st ? isOwnerAlive(st) : pidAlive(owner.pid)) : !isOldFile(lock);
        if (alive) break;
        unlinkQuiet(lock); // stale; retry once
      }
    }
  }
  throw new Error('harness: no free 198.18.X.0/24 subnet');
}

function sanitizeName(name) {
  return String(name || 'net').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 20) || 'net';
}

class Network {
  constructor({ id, name, subnet, hosts, netemBackend }) {
    this.id = id;
    this.name = name;
    this.subnetIndex = subnet;
    this.subnet = `${SUBNET_PREFIX}.${subnet}.0/24`;
    this.switchNs = `${id}-${name}-sw`;
    this.bridge = `${id}b`;
    this.hosts = [];
    for (let i = 0; i < hosts; i++) {
      this.hosts.push(new Host(this, i, `${id}-${name}-h${i}`, `${SUBNET_PREFIX}.${subnet}.${i + 1}`));
    }
    this.namespaces = [this.switchNs, ...this.hosts.map((h) => h.ns)];
    this.stateFile = stateFileFor(id);
    this.destroyed = false;
    this._procs = new Set();
    this._blocked = this.hosts.map(() => new Set());
    this._netem = this.hosts.map(() => normNetem());
    this._relays = new Map(); // host index -> {proc, taps, ready}
    this._netemBackendWanted = netemBackend;
    this.netemBackendInUse = null;
    this._reaper = null;
  }

  get ips() { return this.hosts.map((h) => h.ip); }

  _assertAlive() {
    if (this.destroyed) throw new Error(`network ${this.id} has been destroyed`);
  }

  _host(i) {
    const h = this.hosts[i];
    if (!h) throw new RangeError(`no host ${i} (network has ${this.hosts.length})`);
    return h;
  }

  _track(p) {
    this._procs.add(p);
    p.exited.then(() => this._procs.delete(p));
  }

  _writeState() {
    const state = {
      id: this.id,
      name: this.name,
      pid: process.pid,
      startTime: procStartTime(process.pid),
      subnet: this.subnetIndex,
      namespaces: this.namespaces,
      created: new Date().toISOString(),
    };
    writeJsonAtomic(this.stateFile, state);
  }

  _startReaper() {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawn(process.execPath, [AGENT, 'reaper', '--state', this.stateFile], {
      detached: true, // own session: survives whatever kills us
      stdio: ['pipe', 'ignore', 'ignore'],
      env,
    });
    r.on('error', () => {});
    r.stdin.on('error', () => {});
    r.unref();
    r.stdin.unref();
    this._reaper = r;
  }

  async _create() {
    const S = this.switchNs;
    await ip(['-batch', '-'], { input: this.namespaces.map((n) => `netns add ${n}\n`).join('') });
    // IPv4 only: no IPv6 link-local chatter (and nothing that could slip
    // past the IPv4 partition filters).
    await Promise.all(this.namespaces.map((ns) => run(tools().ip, ['netns', 'exec', ns, 'sh', '-c',
      'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done 2>/dev/null; true'])));
    const sw = [
      'link set lo up',
      `link add ${this.bridge} type bridge mcast_snooping 0`,
    ];
    for (const h of this.hosts) {
      sw.push(`link add ${h.switchPort} type veth peer name ${HOST_IFACE} netns ${h.ns}`);
      sw.push(`link set ${h.switchPort} master ${this.bridge}`);
      sw.push(`link set ${h.switchPort} up`);
    }
    sw.push(`link set ${this.bridge} up`);
    await ip(['-n', S, '-batch', '-'], { input: sw.join('\n') + '\n' });
    await Promise.all(this.hosts.map(async (h) => {
      await ip(['-n', h.ns, '-batch', '-'], {
        input: [
          'link set lo up',
          `addr add ${h.ip}/24 dev ${HOST_IFACE}`,
          `link set ${HOST_IFACE} up`,
        ].join('\n') + '\n',
      });
      await tc(['-n', h.ns, 'qdisc', 'add', 'dev', HOST_IFACE, 'clsact']);
    }));
  }

  // --------------------------------------------------------- links ----

  async linkDown(i) {
    this._assertAlive();
    await ip(['-n', this.switchNs, 'link', 'set', this._host(i).switchPort, 'down']);
  }

  async linkUp(i) {
    this._assertAlive();
    await ip(['-n', this.switchNs, 'link', 'set', this._host(i).switchPort, 'up']);
  }

  // --------------------------------------------------- partitions ----

  async _applyFilter(j) {
    const h = this._host(j);
    const srcs = [...this._blocked[j]].sort((a, b) => a - b).map((i) => this.hosts[i].ip);
    if (!srcs.length) {
      await tc(['-n', h.ns, 'filter', 'del', 'dev', HOST_IFACE, 'ingress']);
    } else {
      await tc(['-n', h.ns, 'filter', 'replace', 'dev', HOST_IFACE, 'ingress', 'pref', '10', 'handle', '1',
        'bpf', 'da', 'bytecode', dropFromSourcesBytecode(srcs)]);
    }
  }

  async _setBlocked(next) {
    const changed = [];
    next.forEach((set, j) => {
      const cur = this._blocked[j];
      if (set.size !== cur.size || [...set].some((x) => !cur.has(x))) changed.push(j);
      this._blocked[j] = set;
    });
    await Promise.all(changed.map((j) => this._applyFilter(j)));
  }

  // partition([[0,1],[2,3,4]]): traffic between groups is dropped in both
  // directions, traffic inside a group flows. Hosts not listed in any group
  // are isolated from everybody. Replaces any previous partition/blocks.
  async partition(groups) {
    this._assertAlive();
    if (!Array.isArray(groups) || !groups.every(Array.isArray)) throw new TypeError('partition expects an array of arrays of host indexes');
    const groupOf = this.hosts.map(() => null);
    groups.forEach((g, gi) => g.forEach((i) => {
      this._host(i);
      if (groupOf[i] !== null) throw new Error(`host ${i} is in more than one group`);
      groupOf[i] = gi;
    }));
    const key = (i) => (groupOf[i] === null ? `solo${i}` : `g${groupOf[i]}`);
    const next = this.hosts.map((_, j) => new Set(this.hosts.map((_, i) => i).filter((i) => i !== j && key(i) !== key(j))));
    await this._setBlocked(next);
  }

  // Drop traffic from host `from` to host `to` (one direction, unless
  // {bidirectional: true}). Adds to the current blocks.
  async block(from, to, { bidirectional = false } = {}) {
    this._assertAlive();
    this._host(from); this._host(to);
    const next = this._blocked.map((s) => new Set(s));
    next[to].add(from);
    if (bidirectional) next[from].add(to);
    await this._setBlocked(next);
  }

  async unblock(from, to, { bidirectional = false } = {}) {
    this._assertAlive();
    const next = this._blocked.map((s) => new Set(s));
    next[to].delete(from);
    if (bidirectional) next[from].delete(to);
    await this._setBlocked(next);
  }

  // Remove every partition / block.
  async heal() {
    this._assertAlive();
    await this._setBlocked(this.hosts.map(() => new Set()));
  }

  // ---------------------------------------------------------- netem ----

  async _resolveNetemBackend() {
    if (this.netemBackendInUse) return this.netemBackendInUse;
    const wanted = this._netemBackendWanted;
    if (wanted === 'kernel' || wanted === 'relay') {
      this.netemBackendInUse = wanted;
      return wanted;
    }
    if (!kernelNetemProbe) {
      const dev = this.bridge;
      const r = await run(tools().tc, ['-n', this.switchNs, 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '1ms']);
      if (r.code === 0) {
        await run(tools().tc, ['-n', this.switchNs, 'qdisc', 'del', 'dev', dev, 'root']);
        kernelNetemProbe = { ok: true };
      } else {
        kernelNetemProbe = { ok: false, reason: r.stderr.trim() };
      }
    }
    this.netemBackendInUse = kernelNetemProbe.ok ? 'kernel' : 'relay';
    log(`netem backend for ${this.id}: ${this.netemBackendInUse}`, kernelNetemProbe.reason || '');
    return this.netemBackendInUse;
  }

  async _kernelNetem(i, p) {
    const h = this._host(i);
    const targets = [['-n', h.ns, 'dev', HOST_IFACE], ['-n', this.switchNs, 'dev', h.switchPort]];
    await Promise.all(targets.map(async ([o, ns, d, dev]) => {
      if (isZeroNetem(p)) {
        await run(tools().tc, [o, ns, 'qdisc', 'del', d, dev, 'root']); // absent is fine
        return;
      }
      const args = [o, ns, 'qdisc', 'replace', d, dev, 'root', 'netem', 'limit', '100000'];
      if (p.delayMs || p.jitterMs) {
        args.push('delay', `${p.delayMs}ms`);
        if (p.jitterMs) args.push(`${p.jitterMs}ms`);
      }
      if (p.lossPercent) args.push('loss', 'random', `${p.lossPercent}%`);
      try {
        await tc(args);
      } catch (err) {
        if (/unknown/i.test(err.message)) err.message += ' (this kernel has no sch_netem; use the "relay" netem backend)';
        throw err;
      }
    }));
  }

  _ensureRelay(i) {
    let r = this._relays.get(i);
    if (!r) {
      r = { ready: this._createRelay(i) };
      this._relays.set(i, r);
      r.ready.then((v) => Object.assign(r, v), () => this._relays.delete(i));
    }
    return r.ready;
  }

  async _createRelay(i) {
    const h = this._host(i);
    const S = this.switchNs;
    const relayVeth = `${this.id}r${i}`; // relay side of the new pair
    const bridgeVeth = `${this.id}q${i}`; // becomes the host's bridge port
    const tapHost = `${this.id}t${i}`; // macvtap on the host's veth
    const tapBridge = `${this.id}u${i}`; // macvtap on the relay veth
    const base = 0x1000000 + this.subnetIndex * 0x1000 + i * 2;
    const addTap = async (name, lower, idx) => {
      // /dev/tap<ifindex> is global while ifindexes are per namespace: pick
      // explicit, unusual indexes and retry on collision.
      for (let attempt = 0; attempt < 5; attempt++) {
        const index = attempt === 0 ? idx : 0x2000000 + Math.floor(Math.random() * 0x5000000);
        const r = await run(tools().ip, ['-n', S, 'link', 'add', 'link', lower, 'name', name, 'index', String(index),
          'type', 'macvtap', 'mode', 'passthru']);
        if (r.code === 0) {
          await ip(['-n', S, 'link', 'set', name, 'up']);
          const dev = `/dev/tap${index}`;
          for (let k = 0; k < 100 && !fs.existsSync(dev); k++) await sleep(10);
          if (!fs.existsSync(dev)) throw new Error(`macvtap device node ${dev} did not appear (is devtmpfs mounted on /dev?)`);
          return dev;
        }
        if (!/exist|busy/i.test(r.stderr)) throw new Error(`cannot create macvtap for the netem relay: ${r.stderr.trim()} (needs CONFIG_MACVTAP)`);
      }
      throw new Error('cannot allocate a free macvtap index');
    };
    await ip(['-n', S, '-batch', '-'], {
      input: [
        `link add ${relayVeth} type veth peer name ${bridgeVeth}`,
        `link set ${bridgeVeth} master ${this.bridge}`,
        `link set ${bridgeVeth} up`,
        `link set ${relayVeth} up`,
      ].join('\n') + '\n',
    });
    const devBridge = await addTap(tapBridge, relayVeth, base + 1);
    await ip(['-n', S, 'link', 'set', h.switchPort, 'nomaster']);
    const devHost = await addTap(tapHost, h.switchPort, base);
    const proc = new ManagedProcess(`relay${i}`, process.execPath,
      [AGENT, 'relay', '--net', this.id, '--host', String(i), '--a', devHost, '--b', devBridge]);
    proc.isRelay = true;
    this._track(proc);
    await proc.waitFor('ready', 10000, { past: true });
    return { proc, taps: [devHost, devBridge] };
  }

  async _relayNetem(i, p) {
    if (isZeroNetem(p) && !this._relays.has(i)) return;
    const { proc } = await this._ensureRelay(i);
    const prev = this._netem[i];
    await proc.request({ op: 'set', ...p }, 10000 + prev.delayMs + prev.jitterMs);
  }

  // Impair host i's link in both directions: every frame to or from the
  // host is delayed by delayMs ± jitterMs (uniform) and dropped with
  // probability lossPercent. Replaces the host's previous settings.
  // Resolves once frames sent under the previous settings have drained.
  async netem(i, opts) {
    this._assertAlive();
    this._host(i);
    const p = normNetem(opts);
    const backend = await this._resolveNetemBackend();
    const prev = this._netem[i];
    if (backend === 'kernel') {
      await this._kernelNetem(i, p);
      // Packets queued under the old settings keep their send time; wait
      // for them so the new settings are fully in effect on return.
      const prevMax = prev.delayMs + prev.jitterMs;
      if (prevMax > p.delayMs) await sleep(prevMax);
    } else {
      await this._relayNetem(i, p); // the relay answers after draining
    }
    this._netem[i] = p;
  }

  async netemAll(opts) {
    await Promise.all(this.hosts.map((h) => this.netem(h.index, opts)));
  }

  async clearNetem() {
    this._assertAlive();
    await Promise.all(this.hosts.map((h) => {
      if (isZeroNetem(this._netem[h.index]) && !this._relays.has(h.index)) return null;
      return this.netem(h.index, {});
    }));
  }

  // Current settings (for logs/asserts).
  netemSettings(i) { return { ...this._netem[i] }; }

  _relayPids() { return [...this._relays.values()].filter((r) => r.proc).map((r) => r.proc.pid); }
  _tapDevices() { return [...this._relays.values()].filter((r) => r.taps).flatMap((r) => r.taps); }

  async relayStats(i) {
    const r = this._relays.get(i);
    if (!r) return null;
    const { proc } = await r.ready;
    return proc.request({ op: 'stats' });
  }

  // ------------------------------------------------------- teardown ----

  // Stop processes (SIGTERM, then SIGKILL after graceMs), delete the
  // namespaces and with them every interface. Idempotent.
  async destroy({ graceMs = 2000 } = {}) {
    if (this.destroyed) return;
    const procs = [...this._procs];
    const relays = procs.filter((p) => p.isRelay);
    const others = procs.filter((p) => !relays.includes(p));
    for (const p of others) p.kill('SIGTERM');
    for (const p of relays) p.kill('SIGKILL');
    const all = Promise.all(procs.map((p) => p.exited));
    await withTimeout(all, graceMs);
    this.destroySync('destroy');
    await withTimeout(all, 2000);
  }

  // Synchronous teardown (used from exit/signal handlers): SIGKILL
  // everything, delete namespaces, drop state.
  destroySync(reason = 'destroySync') {
    if (this.destroyed) return;
    this.destroyed = true;
    log(`destroying ${this.id} (${reason})`);
    for (const p of this._procs) p.kill('SIGKILL');
    removeNamespacesSync(this.namespaces);
    unlinkQuiet(this.stateFile);
    const lock = subnetLockFor(this.subnetIndex);
    const l = readJson(lock);
    if (l && l.id === this.id) unlinkQuiet(lock);
    if (this._reaper) {
      try { this._reaper.stdin.end('done\n'); } catch { /* reaper gone */ }
    }
    liveNetworks.delete(this);
    if (!liveNetworks.size) uninstallHandlers();
  }
}

// -------------------------------------------------------------- support ----

let supportCache = null;

// Synchronous capability check. Returns
//   {ok, reason, netemBackends: ['kernel'?, 'relay'?], netemReasons}
// ok=false means multi-host tests cannot run here (reason says why).
function checkSupportSync({ refresh = false } = {}) {
  if (supportCache && !refresh) return supportCache;
  const res = (ok, reason, extra = {}) => (supportCache = { ok, reason, netemBackends: [], netemReasons: {}, ...extra });
  if (process.platform !== 'linux') return res(false, `not Linux (${process.platform})`);
  if (!process.getuid || process.getuid() !== 0) return res(false, 'not running as root (network namespaces need CAP_NET_ADMIN/CAP_SYS_ADMIN)');
  const { ip: ipBin, tc: tcBin } = tools();
  if (!ipBin) return res(false, 'iproute2 "ip" not found in PATH (install iproute2)');
  if (!tcBin) return res(false, 'iproute2 "tc" not found in PATH (install iproute2)');
  try { fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 }); } catch (err) { return res(false, `cannot create ${STATE_DIR}: ${err.message}`); }

  const id = allocateId();
  const ns = `${id}-probe`;
  const step = (what, file, args, input) => {
    const r = runSync(file, args, { input });
    if (r.code !== 0) throw new Error(`${what}: ${cmdString(file, args)}: ${(r.stderr || r.stdout || String(r.error || '')).trim()}`);
    return r;
  };
  const netemBackends = [];
  const netemReasons = {};
  try {
    writeJsonAtomic(stateFileFor(id), { id, pid: process.pid, startTime: procStartTime(process.pid), namespaces: [ns] });
    step('cannot create a network namespace', ipBin, ['netns', 'add', ns]);
    step('cannot create veth/bridge', ipBin, ['-n', ns, '-batch', '-'], [
      'link add pbr type bridge',
      'link add pva type veth peer name pvb',
      'link set pva master pbr',
      'link set pva up', 'link set pvb up', 'link set pbr up',
    ].join('\n') + '\n');
    step('cannot add clsact qdisc (CONFIG_NET_SCH_INGRESS)', tcBin, ['-n', ns, 'qdisc', 'add', 'dev', 'pvb', 'clsact']);
    step('cannot add BPF tc filter (CONFIG_NET_CLS_BPF)', tcBin, ['-n', ns, 'filter', 'add', 'dev', 'pvb', 'ingress', 'bpf', 'da', 'bytecode', dropFromSourcesBytecode(['198.18.255.1'])]);
    step('cannot run a process in a namespace (ip netns exec)', ipBin, ['netns', 'exec', ns, process.execPath, '-e', '']);
    const k = runSync(tcBin, ['-n', ns, 'qdisc', 'add', 'dev', 'pva', 'root', 'netem', 'delay', '1ms']);
    if (k.code === 0) netemBackends.push('kernel');
    else netemReasons.kernel = `tc netem: ${k.stderr.trim()} (kernel lacks sch_netem?)`;
    kernelNetemProbe = k.code === 0 ? { ok: true } : { ok: false, reason: k.stderr.trim() };
    const idx = 0x7f000000 + (process.pid % 0xffff);
    const m = runSync(ipBin, ['-n', ns, 'link', 'add', 'link', 'pvb', 'name', 'ptap', 'index', String(idx), 'type', 'macvtap', 'mode', 'passthru']);
    if (m.code !== 0) netemReasons.relay = `macvtap: ${m.stderr.trim()} (kernel lacks CONFIG_MACVTAP?)`;
    else if (!fs.existsSync(`/dev/tap${idx}`)) netemReasons.relay = `macvtap created but /dev/tap${idx} missing (no devtmpfs on /dev?)`;
    else netemBackends.push('relay');
  } catch (err) {
    return res(false, err.message);
  } finally {
    removeNamespacesSync([ns]);
    unlinkQuiet(stateFileFor(id));
  }
  return res(true, netemBackends.length ? 'ok' : `ok, but no netem backend: ${Object.values(netemReasons).join('; ')}`,
    { netemBackends, netemReasons });
}

async function checkSupport(opts) { return checkSupportSync(opts); }

// Resolves true when multi-host tests can run here, false otherwise; the
// reason is in isSupported.reason (and in checkSupport()).
async function isSupported() {
  const s = checkSupportSync();
  isSupported.reason = s.reason;
  return s.ok;
}
isSupported.reason = null;

// --------------------------------------------------------- createNetwork ----

// createNetwork({hosts: N, name, netem: 'auto'|'kernel'|'relay'}) -> Network
async function createNetwork({ hosts = 2, name = 'net', netem } = {}) {
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 250) throw new RangeError('hosts must be an integer in 1..250');
  const support = checkSupportSync();
  if (!support.ok) throw new Error(`network namespaces unsupported here: ${support.reason}`);
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  cleanupStale();
  const id = allocateId();
  const subnet = allocateSubnet(id);
  const backend = netem || process.env.GOSSIPER_NET_NETEM || 'auto';
  if (!['auto', 'kernel', 'relay'].includes(backend)) throw new Error(`unknown netem backend ${backend}`);
  const net = new Network({ id, name: sanitizeName(name), subnet, hosts, netemBackend: backend });
  net._writeState();
  liveNetworks.add(net);
  installHandlers();
  net._startReaper();
  try {
    await net._create();
  } catch (err) {
    net.destroySync('create failed');
    throw err;
  }
  log(`created ${net.id} ${net.subnet} namespaces: ${net.namespaces.join(' ')}`);
  return net;
}

module.exports = {
  createNetwork,
  ManagedProcess,
  isSupported,
  checkSupport,
  checkSupportSync,
  cleanupStale,
  PREFIX,
  STATE_DIR,
  AGENT_PATH: AGENT,
  // exported for host-agent.js (reaper) and the selftest
  _cleanupState: cleanupState,
  _isOwnerAlive: isOwnerAlive,
  _listNetns: listNetnsSync,
  _procStartTime: procStartTime,
  _dropFromSourcesBytecode: dropFromSourcesBytecode,
};
