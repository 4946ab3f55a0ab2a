#!/usr/bin/env node
'use strict';
// Simulator benchmark: the Rust core's deterministic simulator (src/sim) forms
// a cluster of N nodes from nothing, in virtual time, with the default
// configuration (64 KiB messages, fanout 2, 1 s rounds), and reports how many
// rounds it takes to converge and what it costs.
//
//   npm run bench:sim                 # = node bench/sim.js (N = 1000, then 10000)
//   node bench/sim.js [options]
//     --sizes 1000,10000   cluster sizes, run one after the other
//     --json FILE          also write the results as JSON
//     --snapshot           also run on until the heartbeats every node had when the
//                          cluster converged have reached every node (SIM_SNAPSHOT;
//                          about doubles the time)
//
// Each size is one `cargo test --release --no-default-features --features sim --lib
// sim::tests::big_cluster_converges -- --ignored --nocapture` with SIM_NODES=N
// (CARGO_TARGET_DIR is passed through; SIM_WINDOW overrides the detector's
// samples per peer, 4 by default in these runs). The 10 000-node run needs
// about 12 GB of memory and ~25 minutes on one core (18 to converge); a
// size the machine has no memory for is refused by the test itself.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function parseArgs(argv) {
  const opts = { sizes: [1000, 10000], json: null, snapshot: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--sizes') {
      opts.sizes = next().split(',').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 2) throw new Error(`bad size ${s}`);
        return n;
      });
    } else if (a === '--json') {
      opts.json = next();
    } else if (a === '--snapshot') {
      opts.snapshot = true;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 21)
        .map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      throw new Error(`unknown option ${a}`);
    }
  }
  return opts;
}

function runSize(n, snapshot) {
  const args = ['test', '--release', '--no-default-features', '--features', 'sim', '--lib',
    'sim::tests::big_cluster_converges', '--', '--ignored', '--nocapture', '--exact'];
  const started = Date.now();
  const r = spawnSync('cargo', args, {
    cwd: path.join(__dirname, '..'),
    // transparent huge pages for the simulator's gigabytes of tables: about
    // a third less time, the same results (glibc 2.35+; ignored elsewhere)
    env: {
      GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1',
      ...process.env,
      SIM_NODES: String(n),
      ...(snapshot ? { SIM_SNAPSHOT: '1' } : {}),
    },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = `${r.stdout || ''}\n${r.stderr || ''}`;
  const line = out.split('\n').find((l) => l.startsWith('sim-result: '));
  if (r.status !== 0 || !line) {
    const tail = out.split('\n').filter((l) => l.trim()).slice(-15).join('\n');
    return { nodes: n, error: `exit ${r.status}\n${tail}`, wallSeconds: (Date.now() - started) / 1000 };
  }
  return { ...JSON.parse(line.slice('sim-result: '.length)), wallSeconds: (Date.now() - started) / 1000 };
}

function table(results) {
  const rows = [
    ['nodes', (r) => r.nodes],
    ['all know all (rounds)', (r) => r.rounds_all_know_all],
    ['converged (rounds)', (r) => r.rounds_converged],
    ['bytes/peer/round while forming', (r) => r.bytes_per_peer_per_round_forming],
    ['bytes/peer/round, steady (5 rounds)', (r) => r.bytes_per_peer_per_round_steady],
    ['most bytes one peer sent in a round', (r) => r.max_peer_bytes_per_round],
    ['largest message (bytes)', (r) => r.max_message_bytes],
    ['oldest / mean heartbeat held at convergence (rounds behind)',
      (r) => `${r.heartbeat_lag_at_convergence_max} / ${r.heartbeat_lag_at_convergence_mean}`],
    ['same, 5 rounds later', (r) => `${r.heartbeat_lag_max} / ${r.heartbeat_lag_mean}`],
    ['heartbeats of the convergence round everywhere (round)', (r) => r.rounds_heartbeats_reached ?? 'not measured'],
    ['false failures', (r) => r.false_failures],
    ['catch-up exchanges per peer per round', (r) => r.catch_ups_per_peer_per_round],
    ['detector samples per peer', (r) => r.detector_window],
    ['memory per (node, peer) pair (bytes)', (r) => r.bytes_per_pair],
    ['peak RSS (MB)', (r) => r.peak_rss_mb],
    ['time to converge / in all (s)', (r) => `${r.seconds_to_converge} / ${r.seconds_total}`],
  ];
  const lines = [`| | ${results.map((r) => `N = ${r.nodes}`).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`];
  for (const [label, get] of rows) {
    lines.push(`| ${label} | ${results.map((r) => (r.error ? 'failed' : get(r))).join(' | ')} |`);
  }
  return lines.join('\n');
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  const results = [];
  for (const n of opts.sizes) {
    process.stderr.write(`simulating ${n} nodes...\n`);
    const r = runSize(n, opts.snapshot);
    if (r.error) process.stderr.write(`${n} nodes failed:\n${r.error}\n`);
    results.push(r);
  }
  process.stdout.write(`${table(results)}\n`);
  if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
  process.exit(results.some((r) => r.error) ? 1 : 0);
}

main();
