#!/usr/bin/env node
'use strict';
// One gossiper on one test host (a network namespace of harness.js), driven
// over JSON lines. Two roles in one file:
//
// 1. Run as a script (inside a host, see spawnMember() below):
//
//      node gossip-host.js '{"port":9000,"seeds":["198.18.7.1:9000"],
//                            "options":{"gossipIntervalMs":250},"values":{"k":"v"}}'
//
//    Binds the host's address (config.address, else $GOSSIPER_NET_HOST_IP,
//    which the harness sets), sets `values`, then starts (unless
//    config.autostart === false; config.heartbeatEvents: report
//    __heartbeat__ updates too). Every stdout line is one JSON object with
//    `type` and `t` (Date.now() here; every host runs on the same machine,
//    so these times compare directly with the test's clock):
//      {type:'started', name, pid}        {type:'start_failed', code, message}
//      {type:'event', ev:'new_peer'|'peer_failed'|'peer_alive'|'peer_left'|'peer_removed', peer}
//      {type:'event', ev:'warning', code, peer, message}
//      {type:'event', ev:'update', peer, key, value}   (heartbeats left out)
//      {type:'event', ev:'delete', peer, key}
//      {type:'reply', id, op, ok:true, ...}  {type:'reply', id, op, ok:false, error, code}
//      {type:'fatal', message}             (uncaught exception; exits 1)
//    Commands on stdin, one JSON object a line (`id` is echoed in the reply;
//    `cmd` is accepted as an alias of `op`):
//      {op:'set', key, value}   {op:'set', values:{k:v,...}}   {op:'delete', key}
//      {op:'dump', stats?}  -> reply {name, running, live, dead, all,
//                                     values:{peer:{key:value}}, stats?}
//      {op:'stop', leave?}  {op:'start'} -> reply {name}
//      {op:'detector'} -> reply {since, peers:{peer:{maxPhi, maxSilenceMs}}}, the
//        highest phi and longest time without news seen per peer since start
//        or the last {op:'detector', reset:true} (sampled every
//        config.sampleDetectorMs ms from stats(); 0 = off, the default)
//      {op:'busy', ms}: blocks the JavaScript thread for ms milliseconds (a
//        busy loop, as a stuck application would), then replies
//      {op:'exit'}: stops, replies, exits 0. SIGTERM or EOF on stdin: the same
//      without a reply.
//
// 2. Required as a module: the test side of that protocol plus the small
//    helpers the scenario tests share (spawnMember, Member, waitUntil,
//    report, ...). original-host.js speaks the same protocol, so a Member
//    can drive either.

const path = require('node:path');
const fs = require('node:fs');
const { isDeepStrictEqual } = require('node:util');

const HEARTBEAT = '__heartbeat__';

// ------------------------------------------------------------ host side ----

