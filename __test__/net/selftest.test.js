'use strict';
// Selftest of the multi-host network harness (node --test). Needs root;
// skips itself (with the reason) when namespaces are unavailable.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const harness = require('./harness.js');

const AGENT = harness.AGENT_PATH;
const PORT = 7000;
const support = harness.checkSupportSync();
const skip = support.ok ? false : support.reason;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rootLinks() {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
}

function pidGone(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z'; // zombie = dead
  } catch { return true; }
}

// Everything a network (identified by its id) could leave behind.
function leftovers(info) {
  const out = [];
  const ns = harness._listNetns().filter((n) => n.startsWith(info.id));
  if (ns.length) out.push(`namespaces: ${ns.join(' ')}`);
  if (rootLinks().includes(info.id)) out.push('interfaces in the root namespace');
  const live = (info.pids || []).filter((p) => !pidGone(p));
  if (live.length) out.push(`processes: ${live.join(' ')}`);
  const taps = (info.tapDevices || []).filter((d) => fs.existsSync(d));
  if (taps.length) out.push(`tap devices: ${taps.join(' ')}`);
  if (info.stateFile && fs.existsSync(info.stateFile)) out.push(`state file ${info.stateFile}`);
  return out;
}

async function assertNothingLeft(info, withinMs = 3000) {
  const deadline = Date.now() + withinMs;
  let left;
  for (;;) {
    left = leftovers(info);
    if (!left.length || Date.now() > deadline) break;
    await sleep(50);
  }
  assert.deepEqual(left, [], `network ${info.id} left things behind`);
}

