'use strict';
// Multi-host scenario 7: configuration a container or Kubernetes deployment
// needs, on real network namespaces (npm run test:net; skips without root).
//   a. `advertise`: a host bound to 0.0.0.0 names itself after the address
//      given, and the others reach it there.
//   b. seeds by DNS: a seed given as a host name is resolved again each
//      time it is tried (the namespace's own /etc/hosts, which `ip netns
//      exec` mounts from /etc/netns/<ns>/hosts, changed during the test);
//      while it does not resolve it is a warning and never a peer; a name
//      that resolves to several addresses gives several seeds.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const harness = require('./harness.js');
const { spawnMember, startCluster, waitMembership, waitUntil, exitAll } = require('./gossip-host.js');

const support = harness.checkSupportSync();
const skip = support.ok ? false : `multi-host tests need network namespaces: ${support.reason}`;
const OPTIONS = { gossipIntervalMs: 250 };
const PORT = 9007;
const SEED_NAME = 'seeds.gossip.test';

describe('multi-host configuration (gossiper, 4 hosts)', { skip }, () => {
  let net;
  let members = [];
  const hostsFiles = [];

  before(async () => {
    net = await harness.createNetwork({ hosts: 4, name: 'config' });
  });
  after(async () => {
    await exitAll(members);
    if (net) await net.destroy();
    for (const dir of hostsFiles) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('7a: bound to 0.0.0.0, a host advertises its address and the others reach it there', { timeout: 60000 }, async () => {
    const [h0, h1, h2] = net.hosts;
    const advertised = `${h0.ip}:${PORT}`;
    const a = await spawnMember(h0, { port: PORT, address: '0.0.0.0', options: { ...OPTIONS, advertise: advertised } });
    assert.equal(a.name, advertised);
    const others = await Promise.all([h1, h2].map((h) => spawnMember(h, { port: PORT, options: OPTIONS, seeds: [advertised] })));
    members = [a, ...others];
    await waitMembership(members, members.map((m) => m.name), { timeoutMs: 20000 });
    for (const m of others) {
      const d = await m.dump();
      assert.ok(d.live.includes(advertised), `${m.name} lists the advertised name`);
      assert.ok(!d.all.some((p) => p.startsWith('0.0.0.0') || p.startsWith('127.')), `${m.name}: ${d.all}`);
    }
    await exitAll(members);
    members = [];
  });

  test('7b: a seed host name is resolved each time it is tried; several addresses, several seeds', { timeout: 90000 }, async () => {
    const [h0, h1, h2, h3] = net.hosts;
    // two members of the cluster the name will point to
    members = await startCluster(net, { port: PORT + 1, options: OPTIONS, indexes: [h0.index, h1.index] });
    await waitMembership(members, members.map((m) => m.name), { timeoutMs: 20000 });
    // the joiner's namespace resolves the name through a hosts file of its own
    const dir = path.join('/etc/netns', h3.ns);
    fs.mkdirSync(dir, { recursive: true });
    hostsFiles.push(dir);
    const hostsFile = path.join(dir, 'hosts');
    fs.writeFileSync(hostsFile, '127.0.0.1 localhost\n');
    const seed = `${SEED_NAME}:${PORT + 1}`;
    const joiner = await spawnMember(h3, { port: PORT + 1, options: OPTIONS, seeds: [seed] });
    members.push(joiner);
    await waitUntil(async () => joiner.events((e) => e.ev === 'warning' && e.code === 'GOSSIPER_SEED_UNRESOLVED').length > 0,
      { timeoutMs: 10000, what: 'the unresolved seed warning' });
    let d = await joiner.dump();
    assert.deepEqual(d.all, [joiner.name], 'a seed that does not resolve is never a peer');
    // the name now resolves to both members (written in place: the bind mount shows it)
    fs.writeFileSync(hostsFile, `127.0.0.1 localhost\n${h0.ip} ${SEED_NAME}\n${h1.ip} ${SEED_NAME}\n`);
    await waitMembership(members, members.map((m) => m.name), { timeoutMs: 20000 });
    d = await joiner.dump();
    assert.ok(!d.all.some((p) => p.startsWith(SEED_NAME)), `never listed under the host name: ${d.all}`);
    // a third member behind the same name, when the first two are gone:
    // the joiner finds it only by resolving the name again
    const late = await spawnMember(h2, { port: PORT + 1, options: OPTIONS });
    members.push(late);
    fs.writeFileSync(hostsFile, `127.0.0.1 localhost\n${h2.ip} ${SEED_NAME}\n`);
    await Promise.all(members.slice(0, 2).map((m) => m.exit()));
    await waitUntil(async () => (await joiner.dump()).live.includes(late.name),
      { timeoutMs: 30000, what: 'the joiner to find the member the name now points to' });
  });
});
