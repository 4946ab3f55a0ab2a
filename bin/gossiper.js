#!/usr/bin/env node
'use strict';
// gossiper CLI: look at a running cluster without disturbing it. It joins as
// an observer (it never listens and never names itself, so no peer learns of
// it and nothing of it is left behind) through the address given.
const dns = require('dns');
const net = require('net');
const { Gossiper } = require('..');
const { version } = require('../package.json');

const HELP = {
  main: `Usage: gossiper <command> [options]

Commands:
  members HOST:PORT         print the cluster's peers once
  watch HOST:PORT           keep the table live and show updates as they happen
  get HOST:PORT PEER KEY    print one peer's value as JSON

HOST:PORT is any member of the cluster; a host name is resolved to its IPv4
address, as gossiper resolves seeds.

Options (every command):
  --cluster-name NAME       the cluster's name, if it has one
  --key KEY                 an encryption key (hex or base64); repeat for several
  --wait SECONDS            how long members/get observe before answering (default 3)
  --json                    machine-readable output (watch: one JSON object per event per line)
  --no-color                no colours (also when NO_COLOR is set or not a TTY)
  -h, --help                this help; "gossiper <command> --help" for a command
  --version                 the version of gossiper`,
  members: `Usage: gossiper members HOST:PORT [--cluster-name NAME] [--key KEY]... [--wait SECONDS] [--json]

Joins read-only through HOST:PORT, observes for --wait seconds (default 3) and
prints a table of every peer: name, status, phi, last heard, number of keys.
A peer is "alive" if its heartbeat advanced while observing. --json prints a
JSON array instead: [{"name","status","phi","lastHeardMsAgo","keys"}]. Exits 0,
or 1 if the address cannot be reached or refuses us.`,
  watch: `Usage: gossiper watch HOST:PORT [--cluster-name NAME] [--key KEY]... [--json]

Joins read-only through HOST:PORT and keeps the members table live (status
and phi from the failure detector), with updates, deletions and failures
listed below it as they happen. --json prints one JSON object per event per
line instead: {"time","event","peer"} plus "key" and "value" for update and
"key" for delete (heartbeats left out). Ctrl-C leaves.`,
  get: `Usage: gossiper get HOST:PORT PEER KEY [--cluster-name NAME] [--key KEY]... [--wait SECONDS] [--json]

Prints PEER's value of KEY as JSON (Buffers as {"type":"Buffer",...},
BigInts as strings); --json prints {"peer","key","value"}. PEER is HOST:PORT
too (a host name is resolved). Exits 1 if the peer or key is unknown after
--wait seconds.`,
};

function fail(message, code = 1) {
  process.stderr.write(`gossiper: ${message}\n`);
  process.exit(code);
}