describe('network harness', { skip }, () => {
  let net;
  let peers;

  const probe = (from, to, timeoutMs = 2000) => peers[from].request(
    { op: 'probe', host: net.hosts[to].ip, port: PORT, timeoutMs }, timeoutMs + 5000);

  // Reachability right after a topology change may need an ARP round or a
  // SYN retransmit; allow a few attempts.
  async function reaches(from, to, attempts = 3) {
    let r;
    for (let k = 0; k < attempts; k++) {
      r = await probe(from, to, 2500);
      if (r.ok) return r;
    }
    assert.fail(`host ${from} cannot reach host ${to}: ${JSON.stringify(r)}`);
  }
  async function blocked(from, to) {
    const r = await probe(from, to, 700);
    assert.equal(r.ok, false, `host ${from} unexpectedly reached host ${to}: ${JSON.stringify(r)}`);
  }

  before(async () => {
    net = await harness.createNetwork({ hosts: 3, name: 'selftest' });
    peers = net.hosts.map((h) => h.spawnNode(AGENT, ['peer', '--port', String(PORT)]));
    await Promise.all(peers.map((p) => p.waitFor('listening', 10000, { past: true })));
  });

  after(async () => {
    if (net) await net.destroy();
  });

  test('addresses, names and isolation from the root namespace', async () => {
    const x = net.subnetIndex;
    assert.deepEqual(net.ips, [1, 2, 3].map((y) => `198.18.${x}.${y}`));
    for (const ns of net.namespaces) assert.ok(ns.startsWith(net.id), ns);
    assert.match(net.id, /^gsp[0-9a-z]{6}$/);
    const sw = spawnSync('ip', ['-n', net.switchNs, '-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    const names = [...sw.matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]).filter((n) => n !== 'lo');
    assert.ok(names.length >= 4, sw);
    for (const n of names) {
      assert.ok(n.length <= 15, `interface name too long: ${n}`);
      assert.ok(n.startsWith(net.id), `switch interface without prefix: ${n}`);
    }
    assert.ok(!rootLinks().includes(net.id), 'nothing may be created in the root namespace');
    const r = await net.hosts[1].exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`${net.hosts[1].ip}/24`), r.stdout);
    const lo = await net.hosts[1].exec('ip -o link show lo | grep -q "UP" && echo up; echo oops >&2; exit 3');
    assert.deepEqual([lo.stdout.trim(), lo.stderr.trim(), lo.code], ['up', 'oops', 3]);
  });

  test('every host reaches every other host (TCP echo)', async () => {
    const pairs = [];
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) if (a !== b) pairs.push([a, b]);
    const res = await Promise.all(pairs.map(([a, b]) => reaches(a, b)));
    for (const r of res) assert.ok(r.connectMs < 100 && r.echoMs < 100, JSON.stringify(r));
  });

  test('waitFor rejects on timeout / exit with the stderr tail', async () => {
    const slow = net.hosts[0].spawn([process.execPath, '-e',
      'console.error("diagnostic line from child"); console.log(JSON.stringify({type:"hello"})); setTimeout(() => {}, 60000)']);
    const hello = await slow.waitFor('hello', 5000, { past: true });
    assert.equal(hello.type, 'hello');
    await assert.rejects(slow.waitFor({ type: 'never' }, 300), (err) => {
      assert.match(err.message, /timed out after 300 ms/);
      assert.match(err.message, /diagnostic line from child/);
      return true;
    });
    const w = slow.waitFor('never', 10000);
    slow.kill('SIGTERM');
    await assert.rejects(w, /exited/);
    const st = await slow.exited;
    assert.equal(st.signal, 'SIGTERM');
  });

  test('linkDown(2) cuts host 2 off, linkUp(2) restores it', async () => {
    await net.linkDown(2);
    try {
      await Promise.all([blocked(0, 2), blocked(2, 0), blocked(1, 2), reaches(0, 1)]);
    } finally {
      await net.linkUp(2);
    }
    await Promise.all([reaches(0, 2), reaches(2, 0), reaches(1, 2)]);
  });

  test('partition([[0,1],[2]]) blocks 0<->2 and 1<->2 but not 0<->1; heal() restores', async () => {
    await net.partition([[0, 1], [2]]);
    try {
      await Promise.all([
        blocked(0, 2), blocked(2, 0), blocked(1, 2), blocked(2, 1),
        reaches(0, 1), reaches(1, 0),
      ]);
    } finally {
      await net.heal();
    }
    await Promise.all([reaches(0, 2), reaches(2, 0), reaches(1, 2), reaches(2, 1)]);
  });

  test('block(0, 2) is one-way (UDP)', async () => {
    const udpCount = async (from, to) => {
      await peers[to].request({ op: 'reset' });
      await peers[from].request({ op: 'udp-burst', host: net.hosts[to].ip, port: PORT, count: 20 });
      await sleep(150);
      return (await peers[to].request({ op: 'stats' })).udpReceived;
    };
    await net.block(0, 2);
    try {
      assert.equal(await udpCount(0, 2), 0, '0 -> 2 must be dropped');
      assert.equal(await udpCount(2, 0), 20, '2 -> 0 must flow');
      assert.equal(await udpCount(0, 1), 20, '0 -> 1 must flow');
    } finally {
      await net.heal();
    }
    assert.equal(await udpCount(0, 2), 20);
  });

  const netemSkip = support.netemBackends.length ? false : `no netem backend: ${JSON.stringify(support.netemReasons)}`;

  // netem(i) impairs host i's link in both directions. A TCP connect is
  // SYN (in) + SYN-ACK (out) = 2 crossings of the delayed link, the echo
  // another 2: with 100 ms each, connect and echo each take >= 200 ms,
  // against < 50 ms without netem; a path not involving host 0 stays fast.
  async function checkDelay(n, p, label) {
    const pr = (from, to, timeoutMs = 3000) => p[from].request(
      { op: 'probe', host: n.hosts[to].ip, port: PORT, timeoutMs }, timeoutMs + 5000);
    const base = await pr(1, 0);
    assert.ok(base.ok && base.connectMs < 50 && base.echoMs < 50, `${label} baseline: ${JSON.stringify(base)}`);
    await n.netem(0, { delayMs: 100 });
    const samples = [];
    try {
      for (let k = 0; k < 3; k++) samples.push(await pr(1, 0));
      if (n.hosts.length > 2) {
        const other = await pr(1, 2);
        assert.ok(other.ok && other.connectMs < 50, `${label} undelayed path 1->2: ${JSON.stringify(other)}`);
      }
    } finally {
      await n.clearNetem();
    }
    for (const s of samples) {
      assert.ok(s.ok, `${label}: ${JSON.stringify(s)}`);
      assert.ok(s.connectMs >= 190 && s.connectMs < 350, `${label} connect RTT ${s.connectMs} not in [190, 350)`);
      assert.ok(s.echoMs >= 190 && s.echoMs < 350, `${label} echo RTT ${s.echoMs} not in [190, 350)`);
    }
    const after = await pr(1, 0);
    assert.ok(after.ok && after.connectMs < 50 && after.echoMs < 50, `${label} after clearNetem: ${JSON.stringify(after)}`);
    return samples;
  }

  test('netem delay 100 ms on host 0: connect and echo RTT from host 1 each >= 190 ms', { skip: netemSkip }, async (t) => {
    const samples = await checkDelay(net, peers, `backend ${net.netemBackendInUse || '?'}`);
    t.diagnostic(`backend=${net.netemBackendInUse} samples(ms)=${samples.map((s) => `${s.connectMs.toFixed(1)}/${s.echoMs.toFixed(1)}`).join(' ')}`);
  });

  // Each crossing of host 0's link takes 100±50 ms (uniform, per frame), so a
  // connect (2 crossings) takes 100..300 ms and 8 of them cannot all agree.
  test('netem jitter 100±50 ms: crossings vary within bounds', { skip: netemSkip }, async (t) => {
    await net.netem(0, { delayMs: 100, jitterMs: 50 });
    let res;
    try {
      res = await Promise.all([1, 1, 1, 1, 2, 2, 2, 2].map((from) => probe(from, 0, 3000)));
    } finally {
      await net.clearNetem();
    }
    const c = res.map((r) => { assert.ok(r.ok, JSON.stringify(r)); return r.connectMs; });
    t.diagnostic(`connect(ms)=${c.map((v) => v.toFixed(1)).join(' ')}`);
    for (const v of c) assert.ok(v >= 95 && v < 340, `connect ${v} outside [95, 340)`);
    assert.ok(Math.max(...c) - Math.min(...c) > 10, `no visible jitter: ${c}`);
  });

  test('netem loss: 100% cuts the host off, 50% drops about half of UDP datagrams', { skip: netemSkip }, async (t) => {
    await reaches(1, 0); // warm ARP caches
    await net.netem(0, { lossPercent: 100 });
    try {
      await blocked(1, 0);
      await net.netem(0, { lossPercent: 50 });
      await peers[0].request({ op: 'reset' });
      await peers[1].request({ op: 'udp-burst', host: net.hosts[0].ip, port: PORT, count: 400 });
      await sleep(300);
      const got = (await peers[0].request({ op: 'stats' })).udpReceived;
      t.diagnostic(`received ${got}/400 datagrams at 50% loss`);
      // Binomial(400, 0.5): sd = 10; [120, 280] is 8 sd either way.
      assert.ok(got >= 120 && got <= 280, `received ${got}/400`);
    } finally {
      await net.clearNetem();
    }
    await reaches(1, 0);
  });

  // Exercise the backends the main network did not use (e.g. the relay
  // on a kernel that has sch_netem).
  for (const backend of support.netemBackends) {
    test(`netem backend "${backend}" (dedicated network)`, { skip: netemSkip }, async (t) => {
      if (net.netemBackendInUse === backend) { t.skip(`already covered by the main network`); return; }
      const n2 = await harness.createNetwork({ hosts: 2, name: `netem-${backend}`, netem: backend });
      try {
        const p2 = n2.hosts.map((h) => h.spawnNode(AGENT, ['peer', '--port', String(PORT)]));
        await Promise.all(p2.map((p) => p.waitFor('listening', 10000, { past: true })));
        const samples = await checkDelay(n2, p2, `backend ${backend}`);
        t.diagnostic(`samples(ms)=${samples.map((s) => `${s.connectMs.toFixed(1)}/${s.echoMs.toFixed(1)}`).join(' ')}`);
      } finally {
        await n2.destroy();
      }
    });
  }
});

