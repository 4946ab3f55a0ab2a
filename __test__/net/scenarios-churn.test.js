'use strict';
// Multi-host scenario 5, churn: five gossiper hosts; while every host keeps
// writing, the hosts are restarted one by one (process killed with SIGKILL,
// a new process started on the same address and port). Afterwards every
// host must hold every peer's latest values, and the keys an earlier
// process set but the restarted one does not must be gone everywhere
// (gossiper's restart semantics: versions seeded from the clock, a new
// incarnation replaces the old one's state). See scenarios.test.js for the
// timing choices and how times are measured.
//
// Each incarnation k of host i sets gen = k and inc<k> = true at start and
// keeps writing ctr; the final state of host i must be exactly
// {gen: k, inc<k>: true, ctr: <last written>} on every host.
// Restarts alternate between immediate (killed and started again at once:
// the new process listens ~0.5-1 s later, about when the others would report
// the old one failed) and after a 3 s pause (long enough that every other
// host must report it failed first, and alive again after).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const harness = require('./harness.js');
const {
  spawnMember, startCluster, waitMembership, waitValues, waitEvents, summarize, report, exitAll, sleep,
} = require('./gossip-host.js');

const support = harness.checkSupportSync();
const skip = support.ok ? false : `multi-host tests need network namespaces: ${support.reason}`;

const INTERVAL = Number(process.env.NET_GOSSIP_INTERVAL_MS || 250);
const OPTIONS = { gossipIntervalMs: INTERVAL };
const HOSTS = 5;
const PORT = 9005;
const DOWNTIMES_MS = [0, 3000]; // pause between kill and start, alternating
const WRITE_EVERY_MS = 100;

describe('multi-host churn (gossiper, 5 hosts)', { skip }, () => {
  let net;
  let members = [];

  before(async () => {
    net = await harness.createNetwork({ hosts: HOSTS, name: 'churn' });
  });
  after(async () => {
    await exitAll(members);
    if (net) await net.destroy();
  });

  test('5: hosts restart one by one while values are written; all end with every latest value, old keys gone', { timeout: 100000 }, async () => {
    const addr = (i) => `${net.hosts[i].ip}:${PORT}`;
    const seeds = (i) => [addr(i === 0 ? 1 : 0)];
    const gen = net.hosts.map(() => 0);
    const ctr = net.hosts.map(() => 0);
    const initial = (i) => ({ gen: gen[i], [`inc${gen[i]}`]: true, ctr: ctr[i] });
    members = await startCluster(net, { port: PORT, options: OPTIONS, seeds, values: initial });
    const names = members.map((m) => m.name);
    await waitMembership(members, names);
    await waitValues(members, Object.fromEntries(members.map((m, i) => [m.name, initial(i)])), { what: 'initial values' });

    // One writer per host, pausable around its restart.
    let stopWriters = false;
    const paused = net.hosts.map(() => false);
    const inflight = net.hosts.map(() => Promise.resolve());
    let writes = 0;
    const writer = async (i) => {
      while (!stopWriters) {
        if (!paused[i]) {
          const next = ctr[i] + 1;
          inflight[i] = members[i].set('ctr', next).then(() => { ctr[i] = next; writes++; });
          await inflight[i];
        }
        await sleep(WRITE_EVERY_MS);
      }
    };
    const writers = net.hosts.map((h) => writer(h.index));
    await sleep(1000);

    const restarts = [];
    const everyone = [...members]; // every process, old ones included
    const downWindows = new Map(); // peer name -> [[from, to], ...]
    for (const [i, old] of members.entries()) {
      const downtime = DOWNTIMES_MS[i % DOWNTIMES_MS.length];
      paused[i] = true;
      await inflight[i];
      const tKill = Date.now();
      old.kill('SIGKILL');
      await old.child.exited;
      await sleep(downtime);
      gen[i] += 1;
      const fresh = await spawnMember(net.hosts[i], { port: PORT, seeds: seeds(i), options: OPTIONS, values: initial(i) });
      const tStarted = fresh.child.messages.find((m) => m.type === 'started').t;
      members[i] = fresh;
      everyone.push(fresh);
      paused[i] = false;
      const others = members.filter((m) => m !== fresh);
      // The others accept the new incarnation (its gen) and drop the old one's key.
      const [rejoin, gone] = await Promise.all([
        Promise.all(others.map((o) => o.valueArrival(fresh.name, 'gen', gen[i], { timeoutMs: 20000 }))),
        Promise.all(others.map((o) => o.valueArrival(fresh.name, `inc${gen[i] - 1}`, undefined, { timeoutMs: 20000 }))),
      ]);
      const failedSeen = others.filter((o) => o.events((e) => e.ev === 'peer_failed' && e.peer === fresh.name, tKill).length).length;
      let aliveMs = null;
      if (failedSeen) {
        // counted from the kill: the others may hear the new process (and
        // report it alive) before its own 'started' line is printed
        const alive = await waitEvents(others.filter((o) => o.events((e) => e.ev === 'peer_failed' && e.peer === fresh.name, tKill).length),
          [fresh.name], 'peer_alive', tKill, { timeoutMs: 20000 });
        aliveMs = alive.max + tKill - tStarted; // from the new process's start
      }
      const rec = {
        host: i,
        pauseMs: downtime,
        downtimeMs: tStarted - tKill, // kill -> new process listening
        failedBy: failedSeen, // how many of the 4 others reported it failed meanwhile
        aliveMs, // new process listening -> the last of those reports it alive
        rejoinMs: Math.max(...rejoin) - tStarted, // -> every other host holds the new incarnation's values
        oldKeysGoneMs: Math.max(...gone) - tStarted, // -> every other host dropped the old incarnation's key
      };
      restarts.push(rec);
      const w = downWindows.get(fresh.name) || [];
      w.push([tKill, Date.now()]);
      downWindows.set(fresh.name, w);
      await sleep(1000);
    }

    stopWriters = true;
    await Promise.all(writers);
    const tStop = Date.now();
    const expected = Object.fromEntries(members.map((m, i) => [m.name, initial(i)]));
    const final = await waitValues(members, expected, { includeSelf: true, timeoutMs: 30000, what: 'every latest value everywhere, old keys gone' });
    await waitMembership(members, names);

    // A host may only have been reported failed while it was being restarted.
    const spurious = [];
    for (const m of everyone) {
      for (const e of m.events((x) => x.ev === 'peer_failed')) {
        const w = downWindows.get(e.peer) || [];
        if (!w.some(([a, b]) => e.t >= a && e.t <= b)) spurious.push({ by: m.name, peer: e.peer, t: e.t });
      }
    }
    assert.deepEqual(spurious, [], 'peer_failed outside a restart window');
    const long = restarts.filter((r) => r.pauseMs >= 3000);
    for (const r of long) assert.equal(r.failedBy, HOSTS - 1, `host ${r.host} down ${r.downtimeMs} ms: every other host should have reported it failed`);

    report({
      scenario: 5,
      intervalMs: INTERVAL,
      restarts: restarts.length,
      writes,
      rejoinMs: summarize(restarts.map((r) => r.rejoinMs)),
      oldKeysGoneMs: summarize(restarts.map((r) => r.oldKeysGoneMs)),
      aliveAfterFailureMs: summarize(restarts.map((r) => r.aliveMs)),
      finalConvergenceMs: final.t - tStop, // writes stopped -> every host holds exactly every latest value
      perRestart: restarts,
    });
  });
});