function parse(argv) {
  const args = { positional: [], keys: [], clusterName: null, wait: 3, color: true, help: false, json: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`, 2);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') args.help = true;
    else if (a === '--version') args.version = true;
    else if (a === '--json') args.json = true;
    else if (a === '--cluster-name') args.clusterName = value();
    else if (a === '--key') args.keys.push(value());
    else if (a === '--wait') {
      args.wait = Number(value());
      if (!(args.wait > 0 && args.wait <= 3600)) fail('--wait takes seconds between 0 and 3600', 2);
    } else if (a === '--no-color') args.color = false;
    else if (a.startsWith('-')) fail(`unknown option ${a} (see gossiper --help)`, 2);
    else args.positional.push(a);
  }
  args.color = args.color && !args.json && process.stdout.isTTY && !process.env.NO_COLOR;
  return args;
}

function paint(on) {
  const c = (code) => (s) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { green: c(32), red: c(31), yellow: c(33), dim: c(2), bold: c(1) };
}

// JSON of a gossiped value: BigInts as strings, Buffers as {"type":"Buffer"}.
const json = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

/**
 * `what` (HOST:PORT) as "ip:port": a host name resolved to its IPv4 address,
 * as gossiper resolves seeds, so `localhost` and `127.0.0.1` are the same
 * peer and every message names the address gossiper knows it by.
 */
async function resolve(what, arg) {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(what || '');
  if (!m) fail(`${arg} must be HOST:PORT, got ${JSON.stringify(what)}`, 2);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) fail(`${arg} has port ${port}, outside 1-65535`, 2);
  const host = m[1].replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(host)) return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  try {
    const { address } = await dns.promises.lookup(host, { family: 4 });
    return `${address}:${port}`;
  } catch {
    return fail(`cannot resolve ${host} (${arg} ${what})`);
  }
}

// What the CLI calls the constructor's options, for its errors.
const FLAGS = [
  [/options\.seeds\[0\]/g, 'HOST:PORT'],
  [/options\.keys\[(\d+)\]/g, (_, i) => `--key #${Number(i) + 1}`],
  [/options\.keys/g, '--key'],
  [/options\.clusterName/g, '--cluster-name'],
];

function observer(address, args) {
  try {
    return new Gossiper({
      port: 0,
      seeds: [address],
      observer: true,
      clusterName: args.clusterName,
      keys: args.keys,
      gossipIntervalMs: 250,
      initialIntervalMs: 1000,
      acceptablePauseMs: 2000,
      connectTimeoutMs: 1500,
      readTimeoutMs: 3000,
    });
  } catch (e) {
    return fail(FLAGS.reduce((m, [from, to]) => m.replace(from, to), e.message), 2);
  }
}

// The reasons a seed refuses an observer without answering: another
// cluster name, or keys it cannot open.
const REFUSED = ['closed', 'unauthenticated', 'timeout', 'malformed', 'wrongCluster'];

/** Fails with a clear reason when the seed cannot be reached or refuses us. */
function checkReached(g, address, sinceMs, final = false) {
  const s = g.stats();
  if (s.exchangesCompleted > 0 || (!final && Date.now() - sinceMs < 2500)) return;
  if (s.connectFailures > 0) {
    fail(`cannot reach ${address} (connection refused or timed out)`);
  }
  if (REFUSED.some((r) => s.refused[r] > 0)) {
    fail(`${address} closed the connection without answering: is it in another cluster (--cluster-name) or does it need a key (--key)?`);
  }
  fail(`no answer from ${address}`);
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(rows, colors) {
  const head = ['PEER', 'STATUS', 'PHI', 'LAST HEARD', 'KEYS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => pad(c, widths[i])).join('  ');
  const out = [colors.bold(line(head))];
  for (const r of rows) {
    const text = line(r);
    const status = r[1];
    out.push(status === 'alive' ? text.replace(pad('alive', widths[1]), colors.green(pad('alive', widths[1])))
      : status === 'left' ? colors.yellow(text) : colors.red(text));
  }
  return out.join('\n');
}

function heardText(ms) {
  if (ms === undefined || ms === null) return 'never';
  return ms < 1000 ? `${Math.round(ms)} ms ago` : `${(ms / 1000).toFixed(1)} s ago`;
}

/** Every peer but the observer: { name, status, phi, lastHeardMsAgo, keys (heartbeat not counted) }. */
function peers(g, statusOf) {
  return g
    .stats()
    .peers.filter((p) => p.name !== g.peer_name)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => ({ name: p.name, status: statusOf(p), phi: p.phi, lastHeardMsAgo: p.lastHeardMsAgo ?? null, keys: Math.max(0, p.keys - 1) }));
}

const rows = (list) => list.map((p) => [p.name, p.status, p.phi.toFixed(2), heardText(p.lastHeardMsAgo), p.keys]);

async function observe(g, address, seconds) {
  const since = Date.now();
  await g.start();
  const heartbeats = new Map();
  g.on('update', (peer, key) => {
    if (key === '__heartbeat__') heartbeats.set(peer, (heartbeats.get(peer) || 0) + 1);
  });
  while (Date.now() - since < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 100));
    checkReached(g, address, since);
  }
  checkReached(g, address, since, true);
  return heartbeats;
}