describe('teardown', { skip }, () => {
  test('destroy() leaves no namespace, interface, process, tap device or state file', async () => {
    const n = await harness.createNetwork({ hosts: 2, name: 'destroy' });
    const p = n.hosts.map((h, i) => h.spawnNode(AGENT, ['peer', ...(i === 0 ? ['--spawn-orphan'] : [])]));
    const orphan = await p[0].waitFor('orphan', 10000, { past: true });
    await Promise.all(p.map((x) => x.waitFor('listening', 10000, { past: true })));
    if (support.netemBackends.length) await n.netem(0, { delayMs: 1 });
    const info = {
      id: n.id, stateFile: n.stateFile,
      pids: [...p.map((x) => x.pid), orphan.pid, ...n._relayPids()],
      tapDevices: n._tapDevices(),
    };
    assert.ok(fs.existsSync(n.stateFile));
    assert.ok(harness._listNetns().some((x) => x.startsWith(n.id)));
    await n.destroy();
    const st = await p[1].exited;
    assert.equal(st.signal, 'SIGTERM');
    await assertNothingLeft(info, 2000);
    await assert.rejects(n.linkDown(0), /destroyed/);
  });

  // A separate process uses the harness (host-agent.js fixture), gets
  // killed/crashes, and must leave nothing behind.
  const cases = [
    { name: 'SIGTERM', kill: 'SIGTERM', expect: (s) => s.signal === 'SIGTERM' },
    { name: 'SIGINT', kill: 'SIGINT', expect: (s) => s.signal === 'SIGINT' },
    { name: 'uncaught exception', send: { op: 'throw' }, expect: (s) => s.code === 1 },
    { name: 'unhandled rejection', send: { op: 'reject' }, expect: (s) => s.code === 1 },
    { name: 'SIGKILL (the reaper cleans up)', kill: 'SIGKILL', expect: (s) => s.signal === 'SIGKILL', withinMs: 6000 },
  ];
  // Independent processes and networks: run them side by side.
  describe('killed or crashed harness processes', { concurrency: true }, () => {
    for (const c of cases) {
      test(`a harness process ending by ${c.name} leaves nothing behind`, async () => {
        const env = {};
        if (support.netemBackends.includes('relay')) env.GOSSIPER_NET_NETEM = 'relay'; // include a relay process
        const fx = new harness.ManagedProcess('fixture', process.execPath,
          [AGENT, 'fixture', '--hosts', '2', ...(support.netemBackends.length ? ['--netem'] : [])], { env });
        let info;
        try {
          info = await fx.waitFor('ready', 20000, { past: true });
          assert.ok(harness._listNetns().some((x) => x.startsWith(info.id)), 'fixture network exists');
          assert.ok(info.pids.every((pid) => !pidGone(pid)), 'fixture processes run');
          if (c.kill) process.kill(fx.pid, c.kill);
          if (c.send) fx.send(c.send);
        } catch (err) {
          fx.kill('SIGKILL');
          throw err;
        }
        let timer;
        const st = await Promise.race([fx.exited, new Promise((r) => { timer = setTimeout(r, 10000, null); })]);
        clearTimeout(timer);
        if (!st) fx.kill('SIGKILL');
        assert.ok(st, `fixture did not exit within 10 s; stderr: ${fx.stderrTail}`);
        assert.ok(c.expect(st), `unexpected exit ${JSON.stringify(st)}; stderr: ${fx.stderrTail}`);
        await assertNothingLeft(info, c.withinMs || 3000);
      });
    }
  });

  test('createNetwork() removes leftovers of dead owners only', async () => {
    const deadPid = spawnSync('true').pid; // has exited: a dead owner
    const alive = require('node:child_process').spawn('sleep', ['30'], { stdio: 'ignore' });
    const id36 = (pid) => harness.PREFIX + pid.toString(36).padStart(5, '0');
    const deadNs = `${id36(deadPid)}0-stale-h0`;
    const liveNs = `${id36(alive.pid)}0-stale-h0`;
    const mk = (ns) => {
      const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      spawnSync('ip', ['-n', ns, 'link', 'add', 'x', 'type', 'veth', 'peer', 'name', 'y']);
    };
    mk(deadNs);
    mk(liveNs);
    try {
      const n = await harness.createNetwork({ hosts: 1, name: 'stale' });
      await n.destroy();
      const list = harness._listNetns();
      assert.ok(!list.includes(deadNs), 'leftover of a dead pid must be removed');
      assert.ok(list.includes(liveNs), 'namespace of a live pid must be kept');
      alive.kill('SIGKILL');
      await new Promise((r) => alive.once('exit', r));
      harness.cleanupStale();
      assert.ok(!harness._listNetns().includes(liveNs), 'removed once its owner died');
    } finally {
      alive.kill('SIGKILL');
      spawnSync('ip', ['netns', 'del', deadNs]);
      spawnSync('ip', ['netns', 'del', liveNs]);
    }
  });
});
