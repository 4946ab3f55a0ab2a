#!/usr/bin/env node
'use strict';
// gossiper CLI: look at a running cluster without disturbing it. It joins as
// an observer (it never listens and never names itself, so no peer learns of
// it and nothing of it is left behind) through the address given.
const { Gossiper } = require('..');

const HELP = {
  main: `Usage: gossiper <command> [options]

Commands:
  members HOST:PORT         print the cluster's peers once
  watch HOST:PORT           keep the table live and show updates as they happen
  get HOST:PORT PEER KEY    print one peer's value as JSON

Options (every command):
  --cluster-name NAME       the cluster's name, if it has one
  --key KEY                 an encryption key (hex or base64); repeat for several
  --wait SECONDS            how long members/get observe before answering (default 3)
  --no-color                no colours (also when NO_COLOR is set or not a TTY)
  -h, --help                this help; "gossiper <command> --help" for a command`,
  members: `Usage: gossiper members HOST:PORT [--cluster-name NAME] [--key KEY]... [--wait SECONDS]

Joins read-only through HOST:PORT, observes for --wait seconds (default 3) and
prints a table of every peer: name, status, phi, last heard, number of keys.
A peer is "alive" if its heartbeat advanced while observing. Exits 0, or 1 if
the address cannot be reached or refuses us.`,
  watch: `Usage: gossiper watch HOST:PORT [--cluster-name NAME] [--key KEY]...

Joins read-only through HOST:PORT and keeps the members table live (status
and phi from the failure detector), with updates, deletions and failures
listed below it as they happen. Ctrl-C leaves.`,
  get: `Usage: gossiper get HOST:PORT PEER KEY [--cluster-name NAME] [--key KEY]... [--wait SECONDS]

Prints PEER's value of KEY as JSON (Buffers as {"type":"Buffer",...},
BigInts as strings). Exits 1 if the peer or key is unknown after --wait seconds.`,
};

function fail(message, code = 1) {
  process.stderr.write(`gossiper: ${message}\n`);
  process.exit(code);
}

function parse(argv) {
  const args = { positional: [], keys: [], clusterName: null, wait: 3, color: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`, 2);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') args.help = true;
    else if (a === '--cluster-name') args.clusterName = value();
    else if (a === '--key') args.keys.push(value());
    else if (a === '--wait') {
      args.wait = Number(value());
      if (!(args.wait > 0 && args.wait <= 3600)) fail('--wait takes seconds between 0 and 3600', 2);
    } else if (a === '--no-color') args.color = false;
    else if (a.startsWith('-')) fail(`unknown option ${a} (see gossiper --help)`, 2);
    else args.positional.push(a);
  }
  args.color = args.color && process.stdout.isTTY && !process.env.NO_COLOR;
  return args;
}

function paint(on) {
  const c = (code) => (s) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { green: c(32), red: c(31), yellow: c(33), dim: c(2), bold: c(1) };
}

function observer(address, args) {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/.test(address || '')) {
    fail(`expected HOST:PORT, got ${JSON.stringify(address)}`, 2);
  }
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
    fail(e.message, 2);
  }
}

/** Fails with a clear reason when the seed cannot be reached or refuses us. */
function checkReached(g, address, sinceMs) {
  const s = g.stats();
  if (s.exchangesCompleted > 0 || Date.now() - sinceMs < 2500) return;
  if (s.connectFailures > 0 && s.exchangesCompleted === 0) {
    fail(`cannot reach ${address} (connection refused or timed out)`);
  }
  if (s.refused.closed + s.refused.unauthenticated + s.refused.timeout + s.refused.malformed > 0) {
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

function rows(g, statusOf) {
  return g
    .stats()
    .peers.filter((p) => p.name !== g.peer_name)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => [p.name, statusOf(p), p.phi.toFixed(2), heardText(p.lastHeardMsAgo), Math.max(0, p.keys - 1)]);
}

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
  if (g.stats().exchangesCompleted === 0) fail(`no answer from ${address} within ${seconds} s`);
  return heartbeats;
}

async function members(args) {
  const [address] = args.positional;
  const colors = paint(args.color);
  const g = observer(address, args);
  const heartbeats = await observe(g, address, args.wait);
  const statusOf = (p) => (p.status === 'left' ? 'left' : (heartbeats.get(p.name) || 0) >= 2 ? 'alive' : 'failed');
  console.log(table(rows(g, statusOf), colors));
  await g.stop();
}

async function get(args) {
  const [address, peer, key] = args.positional;
  if (peer === undefined || key === undefined) fail('get needs HOST:PORT PEER KEY (see gossiper get --help)', 2);
  const g = observer(address, args);
  const since = Date.now();
  await g.start();
  while (g.peerValue(peer, key) === undefined && Date.now() - since < args.wait * 1000) {
    await new Promise((r) => setTimeout(r, 50));
    checkReached(g, address, since);
  }
  const value = g.peerValue(peer, key);
  await g.stop();
  if (value === undefined) {
    fail(g.allPeers().includes(peer) ? `${peer} has no key ${JSON.stringify(key)}` : `no peer ${peer} in the cluster`);
  }
  console.log(JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

async function watch(args) {
  const [address] = args.positional;
  const colors = paint(args.color);
  const g = observer(address, args);
  const log = [];
  const note = (text) => {
    log.push(`${new Date().toISOString().slice(11, 23)}  ${text}`);
    if (log.length > 15) log.shift();
  };
  g.on('update', (p, k, v) => {
    if (k !== '__heartbeat__') note(`${p} ${k} = ${JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x))}`);
  });
  g.on('delete', (p, k) => note(colors.yellow(`${p} deleted ${k}`)));
  g.on('new_peer', (p) => note(`new peer ${p}`));
  g.on('peer_failed', (p) => note(colors.red(`${p} failed`)));
  g.on('peer_alive', (p) => note(colors.green(`${p} alive again`)));
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
    const screen = [
      colors.dim(`gossiper watch ${address} — observing read-only, Ctrl-C to leave`),
      '',
      table(rows(g, (p) => p.status), colors),
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
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
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
