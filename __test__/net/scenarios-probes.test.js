'use strict';
// Multi-host scenarios of the probes (SWIM with Lifeguard, protocol 2)
// between five gossiper hosts, each on a fresh cluster of its own port:
//
// 6. One-way link loss: frames from host 0 to host 1 are dropped, those from
//    1 to 0 pass (host 0 hears 1, host 1 does not hear 0). Direct probes
//    between the two fail in both directions (a ping or its ack is lost);
//    the indirect probes through the three others must cover it: nobody may
//    report a live host failed during the soak, and writes (from the two
//    hosts too) still reach everyone. After the soak, with the cut still in
//    place, a UDP burst checks that it drops 0 -> 1 and only that.
// 7. A slow host: (a) its JavaScript thread stuck in a busy loop for 5 s,
//    (b) its whole process stopped (SIGSTOP) for a moment shorter than the
//    detection time, (c) stopped for 6 s, well beyond it. The probes run on
//    the native runtime, so (a) must go unnoticed; (b) too. In (c) every
//    other host reports it failed, and once it runs again it is seen alive
//    everywhere. Throughout, the slow host must not report a healthy host
//    failed: its own timers ran late, which says nothing of the others
//    (Lifeguard's point), and no healthy host may report another one failed.
// 8. Flapping: host 4 is cut off from the rest for 3 s every 6 s, four
//    times. The healthy hosts may report host 4 failed and alive again, the
//    cut-off host may report them failed while it is cut off; but no healthy
//    host may ever report another healthy host failed (what a cut-off node
//    concluded while alone must not spread once it is heard again), and once
//    the flapping stops every host sees every host alive within a bound.
//    Each heal ends a silence the flapper must notice (stats().cutOffs).
//
// Times are host-side Date.now() of the events (every host runs on this
// machine, see gossip-host.js); each test prints one result line.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const harness = require('./harness.js');
const {
  startCluster, waitMembership, waitValues, waitEvents, spreadTime, failureEvents, withRecovery, summarize, report,
  exitAll, sleep,
} = require('./gossip-host.js');

const support = harness.checkSupportSync();
const skip = support.ok ? false : `multi-host tests need network namespaces: ${support.reason}`;

const INTERVAL = Number(process.env.NET_GOSSIP_INTERVAL_MS || 250);
const OPTIONS = { gossipIntervalMs: INTERVAL };
const HOSTS = 5;
const ONE_WAY_SOAK_MS = 40000;
const WRITE_EVERY_MS = 2000;
// Hosts 0 and 1 write every other time: their writes must get round the cut.
const WRITERS = [0, 2, 1, 3, 0, 4, 1, 2, 0, 3, 1, 4];
const BUSY_MS = 5000;
const SHORT_STALL_MS = 150; // well under the detection time (about a second or more, see the report)
const LONG_STALL_MS = 6000; // well over it
const CUT_MS = 3000;
const FLAP_PERIOD_MS = 6000;
const FLAPS = 4;
// After the last cut heals: every host sees every host alive within this.
const FLAP_CONVERGE_MS = 20000;

// peer_failed events since `since` reported by a host in `healthy` about a
// host in `healthy` (names).
function healthyFailures(members, since, healthy) {
  return failureEvents(members, since, (m, e) => healthy.includes(m.name) && healthy.includes(e.peer));
}

async function probeStats(members) {
  const dumps = await Promise.all(members.map((m) => m.dump({ stats: true })));
  return dumps.map((d) => ({
    suspicions: d.stats.suspicions, refutations: d.stats.refutations, lags: d.stats.lags, cutOffs: d.stats.cutOffs,
  }));
}

function statsDelta(before, after) {
  return after.map((a, i) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - before[i][k]])));
}

