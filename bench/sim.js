#!/usr/bin/env node
'use strict';
// Simulator benchmark: the standard scenario of `npm run bench` (N nodes
// join, one key is written, a quiet steady window, one node stops) in the
// simulator, which drives the very core the runtime ships
// (src/sim/scenario.rs), with the default configuration and 1 s rounds.
//
//   npm run bench:sim                 # = node bench/sim.js: N = 100, 1000 and
//                                     # 10 000, then the heartbeat protocol at
//                                     # N = 100 and 1000, for the plots
//   node bench/sim.js [options]
//     --sizes 100,1000     cluster sizes, one run each, one after the other, of
//                          the shipping protocol (probes between gossipers)
//     --heartbeat-sizes 100,1000  sizes run as well with node-gossip's design,
//                          every node beating and gossiping each round
//                          (`probes: false`); default none when --sizes is
//                          given
//     --json FILE          write the results as a JSON array of flat objects
//                          (`-` for standard output; the table then goes to
//                          standard error)
//     --seed S             the simulation's seed (default 1)
//     --loss P             message loss, 0..1 (default 0)
//     --settle S           after the spread, before the quiet window, seconds (default 10)
//     --steady S           the quiet window, seconds (default 20)
//     --cap S              each wait gives up after S seconds (default 120)
//     --start-spread MS    nodes start at random times within MS milliseconds
//                          (default 1000)
//     --readme, --no-readme  do or do not put the figures in bench/README.md and
//                          redraw bench/plots (default: yes for a run of the
//                          default sizes and settings)
//     --render FILE        run nothing: put the results a run saved (its --json
//                          file) in bench/README.md and the plots
//
// Each object has n, join_ms (every node holds every other alive),
// join_bytes_per_node (bytes each node sent, on average, until then), spread_ms
// (the key reached every node), fail_ms (the stopped node is failed at every
// other), false_failures (Failed events about nodes up and reachable, whole
// run), drained_ms (from the write until no node has news left to send; the
// quiet window starts then), bytes_per_node_s (steady window), sim_ms,
// protocol and wall_s.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const sections = require('./sections');
const plot = require('./plot');

const root = path.join(__dirname, '..');

function parseArgs(argv) {
  const opts = { sizes: [100, 1000, 10000], heartbeatSizes: [100, 1000], json: null, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const sizeList = (text) => (text === '' || text === 'none' ? [] : text.split(',').map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 3) throw new Error(`bad size ${s}`);
      return n;
    }));
    if (a === '--sizes') {
      opts.sizes = sizeList(next());
      if (!argv.includes('--heartbeat-sizes')) opts.heartbeatSizes = [];
    } else if (a === '--heartbeat-sizes') {
      opts.heartbeatSizes = sizeList(next());
    } else if (a === '--json') {
      opts.json = next();
    } else if (['--seed', '--loss', '--settle', '--steady', '--cap', '--start-spread'].includes(a)) {
      opts.extra.push(a, next());
    } else if (a === '--help' || a === '-h') {
      const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2);
      const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
      process.stdout.write(header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      throw new Error(`unknown option ${a}`);
    }
  }
  return opts;
}

function build() {
  execFileSync('cargo', ['build', '--release', '--no-default-features', '--features', 'sim', '--example', 'sim_run'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const dir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  return path.join(dir, 'release', 'examples', 'sim_run');
}

function table(rows) {
  const s = (v) => (v === null ? 'capped' : `${(v / 1000).toFixed(2)} s`);
  const lines = [
    '| protocol | N | all know all | one key reaches all | stopped node failed everywhere | false failures | news drained | bytes/node/s (quiet) | simulated | wall |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const drained = r.drained_ms === undefined || r.protocol === 'heartbeats' ? '—' : s(r.drained_ms);
    lines.push(`| ${r.protocol} | ${r.n} | ${s(r.join_ms)} | ${s(r.spread_ms)} | ${s(r.fail_ms)} | ${r.false_failures} | ${drained} | ${Math.round(r.bytes_per_node_s)} | ${Math.round(r.sim_ms / 1000)} s | ${r.wall_s} s |`);
  }
  return lines.join('\n');
}

function gitRev() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

// bench/README.md's section: when and what ran, then the table.
function publish(rows, date) {
  const git = gitRev();
  const head = `${sections.day(date)}${git ? ` · git ${git}` : ''} · \`npm run bench:sim\`, one run per size, seed 1.`;
  sections.writeSection('sim', `${head}\n\n${table(rows)}`);
  for (const f of plot.update({ sim: { results: rows, date } })) process.stderr.write(`plotted ${path.relative(process.cwd(), f)}\n`);
}

function main() {
  const render = process.argv.indexOf('--render');
  if (render !== -1) {
    const file = process.argv[render + 1];
    if (!file) throw new Error('--render needs a file');
    const rows = JSON.parse(fs.readFileSync(file, 'utf8'));
    process.stdout.write(`${table(rows)}\n`);
    publish(rows, fs.statSync(file).mtime.toISOString());
    return;
  }
  const choice = sections.readmeChoice(process.argv.slice(2), ['--json']);
  const opts = parseArgs(choice.argv);
  const bin = build();
  const rows = [];
  const plan = [...opts.sizes.map((n) => [n, 'probes']), ...opts.heartbeatSizes.map((n) => [n, 'heartbeats'])];
  for (const [n, protocol] of plan) {
    const out = execFileSync(bin, ['--sizes', String(n), '--protocol', protocol, ...opts.extra], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 20,
    });
    rows.push(...JSON.parse(out));
  }
  const date = new Date().toISOString();
  const text = table(rows);
  if (opts.json === '-') {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    process.stderr.write(`${text}\n`);
  } else {
    process.stdout.write(`${text}\n`);
    const file = opts.json || sections.outFile('sim', new Date(date), 'json');
    fs.writeFileSync(file, `${JSON.stringify(rows, null, 2)}\n`);
  }
  if (choice.readme) publish(rows, date);
}

try {
  main();
} catch (e) {
  process.stderr.write(`bench/sim.js: ${e.message}\n`);
  process.exit(2);
}