function runHost() {
  const { serveCommands, replyAndExit, setValues } = require('./host-commands');
  const { Gossiper } = require(path.join(__dirname, '..', '..'));

  const config = JSON.parse(process.argv[2] || '{}');
  const out = (obj) => process.stdout.write(`${JSON.stringify({ ...obj, t: Date.now() })}\n`);
  const fatal = (err) => {
    try { out({ type: 'fatal', message: String(err && err.stack || err) }); } catch { /* stdout gone */ }
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);

  const address = config.address || process.env.GOSSIPER_NET_HOST_IP;
  if (!address) fatal(new Error('no address: set config.address or GOSSIPER_NET_HOST_IP'));
  const g = new Gossiper({
    ...(config.options || {}),
    port: config.port,
    seeds: config.seeds || [],
    address,
  });
  for (const [k, v] of Object.entries(config.values || {})) g.setLocalState(k, v);

  for (const ev of ['new_peer', 'peer_failed', 'peer_alive', 'peer_left', 'peer_removed']) {
    g.on(ev, (peer) => out({ type: 'event', ev, peer }));
  }
  g.on('warning', (w) => out({ type: 'event', ev: 'warning', code: w.code, peer: w.peer, message: w.message }));
  g.on('update', (peer, key, value) => {
    if (key !== HEARTBEAT || config.heartbeatEvents) out({ type: 'event', ev: 'update', peer, key, value });
  });
  g.on('delete', (peer, key) => out({ type: 'event', ev: 'delete', peer, key }));

  let running = false;

  // Detector sampling: how close did each peer come to being reported failed?
  let detector = { since: Date.now(), peers: {} };
  if (config.sampleDetectorMs > 0) {
    setInterval(() => {
      if (!running) return;
      for (const p of g.stats().peers) {
        if (p.name === g.peer_name || p.status !== 'alive') continue;
        const d = detector.peers[p.name] || (detector.peers[p.name] = { maxPhi: 0, maxSilenceMs: 0 });
        if (p.phi > d.maxPhi) d.maxPhi = p.phi;
        if (p.lastHeardMsAgo > d.maxSilenceMs) d.maxSilenceMs = p.lastHeardMsAgo;
      }
    }, config.sampleDetectorMs).unref();
  }

  function dump(withStats) {
    const values = {};
    for (const peer of g.allPeers()) {
      const v = {};
      for (const key of g.peerKeys(peer)) if (key !== HEARTBEAT) v[key] = g.peerValue(peer, key);
      values[peer] = v;
    }
    const r = { name: g.peer_name, running, live: g.livePeers(), dead: g.deadPeers(), all: g.allPeers(), values };
    if (withStats) r.stats = g.stats();
    return r;
  }

  async function start() {
    await g.start();
    running = true;
    return { name: g.peer_name };
  }

  let ending = false;
  async function end(reply) {
    if (ending) return;
    ending = true;
    try { await g.stop(); } catch { /* exiting anyway */ }
    running = false;
    replyAndExit(reply);
  }

  const handlers = {
    set(msg) { return setValues(g, msg); },
    delete(msg) { return { deleted: g.deleteLocalState(msg.key) }; },
    dump(msg) { return dump(Boolean(msg.stats)); },
    async stop(msg) { await g.stop({ leave: Boolean(msg.leave) }); running = false; return {}; },
    start() { return start(); },
    busy(msg) {
      const until = Date.now() + Number(msg.ms || 0);
      while (Date.now() < until) { /* the event loop is stuck */ }
      return {};
    },
    detector(msg) {
      const r = detector;
      if (msg.reset) detector = { since: Date.now(), peers: {} };
      return r;
    },
  };

  serveCommands(handlers, out, end);

  if (config.autostart === false) return;
  start().then(
    () => out({ type: 'started', name: g.peer_name, pid: process.pid }),
    (err) => { out({ type: 'start_failed', code: err.code, message: err.message }); end(); },
  );
}

// ------------------------------------------------------------ test side ----

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Prints one result line (the test runner shows it as a "# {...}" comment)
// and appends it to $NET_RESULTS_FILE when set.
function report(obj) {
  const line = JSON.stringify(obj);
  console.log(line);
  if (process.env.NET_RESULTS_FILE) {
    try { fs.appendFileSync(process.env.NET_RESULTS_FILE, `${line}\n`); } catch { /* best effort */ }
  }
}

function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * (v.length - 1) + 0.5))];
  return { n: v.length, min: v[0], median: q(0.5), p90: q(0.9), max: v[v.length - 1] };
}

