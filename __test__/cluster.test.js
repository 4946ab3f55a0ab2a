'use strict';
// A cluster of separate Node processes on loopback (one Gossiper each, see
// support/cluster-node.js): they converge, a SIGKILLed member is reported
// failed by every other, and the member restarted on the same port is
// reported alive again with its new state only (its generation changed, so
// keys it no longer sets disappear). Detection and recovery times are
// printed as test diagnostics. Ports: 23000-23499.
//
//   node --test __test__/cluster.test.js

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');

const { waitFor, PortRange, JsonLinesChild } = require('./support/util');

const NODE = path.join(__dirname, 'support', 'cluster-node.js');
const ports = new PortRange(23000, 23499);
const N = 5;
const ROUND = 100;
const OPTIONS = { gossipIntervalMs: ROUND };

/** One member process, with request/reply over its JSON lines. */
class Member {
  constructor(index, port, seeds, values) {
    this.index = index;
    this.port = port;
    this.name = `127.0.0.1:${port}`;
    this.seeds = seeds;
    this.spawn(values);
  }

  spawn(values) {
    this.nextId = 1;
    this.proc = new JsonLinesChild(NODE, [JSON.stringify({ port: this.port, seeds: this.seeds, options: OPTIONS, values })]);
    return this.proc;
  }

  async started() {
    const line = await this.proc.waitLine((l) => l.ev === 'started' || l.ev === 'start_failed', 10000);
    assert.equal(line.ev, 'started', `member ${this.index}: ${line.message}`);
    assert.equal(line.name, this.name);
    return line;
  }

  async request(cmd, args = {}) {
    const id = this.nextId++;
    const from = this.proc.lines.length;
    this.proc.send({ ...args, cmd, id });
    const reply = await this.proc.waitLine((l) => l.id === id, 10000, from);
    if (reply.ev === 'error') throw new Error(`member ${this.index} ${cmd}: ${reply.message}`);
    return reply;
  }

  /** The first event line `ev` about `peer` received at or after `since`. */
  event(ev, peer, since, timeout = 20000) {
    return this.proc.waitLine((l) => l.ev === ev && l.peer === peer && l.at >= since, timeout);
  }
}

const sorted = (xs) => [...xs].sort();
const withoutTime = ({ t, at, ...rest }) => rest;

