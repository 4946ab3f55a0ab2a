'use strict';
// Multi-host scenario 4, a lossy slow network: between every two hosts,
// 20 % of the frames are lost and each is delayed 100 ms +- 50 ms, each
// way (NET_SOAK_IMPAIR below says how that maps onto the harness's per-host
// links). The cluster forms on a clean network, the impairment is switched
// on, and once the failure detectors have settled on the new timing (no
// verdict change for 10 s; what happened meanwhile is measured and reported
// as `transition`, not asserted), for NET_SOAK_SECONDS (default 120) no host
// may report any other failed, and values written meanwhile (one every 3 s,
// round robin) must still reach every host. See scenarios.test.js for the
// timing choices.
//
// Environment:
//   NET_SOAK_SECONDS   soak duration (default 120; the issue asks for "a
//                      few minutes": 120-180)
//   NET_SOAK_LOSS, NET_SOAK_DELAY_MS, NET_SOAK_JITTER_MS   impairment
//                      (defaults 20, 100, 50)
//   NET_SOAK_IMPAIR    'path' (default): those figures between every two
//                      hosts; 'link': those figures on every host's link,
//                      so ~36 % loss and 200 +- 100 ms between two hosts
//
// On Node 20 the runner's --test-timeout (scripts/test-net.js:
// GOSSIPER_NET_TEST_TIMEOUT, default 120000) bounds this whole file. When
// NET_SOAK_SECONDS is not set and the default soak would not fit, the soak
// is shortened to fit and says so (soakClamped in its result line); when
// NET_SOAK_SECONDS is set and does not fit, the test fails at once with
// what to change.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const harness = require('./harness.js');
const {
  startCluster, waitMembership, waitValues, waitUntil, spreadTime, failureEvents, summarize, report, exitAll, sleep, fileTimeoutMs,
} = require('./gossip-host.js');

const support = harness.checkSupportSync();
const skip = support.ok ? false : `multi-host tests need network namespaces: ${support.reason}`;

const INTERVAL = Number(process.env.NET_GOSSIP_INTERVAL_MS || 250);
const OPTIONS = { gossipIntervalMs: INTERVAL };
const HOSTS = 5;
const PORT = 9004;
// The impairment every pair of hosts sees, one way (NET_SOAK_* env).
const WANTED = {
  lossPercent: Number(process.env.NET_SOAK_LOSS || 20),
  delayMs: Number(process.env.NET_SOAK_DELAY_MS || 100),
  jitterMs: Number(process.env.NET_SOAK_JITTER_MS || 50),
};
// The harness impairs each host's link in both directions, so a frame
// between two hosts crosses two impaired links. 'path' (default): each link
// gets half the delay and jitter and the loss that, taken twice, gives the
// wanted loss, so every host-to-host path drops WANTED.lossPercent and
// delays by WANTED.delayMs +- WANTED.jitterMs -- what `tc netem` on every
// host's egress gives (the jitter is the sum of two uniform halves:
// same range, triangular). 'link': the wanted figures on every link as
// they are, i.e. ~36 % loss and 200 +- 100 ms one way per path for the
// defaults.
const MODE = process.env.NET_SOAK_IMPAIR || 'path';
if (!['path', 'link'].includes(MODE)) throw new Error(`NET_SOAK_IMPAIR must be path or link, got ${MODE}`);
const IMPAIRMENT = MODE === 'link' ? { ...WANTED } : {
  lossPercent: Math.round(10000 * (1 - Math.sqrt(1 - WANTED.lossPercent / 100))) / 100,
  delayMs: WANTED.delayMs / 2,
  jitterMs: WANTED.jitterMs / 2,
};
const PER_PATH = {
  lossPercent: Math.round(1000 * (1 - (1 - IMPAIRMENT.lossPercent / 100) ** 2)) / 10,
  delayMs: 2 * IMPAIRMENT.delayMs,
  jitterMs: 2 * IMPAIRMENT.jitterMs,
};
const WRITE_EVERY_MS = 3000;
const QUIET_TAIL_MS = 20000; // no writes in the last 20 s: every write has time to arrive
const OVERHEAD_S = 25; // network, cluster, relays, final checks and teardown
// Settling: the cluster runs on a clean network, then the impairment is
// switched on at once. Detectors that learnt a clean network's timing need a
// few seconds to learn the new one (see the report); the soak window starts
// once no failure or recovery has been reported for SETTLE_QUIET_S seconds
// (at least SETTLE_MIN_S after the switch, at most SETTLE_MAX_S).
const SETTLE_MIN_S = 10;
const SETTLE_QUIET_S = 10;
const SETTLE_MAX_S = 60;
const SETTLE_BUDGET_S = 25; // settling time planned for when fitting the file timeout