describe('multi-host probes: one-way loss, a slow host, flapping (gossiper, 5 hosts)', { skip }, () => {
  let net;
  let members = [];

  before(async () => {
    net = await harness.createNetwork({ hosts: HOSTS, name: 'probes' });
  });
  after(async () => {
    await exitAll(members);
    if (net) await net.destroy();
  });

  // A fresh cluster on its own port, every host live everywhere.
  async function cluster(port) {
    await exitAll(members);
    await net.heal();
    members = [];
    members = await startCluster(net, { port, options: OPTIONS, values: (i) => ({ role: `r${i}` }) });
    const names = members.map((m) => m.name);
    await waitMembership(members, names, { timeoutMs: 20000 });
    return names;
  }

  // `writer` writes `key` = value; resolves with the time until every other
  // member holds it.
  async function spread(writer, key, value, timeoutMs = 15000) {
    const tSet = await writer.set(key, value);
    return (await spreadTime(writer, key, value, tSet, members, { timeoutMs })).ms;
  }

  test('6: one-way link loss between two hosts: no false failure, values spread', { timeout: ONE_WAY_SOAK_MS + 60000 }, async () => {
    const names = await cluster(9009);
    const statsBefore = await probeStats(members);
    const tBlock = Date.now();
    await net.block(0, 1); // host 1 drops every frame from host 0
    const spreads = [];
    const latest = Object.fromEntries(names.map((n, i) => [n, { role: `r${i}` }]));
    let k = 0;
    while (Date.now() < tBlock + ONE_WAY_SOAK_MS) {
      const w = members[WRITERS[k % WRITERS.length]];
      const value = { k };
      spreads.push(await spread(w, 'oneway', value));
      latest[w.name].oneway = value;
      k++;
      await sleep(WRITE_EVERY_MS);
    }
    const tSoak = Date.now();
    const fails = withRecovery(members, failureEvents(members, tBlock));
    const probes = statsDelta(statsBefore, await probeStats(members));
    await waitValues(members, latest, { timeoutMs: 15000, what: 'every latest value everywhere' });
    await waitMembership(members, names, { timeoutMs: 5000 });
    // The cut was real: with it still in place, UDP from 0 to 1 is lost
    // and from 1 to 0 it arrives.
    await exitAll(members);
    members = [];
    const agents = [0, 1].map((i) => net.hosts[i].spawnNode(harness.AGENT_PATH, ['peer', '--port', '9009']));
    await Promise.all(agents.map((a) => a.waitFor('listening', 10000, { past: true })));
    const udpCount = async (from, to) => {
      await agents[to].request({ op: 'reset' });
      await agents[from].request({ op: 'udp-burst', host: net.hosts[to].ip, port: 9009, count: 20 });
      await sleep(150);
      return (await agents[to].request({ op: 'stats' })).udpReceived;
    };
    const udp = { from0to1: await udpCount(0, 1), from1to0: await udpCount(1, 0) };
    for (const a of agents) a.kill();
    await Promise.all(agents.map((a) => a.exited));
    await net.heal();
    report({
      scenario: 6,
      intervalMs: INTERVAL,
      soakMs: tSoak - tBlock,
      writes: k,
      spreadMs: summarize(spreads),
      falseFailures: fails,
      probes, // per host during the soak: suspicions raised, refuted, lag holds, cut-offs
      udpDatagramsOf20: udp, // through the cut, checked after the soak
    });
    assert.deepEqual(udp, { from0to1: 0, from1to0: 20 }, 'the cut must drop host 0 -> 1 only');
    assert.deepEqual(fails, [], 'a one-way cut between two hosts must not fail a live host (indirect probes cover it)');
    assert.ok(k >= ONE_WAY_SOAK_MS / WRITE_EVERY_MS / 2, `only ${k} writes in the soak`);
  });

  test('7: a slow host (busy JS thread, stopped process) is seen alive again and fails nobody', { timeout: 90000 }, async () => {
    const names = await cluster(9010);
    const S = 2;
    const slow = members[S];
    const others = members.filter((m) => m !== slow);
    const pid = slow.child.messages.find((m) => m.type === 'started').pid;
    const tStart = Date.now();

    // (a) the JavaScript thread stuck; the runtime goes on probing and acking
    const tBusy = Date.now();
    const duringBusy = slow.request('busy', { ms: BUSY_MS }, BUSY_MS + 15000);
    await sleep(500);
    const busySpread = await spread(members[0], 'busy', { at: tBusy }, BUSY_MS + 15000);
    await duringBusy;
    await sleep(2000);
    const busyFails = failureEvents(members, tBusy);
    assert.deepEqual(busyFails, [], 'a busy JavaScript thread must not make anyone fail (or be failed)');

    // (b) the whole process stopped for less than the detection time
    const tShort = Date.now();
    process.kill(pid, 'SIGSTOP');
    await sleep(SHORT_STALL_MS);
    process.kill(pid, 'SIGCONT');
    const shortStallMs = Date.now() - tShort;
    await sleep(4000);
    const shortFails = failureEvents(members, tShort);
    assert.deepEqual(shortFails, [], `a stop of ${shortStallMs} ms is shorter than the detection time: nobody may be failed`);

    // (c) stopped for longer than the detection time
    const before = await probeStats(members);
    const tStop = Date.now();
    process.kill(pid, 'SIGSTOP');
    let detected;
    try {
      detected = await waitEvents(others, [slow.name], 'peer_failed', tStop, { timeoutMs: LONG_STALL_MS });
    } catch { /* asserted below, once the host runs again */ }
    const remaining = tStop + LONG_STALL_MS - Date.now();
    if (remaining > 0) await sleep(remaining);
    const tCont = Date.now(); // before the signal: the others may report it alive within a millisecond
    process.kill(pid, 'SIGCONT');
    const stoppedMs = tCont - tStop;
    const alive = await waitEvents(others, [slow.name], 'peer_alive', tCont, { timeoutMs: 20000 }).catch((e) => ({ error: e.message }));
    const all = await waitMembership(members, names, { timeoutMs: 20000 }).catch((e) => ({ error: e.message }));
    await sleep(2000); // anything the slow host concluded on waking has had time to show
    const bySlow = failureEvents([slow], tStop);
    const healthy = names.filter((n) => n !== slow.name);
    const healthyFails = healthyFailures(members, tStart, healthy);
    const after = statsDelta(before, await probeStats(members));
    const afterSpread = await Promise.all([spread(slow, 'after', { n: 1 }), spread(members[0], 'after', { n: 0 })]);
    report({
      scenario: 7,
      intervalMs: INTERVAL,
      busyMs: BUSY_MS,
      busySpreadMs: busySpread, // a write elsewhere while the slow host's JS was stuck (its event comes once the JS runs)
      shortStallMs,
      longStallMs: stoppedMs,
      detectedMs: detected && summarize(detected.perPair.map((p) => p.ms)), // stop -> each other host reports it failed
      aliveAgainMs: alive.error ? alive.error : summarize(alive.perPair.map((p) => p.ms)), // SIGCONT -> each reports it alive
      allLiveMs: all.error ? all.error : all.t - tCont, // SIGCONT -> every host lists every host live
      slowHostFailed: bySlow,
      healthyFailures: healthyFails,
      probes: after,
      afterSpreadMs: afterSpread,
    });
    assert.ok(detected, `a stop of ${stoppedMs} ms must be detected by every other host within it`);
    assert.ok(!alive.error, `the slow host must be seen alive again everywhere: ${alive.error}`);
    assert.ok(!all.error, `every host must list every host live again: ${all.error}`);
    assert.deepEqual(bySlow, [], 'the slow host must not report healthy hosts failed: its own timers ran late');
    assert.deepEqual(healthyFails, [], 'no healthy host may report another one failed');
    await waitMembership(members, names, { timeoutMs: 5000 });
  });

  test('8: a flapping host: no healthy host ever failed, all alive once it stops', { timeout: 120000 }, async () => {
    const names = await cluster(9011);
    const statsBefore = await probeStats(members);
    const F = 4;
    const flapper = members[F];
    const healthy = names.filter((n) => n !== flapper.name);
    const healthyIdx = net.hosts.map((h) => h.index).filter((i) => i !== F);
    const tFlap = Date.now();
    const cycles = [];
    for (let c = 0; c < FLAPS; c++) {
      const tCut = Date.now();
      await net.partition([healthyIdx, [F]]);
      await sleep(CUT_MS - (Date.now() - tCut));
      const tHeal = Date.now();
      await net.heal();
      cycles.push({ tCut, tHeal });
      if (c < FLAPS - 1) await sleep(FLAP_PERIOD_MS - (Date.now() - tCut));
    }
    const tLast = cycles[cycles.length - 1].tHeal;
    const all = await waitMembership(members, names, { timeoutMs: FLAP_CONVERGE_MS }).catch((e) => ({ error: e.message }));
    await sleep(3000); // stays so
    const stable = await waitMembership(members, names, { timeoutMs: 1000 }).catch((e) => ({ error: e.message }));
    const healthyFails = withRecovery(members, healthyFailures(members, tFlap, healthy));
    const ofFlapper = failureEvents(members, tFlap, (m, e) => e.peer === flapper.name);
    const byFlapper = failureEvents([flapper], tFlap);
    const probes = statsDelta(statsBefore, await probeStats(members));
    const values = await Promise.all([spread(flapper, 'after', { n: F }), spread(members[0], 'after', { n: 0 })]);
    report({
      scenario: 8,
      intervalMs: INTERVAL,
      flaps: FLAPS,
      cutMs: CUT_MS,
      periodMs: FLAP_PERIOD_MS,
      flapperFailedPerCut: cycles.map(({ tCut, tHeal }) => ofFlapper.filter((f) => f.t >= tCut && f.t < tHeal + 1000).length),
      flapperFailedMs: summarize(ofFlapper.map((f) => {
        const c = cycles.filter((x) => x.tCut <= f.t).pop();
        return f.t - c.tCut;
      })), // cut -> a healthy host reports the flapper failed
      flapperReportedFailed: byFlapper.length, // healthy hosts the flapper reported failed (while cut off)
      allLiveMs: all.error ? all.error : all.t - tLast, // last heal -> every host lists every host live
      healthyFailures: healthyFails,
      probes, // per host: suspicions raised, refuted, lag holds, times it heard again after a silence
      afterSpreadMs: values,
    });
    assert.deepEqual(healthyFails, [], 'a healthy host was reported failed by another healthy host');
    assert.ok(!all.error, `every host must see every host alive within ${FLAP_CONVERGE_MS} ms of the last heal: ${all.error}`);
    assert.ok(!stable.error, `membership must stay whole once converged: ${stable.error}`);
    // each heal ends a silence the flapper must take for being cut off
    assert.ok(probes[F].cutOffs >= FLAPS, `the flapper took itself for cut off ${probes[F].cutOffs} times in ${FLAPS} cuts`);
  });
});
