#!/usr/bin/env node
'use strict';
// Instructions the Rust core executes in steady state, counted by callgrind.
// Timings vary from run to run by more than most changes to the core are
// worth; these counts, for one build, hardly vary (the simulator is seeded,
// only std's hashing is not), so a change can be judged by them before any
// cluster run. For each size, the simulator forms a
// cluster (default configuration, fixed seed), then `--rounds` rounds are
// counted (bench/core_instructions.rs, `measured_rounds`). Prints a table
// (instructions per exchange and per node and round) and the functions that
// executed the most instructions.
//
//   npm run bench:instructions            # = node bench/instructions.js
//   node bench/instructions.js [--sizes 100,1000] [--rounds 10,2] [--top 12] [--json FILE]
//   node bench/instructions.js --render FILE   # bench/README.md's section from a saved JSON
//
// The JSON goes to bench/out/instructions-<stamp>.json unless --json says
// otherwise; a run with the default sizes and rounds also rewrites the
// figures in bench/README.md (--readme forces it, --no-readme prevents it).
//
// Needs valgrind (`apt-get install valgrind`). Sockets, the Node binding and
// JavaScript are not in these counts: see bench/README.md.

const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sections = require('./sections');

const ROOT = path.join(__dirname, '..');
const TARGET = path.join(ROOT, 'target', 'instructions');
const BIN = path.join(TARGET, 'release', 'examples', 'core_instructions');

function parseArgs(argv) {
  const o = { sizes: [100, 1000], rounds: [10, 2], top: 12, json: null, render: null };
  const list = (v, what) => {
    const xs = String(v).split(',').map(Number);
    if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x <= 0)) fail(`${what}: positive whole numbers, comma-separated`);
    return xs;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => (i + 1 < argv.length ? argv[++i] : fail(`${a} needs a value`));
    if (a === '--sizes') o.sizes = list(v(), a);
    else if (a === '--rounds') o.rounds = list(v(), a);
    else if (a === '--top') o.top = list(v(), a)[0];
    else if (a === '--json') o.json = v();
    else if (a === '--render') o.render = v();
    else fail(`unknown option ${a}`);
  }
  if (o.rounds.length !== 1 && o.rounds.length !== o.sizes.length) fail('--rounds: one count, or one per size');
  return o;
}

function fail(message) {
  console.error(`bench:instructions: ${message}`);
  process.exit(2);
}

function build() {
  // symbols kept (release strips them), in a target directory of its own so
  // the addon's build is not redone
  execFileSync('cargo', ['build', '--release', '--no-default-features', '--features', 'sim', '--example', 'core_instructions', '--target-dir', TARGET], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CARGO_PROFILE_RELEASE_STRIP: 'none', CARGO_PROFILE_RELEASE_DEBUG: 'line-tables-only' },
  });
}

function count(nodes, rounds, top) {
  const out = path.join(os.tmpdir(), `gossiper-callgrind-${process.pid}-${nodes}.out`);
  const run = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, '--toggle-collect=*measured_rounds*',
    BIN, '--nodes', String(nodes), '--rounds', String(rounds)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (run.error) fail(`valgrind: ${run.error.message} (is valgrind installed?)`);
  if (run.status !== 0) fail(`core_instructions under valgrind exited ${run.status}: ${run.stderr.slice(-2000)}`);
  const did = JSON.parse(run.stdout.trim().split('\n').pop());
  const totals = /^totals:\s*(\d+)/m.exec(fs.readFileSync(out, 'utf8'));
  if (!totals) fail(`no totals in ${out}`);
  const ir = Number(totals[1]);
  const annotated = execFileSync('callgrind_annotate', ['--threshold=100', '--auto=no', out], { encoding: 'utf8', maxBuffer: 1 << 26 });
  fs.unlinkSync(out);
  // one row per source file a function's code came from (inlining): summed by function
  const byName = new Map();
  for (const line of annotated.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m || m[2].includes('PROGRAM TOTALS')) continue;
    const name = m[2].replace(/\s*\[[^\]]*\]\s*$/, '').replace(/^[^:]*:(?=[^:])/, '');
    byName.set(name, (byName.get(name) || 0) + Number(m[1].replace(/,/g, '')));
  }
  const functions = [...byName].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, n]) => ({ name, ir: n, pct: Math.round((1000 * n) / ir) / 10 }));
  return { ...did, ir, irPerExchange: Math.round(ir / did.exchanges), irPerNodeRound: Math.round(ir / (nodes * rounds)), functions };
}

function gitRev() {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench/core_instructions.rs'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${rev}+changes` : rev;
  } catch {
    return 'unknown';
  }
}

/** The report: a table per size, then the functions that executed the most. */
function report(saved, valgrind) {
  const fmt = (x) => x.toLocaleString('en-US');
  const L = [];
  L.push(`${saved.date}${saved.git ? ` · git ${saved.git}` : ''}${valgrind ? ` · ${valgrind}` : ''}`);
  L.push('');
  L.push('| nodes | rounds counted | exchanges | updates applied | instructions | per exchange | per node and round |');
  L.push('|---|---|---|---|---|---|---|');
  for (const r of saved.results) {
    L.push(`| ${r.nodes} | ${r.rounds} | ${fmt(r.exchanges)} | ${fmt(r.updates_applied)} | ${fmt(r.ir)} | ${fmt(r.irPerExchange)} | ${fmt(r.irPerNodeRound)} |`);
  }
  for (const r of saved.results) {
    L.push('', `${r.nodes} nodes, functions by instructions executed in them (self):`, '');
    for (const f of r.functions) L.push(`- ${f.pct.toFixed(1)} % ${f.name}`);
  }
  return L.join('\n');
}

function main() {
  const choice = sections.readmeChoice(process.argv.slice(2), ['--json', '--top', '--render']);
  const o = parseArgs(choice.argv);
  if (o.render) {
    const saved = JSON.parse(fs.readFileSync(o.render, 'utf8'));
    sections.writeSection('instructions', report(saved, saved.valgrind));
    return;
  }
  build();
  const started = new Date();
  const git = gitRev();
  const results = o.sizes.map((n, i) => {
    const rounds = o.rounds.length === 1 ? o.rounds[0] : o.rounds[i];
    console.error(`bench:instructions: ${n} nodes, ${rounds} rounds counted`);
    return count(n, rounds, o.top);
  });
  const valgrind = execFileSync('valgrind', ['--version'], { encoding: 'utf8' }).trim();
  const saved = { date: started.toISOString(), git, valgrind, results };
  console.log(`# Core instructions in steady state (callgrind)\n\n${report(saved, valgrind)}`);
  const file = o.json || sections.outFile('instructions', started, 'json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(saved, null, 1) + '\n');
  console.log(`\nbench:instructions: results in ${path.relative(process.cwd(), file)}`);
  if (choice.readme) sections.writeSection('instructions', report(saved, valgrind));
  else console.error('bench:instructions: bench/README.md not updated (non-default sizes or rounds; --readme forces it)');
}

main();
