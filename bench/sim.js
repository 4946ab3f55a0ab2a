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
//     --json FILE          write the results as JSON (default bench/out/sim-<stamp>.json)
//     --snapshot           also run on until the heartbeats every node had when the
//                          cluster converged have reached every node (SIM_SNAPSHOT;
//                          about doubles the time)
//     --readme, --no-readme  do or do not put the figures in bench/README.md and
//                          redraw bench/plots (default: yes, for a complete run)
//     --render FILE        run nothing: write the README section and the plots from
//                          a saved JSON
//
// Each size is one `cargo test --release --no-default-features --lib
// sim::tests::big_cluster_converges -- --ignored --nocapture` with SIM_NODES=N
// (CARGO_TARGET_DIR is passed through; SIM_WINDOW overrides the detector's
// samples per peer, 4 by default in these runs). Memory grows with N² (every
// node holds every peer; bench/README.md shows the last run's peak RSS) and
// time faster still, so 10 000 nodes want a big machine and patience; a size the
// machine has no memory for is refused by the test itself.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const sections = require('./sections');
const plot = require('./plot');

function parseArgs(argv) {
  const opts = { sizes: [1000, 10000], json: null, snapshot: false, render: null };
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
    } else if (a === '--render') {
      opts.render = next();
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 26)
        .map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      throw new Error(`unknown option ${a}`);
    }
  }
  return opts;
}

function runSize(n, snapshot) {
  const args = ['test', '--release', '--no-default-features', '--lib',
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

// bench/README.md's section: when and what ran, then the table.
function readmeSection(results, date) {
  const git = results[0] && results[0].git ? ` · git ${results[0].git}` : '';
  return `${sections.day(date)}${git} · \`npm run bench:sim\`, one run per size.\n\n${table(results)}`;
}

function gitRev() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function publish(results, date) {
  sections.writeSection('sim', readmeSection(results, date));
  for (const f of plot.update({ sim: { results, date } })) process.stderr.write(`plotted ${path.relative(process.cwd(), f)}\n`);
}

function main() {
  let opts;
  let choice;
  try {
    choice = sections.readmeChoice(process.argv.slice(2), ['--sizes', '--json', '--snapshot', '--render']);
    opts = parseArgs(choice.argv);
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
  if (opts.render) {
    const results = JSON.parse(fs.readFileSync(opts.render, 'utf8'));
    const named = /(\d{4}-\d{2}-\d{2})/.exec(path.basename(opts.render));
    publish(results, (results[0] && results[0].date) || (named ? named[1] : fs.statSync(opts.render).mtime.toISOString()));
    return;
  }
  const date = new Date();
  const git = gitRev();
  const results = [];
  for (const n of opts.sizes) {
    process.stderr.write(`simulating ${n} nodes...\n`);
    const r = { ...runSize(n, opts.snapshot), date: date.toISOString(), git };
    if (r.error) process.stderr.write(`${n} nodes failed:\n${r.error}\n`);
    results.push(r);
  }
  process.stdout.write(`${table(results)}\n`);
  const file = opts.json || sections.outFile('sim', date, 'json');
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`results in ${path.relative(process.cwd(), file)}\n`);
  const failed = results.some((r) => r.error);
  if (choice.readme && !failed) publish(results, date.toISOString());
  else process.stderr.write('bench/README.md not updated (not a complete run, or --no-readme)\n');
  process.exit(failed ? 1 : 0);
}

main();