// Polls fn() (sync or async) until it returns a truthy value; resolves with
// {value, t}. Rejects after timeoutMs with the last reason fn gave (fn may
// return {ok:false, why}).
async function waitUntil(fn, { timeoutMs = 20000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last && !(typeof last === 'object' && last.ok === false)) return { value: last, t: Date.now() };
    if (Date.now() > deadline) {
      const why = last && typeof last === 'object' && last.why ? `: ${last.why}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

// A gossiper (or original node-gossip) process on one host.
class Member {
  constructor(host, child, { port, name, kind, config }) {
    this.host = host;
    this.child = child;
    this.port = port;
    this.name = name;
    this.kind = kind;
    this.config = config;
  }

  get label() { return `${this.kind}@${this.name}`; }
  get running() { return this.child.running; }

  async request(op, fields = {}, timeoutMs = 10000) {
    const r = await this.child.request({ op, ...fields }, timeoutMs);
    if (!r.ok) {
      const err = new Error(`${this.label}: ${op} failed: ${r.error}`);
      err.code = r.code;
      throw err;
    }
    return r;
  }

  // Resolves with the host-side time of the write.
  async set(key, value) { return (await this.request('set', { key, value })).t; }
  async setMany(values) { return (await this.request('set', { values })).t; }
  dump(opts = {}) { return this.request('dump', opts); }

  events(pred = () => true, since = 0) {
    return this.child.messages.filter((m) => m.type === 'event' && m.t >= since && pred(m));
  }

  // First event (at or after `since`) matching pred; past ones count.
  waitEvent(pred, { since = 0, timeoutMs = 20000 } = {}) {
    return this.child.waitFor((m) => m.type === 'event' && m.t >= since && pred(m), timeoutMs, { past: true });
  }

  // Host-side time at which this member came to hold `expected` as peer
  // `owner`'s `key` (its latest update/delete event for that key, or the next
  // one). expected === undefined waits for the key's deletion.
  async valueArrival(owner, key, expected, { timeoutMs = 20000 } = {}) {
    const isFor = (m) => m.type === 'event' && (m.ev === 'update' || m.ev === 'delete') && m.peer === owner && m.key === key;
    const ok = (m) => (expected === undefined ? m.ev === 'delete' : m.ev === 'update' && isDeepStrictEqual(m.value, expected));
    const msgs = this.child.messages;
    for (let i = msgs.length - 1; i >= 0; i--) {
      if (isFor(msgs[i])) {
        if (ok(msgs[i])) return msgs[i].t;
        break;
      }
    }
    const m = await this.child.waitFor((x) => isFor(x) && ok(x), timeoutMs);
    return m.t;
  }

  kill(signal = 'SIGKILL') { return this.child.kill(signal); }

  async exit(timeoutMs = 5000) {
    if (!this.running) return;
    try {
      await this.request('exit', {}, timeoutMs);
    } catch {
      this.child.kill('SIGKILL');
    }
    await this.child.exited;
  }
}

const GOSSIP_HOST = __filename;

// Spawns gossip-host.js (or another script speaking its protocol, e.g.
// original-host.js) on `host` and waits until it listens.
async function spawnMember(host, config, { script = GOSSIP_HOST, kind = 'gossiper', timeoutMs = 20000, env } = {}) {
  const child = host.spawnNode(script, [JSON.stringify(config)], { env, label: `${host.name}:${kind}` });
  const m = await child.waitFor((x) => ['started', 'start_failed', 'fatal'].includes(x.type), timeoutMs, { past: true });
  if (m.type !== 'started') {
    child.kill('SIGKILL');
    throw new Error(`${kind} on ${host.name} (${host.ip}) did not start: ${m.message}\n${child.stderrTail}`);
  }
  const expected = (config.options && config.options.advertise) || `${host.ip}:${config.port}`;
  if (m.name !== expected) {
    child.kill('SIGKILL');
    throw new Error(`${kind} on ${host.name} named itself ${m.name}, expected ${expected}`);
  }
  return new Member(host, child, { port: config.port, name: m.name, kind, config });
}

// Per-peer values (heartbeats excluded) each member must hold:
// expected = {peerName: {key: value}}. Peers listed must match exactly (no
// extra keys); a member's own entry is skipped unless includeSelf.
function compareValues(dump, expected, { includeSelf = false, exactKeys = true } = {}) {
  for (const [peer, want] of Object.entries(expected)) {
    if (peer === dump.name && !includeSelf) continue;
    const have = dump.values[peer];
    if (!have) return `${dump.name} does not know ${peer}`;
    for (const [k, v] of Object.entries(want)) {
      if (!isDeepStrictEqual(have[k], v)) return `${dump.name}: ${peer}.${k} = ${JSON.stringify(have[k])}, expected ${JSON.stringify(v)}`;
    }
    if (exactKeys) {
      const extra = Object.keys(have).filter((k) => !(k in want));
      if (extra.length) return `${dump.name}: ${peer} still has keys ${JSON.stringify(extra)}`;
    }
  }
  return null;
}

// Waits until every member lists exactly `names` as live and none dead.
async function waitMembership(members, names, { timeoutMs = 20000, what = 'full membership' } = {}) {
  const want = [...names].sort();
  return waitUntil(async () => {
    const dumps = await Promise.all(members.map((m) => m.dump()));
    for (const d of dumps) {
      const live = [...d.live].sort();
      if (!isDeepStrictEqual(live, want) || d.dead.length) {
        return { ok: false, why: `${d.name} live=${JSON.stringify(live)} dead=${JSON.stringify(d.dead)}` };
      }
    }
    return dumps;
  }, { timeoutMs, what });
}

// Waits until `observers` all hold `expected` ({peer: {key: value}}).
async function waitValues(observers, expected, opts = {}) {
  return waitUntil(async () => {
    const dumps = await Promise.all(observers.map((m) => m.dump()));
    for (const d of dumps) {
      const why = compareValues(d, expected, opts);
      if (why) return { ok: false, why };
    }
    return dumps;
  }, { timeoutMs: opts.timeoutMs || 20000, what: opts.what || 'values' });
}

// Measures how long a write takes to reach every observer: resolves with
// {ms, perObserver} where ms = latest arrival - tSet.
async function spreadTime(owner, key, value, tSet, observers, { timeoutMs = 20000 } = {}) {
  const arrivals = await Promise.all(observers.filter((o) => o !== owner)
    .map((o) => o.valueArrival(owner.name, key, value, { timeoutMs })));
  const per = arrivals.map((t) => Math.max(0, t - tSet));
  return { ms: Math.max(...per), perObserver: per };
}

// Starts one member per host index (all at once). Default seeds: the first
// host's member for everyone else, none for the first.
async function startCluster(net, { port, options = {}, indexes, values = () => ({}), seeds, extra = {} } = {}) {
  const idx = indexes || net.hosts.map((h) => h.index);
  const first = `${net.hosts[idx[0]].ip}:${port}`;
  return Promise.all(idx.map((i, k) => spawnMember(net.hosts[i], {
    ...extra,
    port,
    options,
    values: values(i),
    seeds: seeds ? seeds(i) : (k === 0 ? [] : [first]),
  })));
}

// peer_failed events (at or after `since`) the members reported, as
// [{by, peer, t}], optionally filtered.
function failureEvents(members, since, pred = () => true) {
  const out = [];
  for (const m of members) {
    for (const e of m.events((x) => x.ev === 'peer_failed', since)) {
      if (pred(m, e)) out.push({ by: m.name, peer: e.peer, t: e.t });
    }
  }
  return out;
}

// Adds to each {by, peer, t} failure (from failureEvents) how long until
// `by` reported `peer` alive again (recoveredMs; null if it never did).
function withRecovery(members, failures) {
  return failures.map((f) => {
    const m = members.find((x) => x.name === f.by);
    const back = m && m.events((e) => e.ev === 'peer_alive' && e.peer === f.peer, f.t)[0];
    return { ...f, recoveredMs: back ? back.t - f.t : null };
  });
}

// Waits until every observer reported event `ev` for every peer in
// `peers` (names) at or after `since`; resolves with the times since
// `since`, as {max, perPair: [{by, peer, ms}]}.
async function waitEvents(observers, peers, ev, since, { timeoutMs = 30000 } = {}) {
  const pairs = [];
  for (const o of observers) for (const p of peers) if (p !== o.name) pairs.push([o, p]);
  const perPair = await Promise.all(pairs.map(async ([o, p]) => {
    const e = await o.waitEvent((x) => x.ev === ev && x.peer === p, { since, timeoutMs });
    return { by: o.name, peer: p, ms: e.t - since };
  }));
  return { max: Math.max(...perPair.map((x) => x.ms)), perPair };
}

// Stops every running member (politely, then by force).
async function exitAll(members) {
  await Promise.all(members.filter(Boolean).map((m) => m.exit().catch(() => {})));
}

// The per-file timeout the node:test runner gave this file (Node 20 applies
// --test-timeout to each test file as a whole), or Infinity.
function fileTimeoutMs() {
  for (const a of process.execArgv) {
    const m = /^--test-timeout=(\d+)$/.exec(a);
    if (m) return Number(m[1]) || Infinity;
  }
  return Infinity;
}

module.exports = {
  HEARTBEAT,
  GOSSIP_HOST,
  Member,
  spawnMember,
  waitUntil,
  waitMembership,
  waitValues,
  compareValues,
  spreadTime,
  summarize,
  report,
  sleep,
  fileTimeoutMs,
  startCluster,
  failureEvents,
  withRecovery,
  waitEvents,
  exitAll,
};

if (require.main === module) runHost();
