'use strict';
// Multi-host scenarios 1-3: five gossiper processes, each alone in its own
// network namespace ("host", see harness.js) with its own address, gossiping
// over a software switch. Needs root (npm run test:net); skips otherwise.
//
//   1. five hosts converge; a value set on one host reaches all
//   2. one host's link goes down and comes back
//   3. a 2 | 3 partition and its healing
// (4: scenarios-loss.test.js, 5: scenarios-churn.test.js,
//  6: scenarios-mixed.test.js.)
//
// Timing: gossipIntervalMs = 250 ($NET_GOSSIP_INTERVAL_MS), every other
// option at its default. The detector defaults scale with the interval
// (lib/options.js: initialIntervalMs 0.75x, minStdDevMs 0.25x,
// acceptablePauseMs 2x), so a 250 ms cluster behaves like the default 1 s
// one four times faster -- the same false-positive margin counted in
// rounds, detection in one to two seconds instead of four to eight. 250
// rather than the 'local' profile's 200 leaves headroom on a small VM that
// also runs the netem relays (a userspace process per impaired host).
//
// Each scenario prints its measurements as one JSON line (shown by the test
// runner as a "# {...}" comment; also appended to $NET_RESULTS_FILE if set).
// Times are measured with the hosts' event timestamps (all processes share
// this machine's clock): detection = peer_failed - fault injected, heal =
// peer_alive - fault removed, convergence = value's arrival - its write,
// each the slowest over all (observer, peer) pairs.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const harness = require('./harness.js');
const {
  startCluster, waitMembership, waitValues, waitUntil, spreadTime, waitEvents, failureEvents, withRecovery,
  summarize, report, exitAll, sleep,
} = require('./gossip-host.js');

const support = harness.checkSupportSync();
const skip = support.ok ? false : `multi-host tests need network namespaces: ${support.reason}`;

const INTERVAL = Number(process.env.NET_GOSSIP_INTERVAL_MS || 250);
const OPTIONS = { gossipIntervalMs: INTERVAL };
const HOSTS = 5;
// A host reachable all along may be reported failed only briefly: in the
// first second of a partition each host still spends most of its fanout on
// peers it can no longer reach, so the peers it can reach are heard from
// less often, and a young cluster's detector may convict one for a moment
// (measured on scenario 3: ~1 run in 35 while acceptablePauseMs defaulted
// to 1x the interval, none in 40 at today's 2x). Such a flap must recover
// within TRANSIENT_MS and is reported (spuriousFailures); NET_STRICT=1
// fails on any.
const TRANSIENT_MS = 2000;
const STRICT = process.env.NET_STRICT === '1';
const lasting = (flaps) => flaps.filter((f) => STRICT || f.recoveredMs === null || f.recoveredMs > TRANSIENT_MS);