async function members(args) {
  const address = await resolve(args.positional[0], 'HOST:PORT');
  const g = observer(address, args);
  const heartbeats = await observe(g, address, args.wait);
  // a peer judged by heartbeats is alive only if it beat while we watched
  // (an observer's detector starts from nothing); one judged by probes is
  // as the cluster's convictions, which reach the observer, say
  const statusOf = (p) => {
    if (p.status === 'left' || p.judgedBy === 'probes') return p.status;
    return (heartbeats.get(p.name) || 0) >= 2 ? 'alive' : 'failed';
  };
  const list = peers(g, statusOf);
  console.log(args.json ? JSON.stringify(list) : table(rows(list), paint(args.color)));
  await g.stop();
}

async function get(args) {
  const [given, peerGiven, key] = args.positional;
  if (peerGiven === undefined || key === undefined) fail('get needs HOST:PORT PEER KEY (see gossiper get --help)', 2);
  const address = await resolve(given, 'HOST:PORT');
  const peer = await resolve(peerGiven, 'PEER');
  const g = observer(address, args);
  const since = Date.now();
  await g.start();
  while (g.peerValue(peer, key) === undefined && Date.now() - since < args.wait * 1000) {
    await new Promise((r) => setTimeout(r, 50));
    checkReached(g, address, since);
  }
  checkReached(g, address, since, true);
  const value = g.peerValue(peer, key);
  await g.stop();
  if (value === undefined) {
    fail(g.allPeers().includes(peer) ? `${peer} has no key ${JSON.stringify(key)}` : `no peer ${peer} in the cluster`);
  }
  console.log(args.json ? json({ peer, key, value }) : json(value));
}

async function watch(args) {
  const address = await resolve(args.positional[0], 'HOST:PORT');
  const colors = paint(args.color);
  const g = observer(address, args);
  const log = [];
  const note = (text, event) => {
    if (args.json) {
      process.stdout.write(`${json({ time: new Date().toISOString(), ...event })}\n`);
      return;
    }
    log.push(`${new Date().toISOString().slice(11, 23)}  ${text}`);
    if (log.length > 15) log.shift();
  };
  g.on('update', (peer, key, value) => {
    if (key !== '__heartbeat__') note(`${peer} ${key} = ${json(value)}`, { event: 'update', peer, key, value });
  });
  g.on('delete', (peer, key) => note(colors.yellow(`${peer} deleted ${key}`), { event: 'delete', peer, key }));
  g.on('new_peer', (peer) => note(`new peer ${peer}`, { event: 'new_peer', peer }));
  g.on('peer_failed', (peer) => note(colors.red(`${peer} failed`), { event: 'peer_failed', peer }));
  g.on('peer_alive', (peer) => note(colors.green(`${peer} alive again`), { event: 'peer_alive', peer }));
  g.on('peer_left', (peer) => note(colors.yellow(`${peer} left`), { event: 'peer_left', peer }));
  g.on('peer_removed', (peer) => note(`${peer} removed`, { event: 'peer_removed', peer }));
  const since = Date.now();
  await g.start();
  const stop = async () => {
    clearInterval(timer);
    await g.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const timer = setInterval(() => {
    checkReached(g, address, since);
    if (args.json) return;
    const screen = [
      colors.dim(`gossiper watch ${address} — observing read-only, Ctrl-C to leave`),
      '',
      table(rows(peers(g, (p) => p.status)), colors),
      '',
      colors.bold('Recent changes'),
      ...log,
    ].join('\n');
    process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${screen}\n` : `${screen}\n\n`);
  }, 1000);
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const args = parse(rest);
  if (command === '--version' || args.version) {
    console.log(version);
    return;
  }
  if (command === undefined) {
    process.stderr.write(`${HELP.main}\n`);
    process.exit(2);
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP.main);
    return;
  }
  const commands = { members, watch, get };
  if (!commands[command]) fail(`unknown command ${JSON.stringify(command)} (see gossiper --help)`, 2);
  if (args.help) {
    console.log(HELP[command]);
    return;
  }
  if (args.positional.length === 0) fail(`${command} needs HOST:PORT (see gossiper ${command} --help)`, 2);
  await commands[command](args);
}

main().catch((e) => fail(e.message));