const requested = process.env.NET_SOAK_SECONDS ? Number(process.env.NET_SOAK_SECONDS) : null;
const fileLimitS = fileTimeoutMs() / 1000;
let soakSeconds = requested || 120;
let clamped = false;
if (soakSeconds + SETTLE_BUDGET_S + OVERHEAD_S > fileLimitS && requested == null) {
  soakSeconds = Math.floor(fileLimitS - SETTLE_BUDGET_S - OVERHEAD_S);
  clamped = true;
}

describe('multi-host soak on a lossy, slow network (gossiper, 5 hosts)', { skip }, () => {
  let net;
  let members = [];

  before(async () => {
    net = await harness.createNetwork({ hosts: HOSTS, name: 'loss' });
  });
  after(async () => {
    await exitAll(members);
    if (net) await net.destroy();
  });

  test(`4: ${PER_PATH.lossPercent} % loss, ${PER_PATH.delayMs} +- ${PER_PATH.jitterMs} ms delay between every two hosts: no false failure, values converge`,
    { timeout: (soakSeconds + SETTLE_MAX_S + OVERHEAD_S) * 1000 }, async () => {
      if (soakSeconds + SETTLE_BUDGET_S + OVERHEAD_S > fileLimitS) {
        assert.fail(`NET_SOAK_SECONDS=${soakSeconds} needs about ${soakSeconds + SETTLE_BUDGET_S + OVERHEAD_S} s for this file, but the test runner `
          + `allows ${fileLimitS} s per file: raise GOSSIPER_NET_TEST_TIMEOUT (ms) or lower NET_SOAK_SECONDS`);
      }
      if (soakSeconds < 30) assert.fail(`a soak of ${soakSeconds} s is too short to mean anything (file timeout ${fileLimitS} s)`);
      if (clamped) {
        console.log(`scenario 4: soak shortened from 120 s to ${soakSeconds} s to fit the runner's ${fileLimitS} s per-file timeout `
          + '(set GOSSIPER_NET_TEST_TIMEOUT=300000 for the full soak)');
      }
      members = await startCluster(net, {
        port: PORT,
        options: OPTIONS,
        values: (i) => ({ role: `r${i}` }),
        extra: { sampleDetectorMs: 50 }, // highest phi and longest silence per peer, see gossip-host.js
      });
      const names = members.map((m) => m.name);
      await waitMembership(members, names);

      // Switch the impairment on, then wait for the detectors to settle.
      await Promise.all(members.map((m) => m.request('detector', { reset: true })));
      const tImpair = Date.now();
      await net.netemAll(IMPAIRMENT);
      const impairedInMs = Date.now() - tImpair;
      const verdicts = (since) => members.flatMap((m) => m.events((e) => e.ev === 'peer_failed' || e.ev === 'peer_alive', since));
      const settleMaxS = Math.min(SETTLE_MAX_S, Math.max(SETTLE_MIN_S + SETTLE_QUIET_S, fileLimitS - soakSeconds - OVERHEAD_S));
      const settled = await waitUntil(async () => {
        const now = Date.now();
        const last = Math.max(tImpair, ...verdicts(tImpair).map((e) => e.t));
        if (now - tImpair < SETTLE_MIN_S * 1000 || now - last < SETTLE_QUIET_S * 1000) return { ok: false, why: 'verdicts still changing' };
        const dumps = await Promise.all(members.map((m) => m.dump()));
        const down = dumps.filter((d) => d.dead.length);
        return down.length ? { ok: false, why: `${down[0].name} lists ${down[0].dead} as dead` } : true;
      }, { timeoutMs: settleMaxS * 1000, intervalMs: 250, what: `the detectors to settle on the impaired network (${settleMaxS} s)` });
      const transition = {
        settledAfterMs: settled.t - tImpair,
        falseFailures: failureEvents(members, tImpair).length,
        flaps: members.flatMap((m) => m.events((e) => e.ev === 'peer_alive', tImpair)).length,
        lastVerdictMs: Math.max(0, ...verdicts(tImpair).map((e) => e.t - tImpair)),
      };
      const detectorAtSettle = await Promise.all(members.map((m) => m.request('detector', { reset: true })));

      const tSoak = Date.now();
      const tEnd = tSoak + soakSeconds * 1000;
      const pending = [];
      const latest = Object.fromEntries(members.map((m, i) => [m.name, { role: `r${i}` }]));
      let k = 0;
      while (Date.now() < tEnd - QUIET_TAIL_MS) {
        const m = members[k % HOSTS];
        const value = { k, at: Date.now() };
        const tSet = await m.set('soak', value);
        latest[m.name].soak = value;
        pending.push(spreadTime(m, 'soak', value, tSet, members, { timeoutMs: QUIET_TAIL_MS + 20000 })
          .then((r) => r.ms, (err) => ({ error: err.message })));
        k++;
        const failedSoFar = failureEvents(members, tSoak);
        if (failedSoFar.length) break; // fail fast, reported below
        await sleep(WRITE_EVERY_MS);
      }
      const spreads = await Promise.all(pending);
      const failedEarly = failureEvents(members, tSoak);
      if (!failedEarly.length && Date.now() < tEnd) await sleep(tEnd - Date.now());
      const tDone = Date.now();

      const fails = failureEvents(members, tSoak);
      const alive = members.flatMap((m) => m.events((e) => e.ev === 'peer_alive', tSoak).map((e) => ({ by: m.name, peer: e.peer, t: e.t })));
      const detector = await Promise.all(members.map((m) => m.request('detector')));
      const peerStats = detector.flatMap((d) => Object.values(d.peers));
      const stats = (await Promise.all(members.map((m) => m.dump({ stats: true })))).map((d) => d.stats);
      const relay = await Promise.all(net.hosts.map((h) => net.relayStats(h.index)));
      const frames = relay.reduce((acc, r) => {
        if (!r) return acc;
        for (const d of [r.stats.ab, r.stats.ba]) { acc.rx += d.rx; acc.dropped += d.dropped; }
        return acc;
      }, { rx: 0, dropped: 0 });
      const result = {
        scenario: 4,
        intervalMs: INTERVAL,
        impairmentMode: MODE,
        impairmentPerPath: PER_PATH, // one way, between any two hosts
        impairmentPerLink: IMPAIRMENT, // what each host's link applies, both directions
        netemBackend: net.netemBackendInUse,
        soakSeconds: Math.round((tDone - tSoak) / 1000),
        soakClamped: clamped,
        falseFailures: fails.length,
        flaps: alive.length,
        writes: k,
        convergenceMs: summarize(spreads.filter((x) => typeof x === 'number')),
        maxPhi: Math.max(0, ...peerStats.map((p) => p.maxPhi)),
        maxSilenceMs: Math.max(0, ...peerStats.map((p) => p.maxSilenceMs)),
        exchangesFailedPct: Math.round(1000 * stats.reduce((a, s) => a + s.exchangesFailed, 0)
          / Math.max(1, stats.reduce((a, s) => a + s.exchangesStarted, 0))) / 10,
        connectFailures: stats.reduce((a, s) => a + s.connectFailures, 0),
        framesDroppedPct: Math.round(1000 * frames.dropped / Math.max(1, frames.rx)) / 10,
        impairedInMs,
        transition, // the first seconds after the switch, not part of the soak window
        transitionMaxPhi: Math.max(0, ...detectorAtSettle.flatMap((d) => Object.values(d.peers)).map((p) => p.maxPhi)),
      };
      report(result);
      assert.deepEqual(fails, [], `false failures under loss (first: ${JSON.stringify(fails.slice(0, 5))})`);
      const lost = spreads.filter((x) => typeof x !== 'number');
      assert.deepEqual(lost, [], 'every write must reach every host');
      await waitValues(members, latest, { timeoutMs: 30000, what: 'every latest value everywhere' });
      await waitMembership(members, names, { timeoutMs: 5000 });
      assert.ok(tDone - tSoak >= soakSeconds * 1000 - 1000, 'soak ended early');
    });
});