test(`a ${N}-process cluster converges, detects a killed member and takes it back after a restart`, { timeout: 120000 }, async (t) => {
  const portList = [];
  for (let i = 0; i < N; i++) portList.push(await ports.take());
  const names = portList.map((p) => `127.0.0.1:${p}`);
  const members = [];
  t.after(() => Promise.all(members.map((m) => m.proc.kill())));
  const valuesOf = (i) => ({ owner: `member ${i}`, [`only-${i}`]: i });

  // ---- start: members 0 and 1 are the seeds ----
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    const seeds = [names[0], names[1]].filter((n) => n !== names[i]);
    members.push(new Member(i, portList[i], seeds, valuesOf(i)));
  }
  await Promise.all(members.map((m) => m.started()));
  await Promise.all(members.map((m, i) => m.request('set', { key: 'late', value: `late ${i}` })));

  // ---- convergence: everyone sees everyone alive, with all values ----
  const expectedView = (i) => ({ ...valuesOf(i), late: `late ${i}` });
  let lastStates = [];
  const converged = async () => {
    lastStates = await Promise.all(members.map((m) => m.request('state')));
    return lastStates.every((s) => s.live.length === N && s.dead.length === 0
      && names.every((n, j) => JSON.stringify(s.values[n]) !== undefined
        && sorted(Object.keys(s.values[n])).join() === sorted(Object.keys(expectedView(j))).join()
        && Object.entries(expectedView(j)).every(([k, v]) => s.values[n][k] === v)));
  };
  await waitFor(converged, 30000, { interval: 50, message: () => `convergence; last states: ${JSON.stringify(lastStates.map(withoutTime))}` });
  const convergeMs = Date.now() - t0;
  for (const s of lastStates) {
    assert.deepEqual(sorted(s.all), sorted(names));
    for (let j = 0; j < N; j++) assert.deepEqual(s.values[names[j]], expectedView(j));
  }

  // ---- a delete reaches everyone ----
  const tDel = Date.now();
  assert.equal((await members[2].request('delete', { key: 'late' })).result, true);
  await Promise.all(members.filter((m) => m.index !== 2).map((m) => m.proc.waitLine(
    (l) => l.ev === 'delete' && l.peer === names[2] && l.key === 'late' && l.at >= tDel, 10000)));
  for (const s of await Promise.all(members.map((m) => m.request('state')))) {
    assert.deepEqual(s.values[names[2]], valuesOf(2));
  }
  const deleteMs = Date.now() - tDel;

  // ---- SIGKILL member 3: everyone else reports it failed ----
  const victim = members[3];
  const others = members.filter((m) => m !== victim);
  const generationBefore = (await others[0].request('state')).generations[victim.name];
  assert.equal(typeof generationBefore, 'number');
  const tKill = Date.now();
  const failures = others.map((m) => m.event('peer_failed', victim.name, tKill));
  const exit = await victim.proc.kill('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  const failedLines = await Promise.all(failures);
  const detectMs = failedLines.map((l) => l.t - tKill);
  for (const s of await Promise.all(others.map((m) => m.request('state')))) {
    assert.deepEqual(s.dead, [victim.name]);
    assert.equal(s.live.length, N - 1);
    assert.ok(!s.live.includes(victim.name));
  }

  // ---- restart it on the same port with new state only ----
  const reborn = { owner: 'member 3, reborn', fresh: 'new' };
  const tRestart = Date.now();
  const alive = others.map((m) => m.event('peer_alive', victim.name, tRestart));
  const deletes = others.map((m) => m.proc.waitLine(
    (l) => l.ev === 'delete' && l.peer === victim.name && l.key === 'only-3' && l.at >= tRestart, 20000));
  victim.spawn(reborn);
  await victim.started();
  const aliveLines = await Promise.all(alive);
  const aliveMs = aliveLines.map((l) => l.t - tRestart);
  await Promise.all(deletes);
  let states = [];
  await waitFor(async () => {
    states = await Promise.all(members.map((m) => m.request('state')));
    return states.every((s) => s.live.length === N
      && JSON.stringify(s.values[victim.name]) === JSON.stringify(reborn));
  }, 20000, { interval: 50, message: () => `the reborn state everywhere: ${JSON.stringify(states.map((s) => s.values[victim.name]))}` });
  const recoverMs = Date.now() - tRestart;
  for (const s of states.filter((x) => x.name !== victim.name)) {
    assert.deepEqual(s.values[victim.name], reborn, 'old keys (only-3, late) are gone');
    assert.ok(s.generations[victim.name] > generationBefore, 'the restart changed its generation');
  }
  // and the reborn member knows everyone again
  const mine = states[victim.index];
  for (let j = 0; j < N; j++) {
    if (j !== victim.index) assert.deepEqual(mine.values[names[j]], j === 2 ? valuesOf(2) : expectedView(j));
  }

  t.diagnostic(`round ${ROUND} ms, ${N} processes`);
  t.diagnostic(`converged (all values everywhere) ${convergeMs} ms after spawning`);
  t.diagnostic(`delete seen everywhere after ${deleteMs} ms`);
  t.diagnostic(`SIGKILL detected after ${detectMs.join(', ')} ms (max ${Math.max(...detectMs)} ms)`);
  t.diagnostic(`restarted member alive again after ${aliveMs.join(', ')} ms; new state everywhere after ${recoverMs} ms`);
  assert.ok(Math.max(...detectMs) < 10000, 'detection within 10 s');

  // ---- every member ends by itself once told to ----
  const exits = members.map((m) => m.proc.exitPromise);
  const tExit = Date.now();
  for (const m of members) m.proc.send({ cmd: 'exit', id: 'exit' });
  let timer;
  const codes = await Promise.race([
    Promise.all(exits),
    new Promise((resolve) => { timer = setTimeout(() => resolve(null), 10000); }),
  ]);
  clearTimeout(timer);
  assert.ok(codes, 'every member exited within 10 s of exit');
  assert.deepEqual(codes.map((c) => c.code), Array(N).fill(0), members.map((m) => m.proc.stderr).join('\n'));
  t.diagnostic(`all members exited ${Date.now() - tExit} ms after 'exit'`);
});