describe('multi-host scenarios (gossiper, 5 hosts)', { skip }, () => {
  let net;
  let members = [];

  before(async () => {
    net = await harness.createNetwork({ hosts: HOSTS, name: 'scenarios' });
  });
  after(async () => {
    await exitAll(members);
    if (net) await net.destroy();
  });

  // A fresh cluster per scenario, on its own port; converged before return.
  async function cluster(port) {
    await exitAll(members);
    members = [];
    members = await startCluster(net, { port, options: OPTIONS, values: (i) => ({ role: `r${i}` }) });
    const names = members.map((m) => m.name);
    await waitMembership(members, names, { timeoutMs: 20000 });
    const expected = Object.fromEntries(members.map((m, i) => [m.name, { role: `r${i}` }]));
    await waitValues(members, expected, { what: 'initial values' });
    return { names, expected };
  }

  test('1: five hosts converge; a value set on one host reaches all', { timeout: 60000 }, async () => {
    const tSpawn = Date.now();
    members = await startCluster(net, { port: 9001, options: OPTIONS });
    const names = members.map((m) => m.name);
    const started = Math.max(...members.map((m) => m.child.messages.find((x) => x.type === 'started').t));
    // Every member learns every other one (new_peer), then all list all live.
    await waitEvents(members, names, 'new_peer', 0, { timeoutMs: 20000 });
    const joinedAt = Math.max(...members.flatMap((m) => m.events((e) => e.ev === 'new_peer').map((e) => e.t)));
    const live = await waitMembership(members, names, { timeoutMs: 20000 });

    // One write per host, one at a time: time until every other host has it.
    const spreads = [];
    const expected = {};
    for (const [i, m] of members.entries()) {
      const value = { from: i, n: i * 10 };
      const tSet = await m.set('s1', value);
      spreads.push((await spreadTime(m, 's1', value, tSet, members, { timeoutMs: 20000 })).ms);
      expected[m.name] = { s1: value };
    }
    await waitValues(members, expected, { what: 'every host holding every value' });
    const fails = failureEvents(members, 0);
    assert.deepEqual(fails, [], 'no peer may be reported failed in a healthy cluster');
    const r = {
      scenario: 1,
      hosts: HOSTS,
      intervalMs: INTERVAL,
      startupMs: started - tSpawn,
      joinMs: Math.max(0, joinedAt - started), // last member started -> every member knows every other
      allLiveMs: live.t - started,
      convergenceMs: summarize(spreads),
    };
    report(r);
  });

  test('2: a host cut off is reported failed by all, and back alive with its new values after', { timeout: 90000 }, async () => {
    const { names } = await cluster(9002);
    const cut = members[4];
    const others = members.slice(0, 4);
    const tStart = Date.now();

    const tDown = Date.now();
    await net.linkDown(4);
    const detected = await waitEvents(others, [cut.name], 'peer_failed', tDown, { timeoutMs: 30000 });
    const cutSees = await waitEvents([cut], others.map((m) => m.name), 'peer_failed', tDown, { timeoutMs: 30000 });

    // Writes on both sides of the cut.
    await cut.setMany({ role: 'r4-while-cut', 'cut:a': 1, 'cut:b': [1, 2, 3] });
    await others[0].set('while-cut', 'from-h0');
    await sleep(4 * INTERVAL);
    for (const d of await Promise.all(others.map((m) => m.dump()))) {
      assert.equal(d.values[cut.name]['cut:a'], undefined, `${d.name} got a value across a downed link`);
      assert.ok(d.dead.includes(cut.name), `${d.name}: dead=${JSON.stringify(d.dead)}`);
    }

    const tUp = Date.now();
    await net.linkUp(4);
    const healed = await waitEvents(others, [cut.name], 'peer_alive', tUp, { timeoutMs: 30000 });
    const cutHealed = await waitEvents([cut], others.map((m) => m.name), 'peer_alive', tUp, { timeoutMs: 30000 });
    const arrivals = await Promise.all([
      ...others.flatMap((o) => [
        o.valueArrival(cut.name, 'cut:a', 1),
        o.valueArrival(cut.name, 'cut:b', [1, 2, 3]),
        o.valueArrival(cut.name, 'role', 'r4-while-cut'),
      ]),
      cut.valueArrival(others[0].name, 'while-cut', 'from-h0'),
    ]);
    const expected = Object.fromEntries(members.map((m, i) => [m.name, { role: `r${i}` }]));
    expected[cut.name] = { role: 'r4-while-cut', 'cut:a': 1, 'cut:b': [1, 2, 3] };
    expected[others[0].name]['while-cut'] = 'from-h0';
    await waitValues(members, expected, { what: 'every value everywhere after the link is back' });
    await waitMembership(members, names);
    // Nobody but the cut-off host (as seen by the others) and the others (as
    // seen by it) may have been reported failed.
    const spurious = withRecovery(members, failureEvents(members, tStart, (m, e) => (m === cut ? false : e.peer !== cut.name)))
      .map((e) => ({ ...e, afterLinkDownMs: e.t - tDown, afterLinkUpMs: e.t - tUp }));
    report({
      scenario: 2,
      intervalMs: INTERVAL,
      detectionMs: detected.max, // slowest of the 4 others to report the cut-off host failed
      detectionMinMs: Math.min(...detected.perPair.map((x) => x.ms)),
      cutOffSideDetectionMs: cutSees.max, // the cut-off host reporting all 4 others failed
      healMs: healed.max, // link up -> slowest of the 4 others reports it alive
      cutOffSideHealMs: cutHealed.max,
      valuesMs: Math.max(...arrivals) - tUp, // link up -> values written while cut off are everywhere
      spuriousFailures: spurious,
    });
    assert.deepEqual(lasting(spurious), [], 'only the cut-off host may be reported failed (for longer than a moment)');
  });

  test('3: a 2 | 3 partition: each side fails the other, works inside, loses nothing after heal', { timeout: 90000 }, async () => {
    const { names } = await cluster(9003);
    const A = members.slice(0, 2);
    const B = members.slice(2);
    const sideOf = (m) => (A.includes(m) ? A : B);
    const other = (side) => (side === A ? B : A);
    const tStart = Date.now();

    const tPart = Date.now();
    await net.partition([[0, 1], [2, 3, 4]]);
    const [detA, detB] = await Promise.all([
      waitEvents(A, B.map((m) => m.name), 'peer_failed', tPart, { timeoutMs: 30000 }),
      waitEvents(B, A.map((m) => m.name), 'peer_failed', tPart, { timeoutMs: 30000 }),
    ]);

    // Each side keeps working: a write on every host reaches its own side.
    const inside = await Promise.all(members.map(async (m, i) => {
      const v = `during-1-${i}`;
      const tSet = await m.set(`p:${i}`, v);
      return (await spreadTime(m, `p:${i}`, v, tSet, sideOf(m), { timeoutMs: 20000 })).ms;
    }));
    for (const m of members) {
      const d = await m.dump();
      for (const o of other(sideOf(m))) {
        const i = members.indexOf(o);
        assert.equal(d.values[o.name][`p:${i}`], undefined, `${m.name} got ${o.name}'s value across the partition`);
        assert.ok(d.dead.includes(o.name), `${m.name} does not list ${o.name} as dead`);
      }
    }
    await waitUntil(async () => {
      for (const m of members) {
        const d = await m.dump();
        const down = sideOf(m).filter((o) => !d.live.includes(o.name));
        if (down.length) return { ok: false, why: `${m.name} lists ${down.map((o) => o.name)} (same side) as dead` };
      }
      return true;
    }, { timeoutMs: TRANSIENT_MS, what: 'every host listing its own side live' });
    // More writes on both sides just before the heal: overwrites and new keys.
    await Promise.all(members.map((m, i) => m.setMany({ [`p:${i}`]: `during-2-${i}`, [`q:${i}`]: { i, side: sideOf(m) === A ? 'A' : 'B' } })));
    await sleep(2 * INTERVAL);

    const tHeal = Date.now();
    await net.heal();
    const [healA, healB] = await Promise.all([
      waitEvents(A, B.map((m) => m.name), 'peer_alive', tHeal, { timeoutMs: 30000 }),
      waitEvents(B, A.map((m) => m.name), 'peer_alive', tHeal, { timeoutMs: 30000 }),
    ]);
    const crossArrivals = await Promise.all(members.flatMap((m) => other(sideOf(m)).flatMap((o) => {
      const i = members.indexOf(o);
      return [
        m.valueArrival(o.name, `p:${i}`, `during-2-${i}`),
        m.valueArrival(o.name, `q:${i}`, { i, side: sideOf(o) === A ? 'A' : 'B' }),
      ];
    })));
    const expected = Object.fromEntries(members.map((m, i) => [m.name, {
      role: `r${i}`, [`p:${i}`]: `during-2-${i}`, [`q:${i}`]: { i, side: sideOf(m) === A ? 'A' : 'B' },
    }]));
    await waitValues(members, expected, { what: 'every value everywhere after the heal' });
    await waitMembership(members, names);
    const spurious = withRecovery(members, failureEvents(members, tStart, (m, e) => sideOf(m).some((o) => o.name === e.peer)))
      .map((e) => ({ ...e, afterPartitionMs: e.t - tPart, afterHealMs: e.t - tHeal }));
    report({
      scenario: 3,
      intervalMs: INTERVAL,
      detectionMs: Math.max(detA.max, detB.max), // partition -> every host reports every host of the other side failed
      detectionSide2Ms: detA.max,
      detectionSide3Ms: detB.max,
      insideConvergenceMs: summarize(inside), // a write during the partition -> its own side
      healMs: Math.max(healA.max, healB.max), // heal -> every cross pair reports alive
      valuesMs: Math.max(...crossArrivals) - tHeal, // heal -> every write of the other side present
      spuriousFailures: spurious,
    });
    assert.deepEqual(lasting(spurious), [], 'no host may report a host of its own side failed (for longer than a moment)');
  });
});
