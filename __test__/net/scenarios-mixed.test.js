'use strict';
// Multi-host scenario 6, a mixed cluster: scenario 1 with one of the five
// hosts running the ORIGINAL node-gossip (gossiper@0.0.3, unmodified, over
// the msgpack shim; see ../support/original.js) -- the situation of an app
// migrating one process at a time. Every host must learn every other one,
// values must flow both ways (original -> gossiper, gossiper -> original),
// and nobody may report anybody failed.
//
// Timing: the original has fixed 1 s rounds and heartbeats and the
// exponential detector (a stopped peer is reported after ~18 mean
// intervals). The gossiper hosts run their defaults (the 'lan' profile:
// 1 s rounds, 'normal' detector): node-gossip's timing, what an app
// migrating one process at a time runs. Short gossiper rounds do not work
// here: the gossiper's detector defaults scale with its own interval
// (lib/options.js: initialIntervalMs 0.75x, acceptablePauseMs 2x,
// minStdDevMs 0.25x), so at 250 ms a peer that beats once a second looks
// late until enough samples are in. Measured with
// NET_MIXED_OPTIONS='{"gossipIntervalMs":250}': in about half the runs a
// gossiper host reports the original failed (and alive again) in its first
// seconds, and this test fails on it. detector:'exponential' at 250 ms
// tolerates it (threshold ~18 mean intervals), but then the gossiper hosts
// lose the fast detection that is the point of short rounds.
//
// Naming of the original: see original-host.js. By default it uses its
// ordinary code path (no ipToBind, host name lookup) with a per-namespace
// /etc/hosts (/etc/netns/<ns>/hosts, bind-mounted by `ip netns exec`,
// removed afterwards); NET_ORIGINAL_NAMING=preset uses ipToBind plus the
// preset address field instead.
//
// Environment: NET_MIXED_OPTIONS (JSON gossiper options, default {}),
// NET_ORIGINAL_NAMING (hostname | preset), NET_MIXED_HOLD_SECONDS (how long
// the converged cluster must stay free of failures, default 15).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const harness = require('./harness.js');
const {
  spawnMember, waitMembership, waitValues, waitEvents, spreadTime, failureEvents, summarize, report, exitAll, sleep,
} = require('./gossip-host.js');
const { prepareHostsFile, removeHostsFile, removeStaleHostsFiles } = require('./original-host.js');

const support = harness.checkSupportSync();
let skip = support.ok ? false : `multi-host tests need network namespaces: ${support.reason}`;
if (!skip) {
  try {
    require('../support/original').loadOriginal();
  } catch (err) {
    skip = `the original node-gossip is not available: ${err.message}`;
  }
}

const OPTIONS = JSON.parse(process.env.NET_MIXED_OPTIONS || '{}');
const NAMING = process.env.NET_ORIGINAL_NAMING || 'hostname';
const HOLD_S = Number(process.env.NET_MIXED_HOLD_SECONDS || 15);
const HOSTS = 5;
const ORIGINAL = 2; // host index of the original (not the seed)
const PORT = 9006;
const ORIGINAL_HOST = path.join(__dirname, 'original-host.js');

describe('mixed cluster: 4 gossiper hosts + 1 original node-gossip host', { skip }, () => {
  let net;
  let members = [];

  before(async () => {
    removeStaleHostsFiles(harness);
    net = await harness.createNetwork({ hosts: HOSTS, name: 'mixed' });
    if (NAMING === 'hostname') prepareHostsFile(net.hosts[ORIGINAL]);
  });
  after(async () => {
    await exitAll(members);
    if (net) {
      if (NAMING === 'hostname') removeHostsFile(net.hosts[ORIGINAL]);
      await net.destroy();
    }
  });

  test('6: the original takes part in scenario 1: all know all, values flow both ways, no failures', { timeout: 100000 }, async () => {
    const seed = `${net.hosts[0].ip}:${PORT}`;
    const tSpawn = Date.now();
    members = await Promise.all(net.hosts.map((h) => (h.index === ORIGINAL
      ? spawnMember(h, { port: PORT, seeds: [seed], naming: NAMING }, { script: ORIGINAL_HOST, kind: 'original' })
      : spawnMember(h, { port: PORT, seeds: h.index === 0 ? [] : [seed], options: OPTIONS }))));
    const original = members[ORIGINAL];
    const gossipers = members.filter((m) => m !== original);
    const names = members.map((m) => m.name);
    const started = Math.max(...members.map((m) => m.child.messages.find((x) => x.type === 'started').t));

    await waitEvents(members, names, 'new_peer', 0, { timeoutMs: 60000 });
    const joinedAt = Math.max(...members.map((m) => Math.max(...names.filter((n) => n !== m.name)
      .map((n) => m.events((e) => e.ev === 'new_peer' && e.peer === n)[0].t))));
    const live = await waitMembership(members, names, { timeoutMs: 60000 });

    // original -> gossipers, then gossiper -> original and the others.
    const vo = { from: 'original', list: [1, 2, 3], nested: { ok: true } };
    const tO = await original.set('mixed', vo);
    const fromOriginal = await spreadTime(original, 'mixed', vo, tO, members, { timeoutMs: 30000 });
    const writer = members[4];
    const vg = { from: 'gossiper', text: 'x'.repeat(40), n: -7.5 };
    const tG = await writer.set('mixed', vg);
    const toOriginalAt = await original.valueArrival(writer.name, 'mixed', vg, { timeoutMs: 30000 });
    const fromGossiper = await spreadTime(writer, 'mixed', vg, tG, members, { timeoutMs: 30000 });
    // Then one value per host at once.
    const each = await Promise.all(members.map(async (m, i) => {
      const v = `v${i}`;
      const t = await m.set('each', v);
      return (await spreadTime(m, 'each', v, t, members, { timeoutMs: 30000 })).ms;
    }));
    const expected = Object.fromEntries(members.map((m, i) => [m.name, { each: `v${i}` }]));
    expected[original.name].mixed = vo;
    expected[writer.name].mixed = vg;
    await waitValues(members, expected, { timeoutMs: 30000, what: 'every value on every host' });

    // The converged cluster stays converged: no failure reported by anyone.
    await sleep(HOLD_S * 1000);
    await waitMembership(members, names, { timeoutMs: 5000 });
    const fails = failureEvents(members, 0);
    const originalStderr = original.child.stderrTail.trim();
    report({
      scenario: 6,
      original: { host: ORIGINAL, name: original.name, naming: NAMING },
      gossiperOptions: OPTIONS,
      joinMs: Math.max(0, joinedAt - started), // last process started -> every host knows all five
      allLiveMs: live.t - started,
      originalToGossipersMs: fromOriginal.ms,
      gossiperToOriginalMs: toOriginalAt - tG,
      gossiperToAllMs: fromGossiper.ms,
      eachToAllMs: summarize(each),
      falseFailures: fails.length,
      startupMs: started - tSpawn,
    });
    assert.deepEqual(fails, [], 'nobody may be reported failed in a healthy mixed cluster');
    assert.ok(original.running, `the original exited: ${originalStderr}`);
    for (const g of gossipers) {
      const d = await g.dump({ stats: true });
      const refused = Object.entries(d.stats.refused).filter(([, n]) => n > 0);
      assert.deepEqual(refused, [], `${g.name} refused connections: ${JSON.stringify(refused)}`);
    }
  });
});
