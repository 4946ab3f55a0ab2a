#!/usr/bin/env node
'use strict';
// Cluster benchmark: gossiper vs the original node-gossip (gossiper@0.0.3).
//
//   npm run bench                 # = node bench/run.js
//   node bench/run.js [options]
//     --sizes 100,300    sizes run for both implementations (default 100,300)
//     --big 1000         sizes run for gossiper alone (default 1000; --big 0 for none)
//     --impl gossiper    only this implementation (gossiper | original | both; default both)
//     --steady 20        steady-state window, seconds (>= 20 for the real numbers)
//     --cap 120          cap on the join and failure-detection waits, seconds
//     --block 2000       busy-loop the JS thread for 2000 ms inside the steady window
//                        of every gossiper run (--block-original: the original's too);
//                        the CPU column of those runs then includes the busy loop
//     --seeds 2          seed peers (every peer is given the same seeds)
//     --base-port 10000  first listening port; runs use disjoint ranges below 32768
//     --json FILE        write all results as JSON (default bench/out/cluster-<stamp>.json)
//     --md FILE          also write the Markdown report (default: next to the JSON)
//     --wait-quiet 120   before each run, wait up to this many seconds for the machine to be
//                        quiet (other processes < --quiet-pct, default 30, % of one core,
//                        sampled over 3 s); 0 = don't wait. The measured load is reported.
//     --quick            smoke run: N=20 both, no big size, 5 s window, 45 s caps
//     --readme, --no-readme  do or do not put the figures in bench/README.md and the
//                        README's performance table (default: only for a standard run,
//                        one given no option above but --json, --md, --wait-quiet,
//                        --quiet-pct and --base-port)
//     --render FILE      run nothing: write the README sections from a saved JSON
//
// One child process per (implementation, size), run one after the other, never
// concurrently (the machine has 2 cores). Each child is bench/cluster-worker.js;
// it reports partial results after every phase and has its own hard timeout;
// this parent kills it (SIGKILL) 60 s after that timeout as a last resort.
// Exit code: 0 if every run completed (capped waits are results, not errors),
// 1 if a run crashed, timed out or reported an error, 2 on bad arguments.

const { fork, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const sections = require('./sections');

const ROOT = path.join(__dirname, '..');
const WORKER = path.join(__dirname, 'cluster-worker.js');

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 28).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const o = { sizes: [100, 300], big: [1000], impl: 'both', steady: 20, cap: 120, block: 0,
    blockOriginal: false, waitQuiet: 120, quietPct: 30, seeds: 2, basePort: 10000, json: null, md: null, quick: false, sizesGiven: false,
    render: null };
  const list = (s, name) => {
    if (s === undefined) usage(`${name} needs a value`);
    const v = s.split(',').filter(Boolean).map(Number);
    if (v.some((x) => !Number.isInteger(x) || x < 0)) usage(`${name} takes integers, e.g. 100,300`);
    return v.filter((x) => x > 0);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) usage(`${a} needs a non-negative number`);
      return v;
    };
    switch (a) {
      case '--sizes': o.sizes = list(argv[++i], a); o.sizesGiven = true; break;
      case '--big': o.big = list(argv[++i], a); break;
      case '--impl': o.impl = argv[++i]; break;
      case '--steady': o.steady = num(); break;
      case '--cap': o.cap = num(); break;
      case '--block': o.block = num(); break;
      case '--block-original': o.blockOriginal = true; break;
      case '--seeds': o.seeds = num(); break;
      case '--wait-quiet': o.waitQuiet = num(); break;
      case '--quiet-pct': o.quietPct = num(); break;
      case '--base-port': o.basePort = num(); break;
      case '--json': o.json = argv[++i]; break;
      case '--md': o.md = argv[++i]; break;
      case '--quick': o.quick = true; break;
      case '--render': o.render = argv[++i]; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (!['both', 'gossiper', 'original'].includes(o.impl)) usage('--impl is gossiper, original or both');
  if (o.quick) {
    if (!o.sizesGiven) o.sizes = [20];
    if (!argv.includes('--big')) o.big = [];
    if (!argv.includes('--steady')) o.steady = 5;
    if (!argv.includes('--cap')) o.cap = 45;
  }
  return o;
}

// Options that leave a run standard: it may then replace the README's figures.
const NEUTRAL = ['--json', '--md', '--wait-quiet', '--quiet-pct', '--base-port', '--render'];
const choice = sections.readmeChoice(process.argv.slice(2), NEUTRAL);
const opt = parseArgs(choice.argv);

// ------------------------------------------------------------------ plan

function plan() {
  const runs = [];
  const impls = opt.impl === 'both' ? ['gossiper', 'original'] : [opt.impl];
  for (const n of opt.sizes) for (const impl of impls) runs.push({ impl, n });
  if (opt.impl !== 'original') for (const n of opt.big) if (!opt.sizes.includes(n)) runs.push({ impl: 'gossiper', n });
  // disjoint port ranges below 32768 (the ephemeral range starts there), so a
  // run never meets the previous run's TIME_WAIT sockets on its own ports
  let port = opt.basePort;
  for (const r of runs) {
    if (port + r.n + 10 > 32767) port = opt.basePort;
    if (port + r.n > 32767) usage(`N=${r.n} does not fit below port 32768 from --base-port ${opt.basePort}`);
    r.basePort = port;
    port += r.n + 10;
  }
  return runs;
}

// ------------------------------------------------------------------ machine info

function sh(cmd, args) {
  try { return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch (e) { return null; }
}

// The runtime threads the workers get: the addon's own rule (it inherits
// this environment), read without starting the runtime.
function runtimeThreads() {
  let n;
  try { n = require('../native').runtimeThreads(); } catch (e) { return process.env.GOSSIPER_THREADS || 'unknown (no addon)'; }
  return process.env.GOSSIPER_THREADS ? String(n) : `${n} (default)`;
}

function machine() {
  const cpus = os.cpus();
  let addon = null;
  try {
    const f = path.join(ROOT, 'gossiper.linux-x64-gnu.node');
    addon = { sha256: crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex').slice(0, 16),
      mtime: fs.statSync(f).mtime.toISOString() };
  } catch (e) { /* not built */ }
  const status = sh('git', ['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpu: cpus.length ? cpus[0].model : 'unknown',
    cores: cpus.length,
    memGB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    git: sh('git', ['rev-parse', '--short', 'HEAD']),
    gitDirty: status === null ? null : status.length > 0,
    addon,
    gossiperThreads: runtimeThreads(),
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    ephemeralPorts: (() => { try { return fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().replace(/\s+/, '-'); } catch (e) { return null; } })(),
  };
}

// ------------------------------------------------------------------ machine load

const load = require('./machine-load');

const waitQuiet = () => load.waitQuiet({
  waitS: opt.waitQuiet, quietPct: opt.quietPct, stop: () => interrupted, log: (m) => console.error(`bench: ${m}`),
});

// ------------------------------------------------------------------ running

let current = null; // the running child
let interrupted = false;

function killCurrent(signal) {
  if (current && current.exitCode === null && current.signalCode === null) {
    try { current.kill(signal); } catch (e) { /* gone */ }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\nbench: ${sig}, stopping the running worker (pid ${current && current.pid})`);
    killCurrent('SIGKILL');
  });
}
process.on('exit', () => killCurrent('SIGKILL'));

function runOne(r) {
  const args = [r.impl, String(r.n), '--steady', String(opt.steady), '--cap', String(opt.cap),
    '--base-port', String(r.basePort), '--seeds', String(opt.seeds)];
  const block = opt.block > 0 && (r.impl === 'gossiper' || opt.blockOriginal) ? opt.block : 0;
  if (block) args.push('--block', String(block));
  // same formula as the worker's own hard timeout, plus a margin
  const hardS = 45 + opt.cap * 3 + 2 + opt.steady + block / 1000 + 120 + 60;
  return new Promise((resolve) => {
    const t0 = Date.now();
    let last = null;
    let bye = null;
    const child = fork(WORKER, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    current = child;
    const killer = setTimeout(() => {
      console.error(`bench: ${r.impl} N=${r.n} exceeded ${hardS} s, killing pid ${child.pid}`);
      child.kill('SIGKILL');
    }, hardS * 1000);
    child.on('message', (m) => {
      if (m && (m.type === 'partial' || m.type === 'final')) last = m.result;
      if (m && m.type === 'bye') bye = m.code;
    });
    child.on('error', (e) => { if (!last) last = { impl: r.impl, n: r.n, error: `spawn: ${e.message}` }; });
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      current = null;
      const res = last || { impl: r.impl, n: r.n, error: 'worker reported nothing' };
      res.exit = { code, signal, bye };
      res.runWallS = Math.round((Date.now() - t0) / 100) / 10;
      if ((code !== 0 || signal) && !res.error) {
        res.error = signal ? `worker killed by ${signal} in phase ${res.phase}` : `worker exited with ${code} in phase ${res.phase}`;
      }
      resolve(res);
    });
  });
}

// ------------------------------------------------------------------ report

const round1 = (x) => Math.round(x * 10) / 10;
const fmtS = (ms) => `${(ms / 1000).toFixed(1)} s`;

function timeCell(x) {
  if (!x) return '—';
  if (x.capped) return `> ${Math.round(x.capMs / 1000)} s`;
  return x.ms === null || x.ms === undefined ? '—' : fmtS(x.ms);
}

function detectCell(d) {
  if (!d) return '—';
  if (d.capped) return `> ${Math.round(d.capMs / 1000)} s (${d.reported}/${d.of})`;
  return fmtS(d.ms);
}

function spreadCell(s) {
  if (!s) return '—';
  if (s.capped) return `> ${Math.round(s.capMs / 1000)} s (${s.reached}/${s.of})`;
  return fmtS(s.ms);
}

// ratio original ÷ gossiper; a capped original value gives "> x"
function ratio(o, g, oCapped, gCapped) {
  if (o == null || g == null || g === 0 || gCapped) return '—';
  const v = o / g;
  const s = v >= 10 ? v.toFixed(0) : v.toFixed(1);
  return `${oCapped ? '> ' : ''}${s}×`;
}

function val(x, f) {
  if (!x) return null;
  return x.capped ? x.capMs : x.ms;
}

function falseCell(r) {
  if (!r.steady) return '—';
  const whole = r.falseFailures ? r.falseFailures.total : 0;
  return `${r.steady.falseFailures}${whole !== r.steady.falseFailures ? ` (run: ${whole})` : ''}`;
}

function cpuCell(r) {
  if (!r.steady) return '—';
  return `${r.steady.cpuPct}${r.steady.block ? '*' : ''}`;
}

// The full report; `o` is the options of the run (the JSON keeps them).
function report(results, m, totalS, o, title = true) {
  const L = [];
  if (title) {
    L.push(`# Cluster benchmark: gossiper vs node-gossip 0.0.3 (original)`);
    L.push('');
  }
  L.push(`${m.date} · ${m.cpu}, ${m.cores} cores, ${m.memGB} GB · ${m.os} · Node ${m.node} · ` +
    `git ${m.git}${m.gitDirty ? ' (dirty tree)' : ''} · addon ${m.addon ? `${m.addon.sha256} (built ${m.addon.mtime})` : 'missing'} · ` +
    `GOSSIPER_THREADS ${m.gossiperThreads} · load average at start ${m.loadAvg.join(', ')}`);
  L.push('');
  L.push(`All N peers in one process, loopback, default settings (1 s rounds; gossiper's defaults: fanout 2, ` +
    `'normal' detector), ${o.seeds} seed(s) shared by all, an \`update\` listener on every peer. ` +
    `Steady window ${o.steady} s; waits capped at ${o.cap} s. Total run time ${fmtS(totalS * 1000)}.`);
  L.push('');
  L.push('| peers | impl | start | all know all (join) | one key reaches all | CPU % of one core | RSS MB | bytes/peer/round | update events/s | stopped peer failed everywhere | false failures (steady) | run wall |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const s = r.steady;
    L.push(`| ${r.n} | ${r.impl} | ${r.start && r.start.ms != null ? fmtS(r.start.ms) : '—'} | ${timeCell(r.join)} | ${spreadCell(r.spread)} | ` +
      `${cpuCell(r)} | ${s ? s.rssMB : '—'} | ${s && s.bytesPerPeerPerRound != null ? s.bytesPerPeerPerRound : '—'} | ` +
      `${s ? s.updateEventsPerS : '—'} | ${detectCell(r.detect)} | ${falseCell(r)} | ${r.runWallS} s |`);
  }
  const pairs = [];
  for (const n of [...new Set(results.map((r) => r.n))]) {
    const g = results.find((r) => r.n === n && r.impl === 'gossiper');
    const o = results.find((r) => r.n === n && r.impl === 'original');
    if (g && o) pairs.push({ n, g, o });
  }
  if (pairs.length) {
    L.push('');
    L.push('Ratios, original ÷ gossiper (> 1 means gossiper is faster / lighter):');
    L.push('');
    L.push('| peers | join | spread | CPU | RSS | bytes/peer/round | failure detection |');
    L.push('|---|---|---|---|---|---|---|');
    for (const { n, g, o } of pairs) {
      L.push(`| ${n} | ${ratio(val(o.join), val(g.join), o.join && o.join.capped, g.join && g.join.capped)} | ` +
        `${ratio(val(o.spread), val(g.spread), o.spread && o.spread.capped, g.spread && g.spread.capped)} | ` +
        `${ratio(o.steady && o.steady.cpuPct, g.steady && g.steady.cpuPct)} | ` +
        `${ratio(o.steady && o.steady.rssMB, g.steady && g.steady.rssMB)} | ` +
        `${ratio(o.steady && o.steady.bytesPerPeerPerRound, g.steady && g.steady.bytesPerPeerPerRound)} | ` +
        `${ratio(o.detect && (o.detect.capped ? o.detect.capMs : o.detect.ms), g.detect && g.detect.ms, o.detect && o.detect.capped, g.detect && g.detect.capped)} |`);
    }
  }
  L.push('');
  L.push('Details:');
  L.push('');
  for (const r of results) {
    const s = r.steady;
    const bits = [];
    if (s) {
      bits.push(`CPU user/sys ${s.cpuUserPct}/${s.cpuSystemPct}%`, `RSS peak ${s.rssPeakMB} MB`, `heap ${s.heapUsedMB} MB`,
        `event-loop delay p50/p99/max ${s.eventLoopDelayMs.p50}/${s.eventLoopDelayMs.p99}/${s.eventLoopDelayMs.max} ms`,
        `rounds/peer/s ${s.roundsPerPeerPerS}`,
        `CPU by thread ${Object.entries(s.cpuByThread || {}).map(([k, v]) => `${k} ${v}%`).join(', ')}`,
        `machine CPU during window ${s.machineCpuPct}% of one core (others ≈ ${s.machineCpuPct == null ? '?' : round1(s.machineCpuPct - s.cpuPct)}%), load avg ${s.loadAvg1.join('→')}`, `bytes/peer/s ${s.bytesPerPeerPerS} (${s.bytesSource}${s.bytesPeersCounted < r.n ? `, ${s.bytesPeersCounted} of ${r.n} peers sampled` : ''})`,
        `live at window end ${s.liveAtEnd.complete}/${r.n} complete (min ${s.liveAtEnd.min})`);
      if (s.block) bits.push(`event loop blocked ${s.block.blockedMs} ms at +${s.block.atMs} ms (CPU includes it)`);
    }
    if (r.join && r.join.capped) bits.push(`join incomplete: livePeers min ${r.join.live.min}, ${r.join.live.complete}/${r.n} complete`);
    if (r.spread) bits.push(`spread by events ${r.spread.eventsMs == null ? '—' : fmtS(r.spread.eventsMs)}`);
    if (r.detect) bits.push(`detection first/median ${r.detect.firstMs == null ? '—' : fmtS(r.detect.firstMs)}/${r.detect.medianMs == null ? '—' : fmtS(r.detect.medianMs)}`);
    if (r.falseFailures && r.falseFailures.total) bits.push(`false failures by phase ${JSON.stringify(r.falseFailures.byPhase)}`);
    if (r.peerAlive && r.peerAlive.total) bits.push(`peer_alive events by phase ${JSON.stringify(r.peerAlive.byPhase)}`);
    if (r.netTotals && r.netTotals.refused) {
      const ref = Object.entries(r.netTotals.refused).filter(([, v]) => v > 0);
      bits.push(`exchanges failed ${r.netTotals.exchangesFailed}, connect failures ${r.netTotals.connectFailures}` +
        (ref.length ? `, refused ${ref.map(([k, v]) => `${k} ${v}`).join(', ')}` : ''));
    }
    if (r.uncaught && r.uncaught.count) bits.push(`UNCAUGHT EXCEPTIONS ${r.uncaught.count}: ${String(r.uncaught.first).split('\n')[0]}`);
    if (r.warnings && r.warnings.length) bits.push(`warnings: ${r.warnings.slice(0, 3).join('; ')}`);
    if (r.machineBefore) bits.push(`machine before the run ${r.machineBefore.busyPct}% of one core busy${r.machineBefore.quiet ? '' : ' (NOT quiet)'}${r.machineBefore.waitedS ? `, waited ${r.machineBefore.waitedS} s` : ''}`);
    if (r.error) bits.push(`ERROR: ${r.error}`);
    L.push(`- ${r.impl} N=${r.n}: ${bits.join('; ')}`);
  }
  if (results.some((r) => r.steady && r.steady.block)) {
    L.push('');
    L.push('\\* this run blocked the JS event loop with a busy loop inside the steady window; its CPU figure includes the busy loop.');
  }
  L.push('');
  L.push('Bytes: gossiper from `stats().bytesOut` (sum over peers ÷ rounds); the original by counting bytes written through ' +
    '`net.Socket#write` in the worker ÷ its gossip rounds. Both count every byte a peer writes (requests and responses). ' +
    'gossiper contacts 2 peers per round (fanout 2), the original 1.');
  return L.join('\n');
}

// ------------------------------------------------------------------ main

// The README's performance table: gossiper against node-gossip at every
// size both ran, one row per measure, with the date and the command.
function summary(results, m, o) {
  const sizes = [...new Set(results.map((r) => r.n))].filter((n) =>
    results.some((r) => r.n === n && r.impl === 'gossiper' && !r.error) &&
    results.some((r) => r.n === n && r.impl === 'original' && !r.error));
  if (sizes.length === 0) return null;
  const pick = (n, impl) => results.find((r) => r.n === n && r.impl === impl);
  const rows = [
    ['all peers know all peers', (r) => r.join, timeCell, (r) => val(r.join), (r) => r.join && r.join.capped],
    ['a new value reaches all', (r) => r.spread, spreadCell, (r) => val(r.spread), (r) => r.spread && r.spread.capped],
    ['a stopped peer is failed everywhere', (r) => r.detect, detectCell, (r) => r.detect && (r.detect.capped ? r.detect.capMs : r.detect.ms), (r) => r.detect && r.detect.capped],
    ['CPU, % of one core', (r) => r.steady, (s) => `${s.cpuPct}`, (r) => r.steady && r.steady.cpuPct, () => false],
    ['memory (RSS), MB', (r) => r.steady, (s) => `${Math.round(s.rssMB)}`, (r) => r.steady && r.steady.rssMB, () => false],
    ['bytes sent per peer per round', (r) => r.steady, (s) => `${s.bytesPerPeerPerRound}`, (r) => r.steady && r.steady.bytesPerPeerPerRound, () => false],
  ];
  const L = [];
  L.push(`Measured on ${sections.day(m.date)} with \`npm run bench\` (${m.cpu}, ${m.cores} cores, Node ${m.node}): ` +
    `all N peers in one process on loopback, default settings (1 s rounds), an \`update\` listener on every peer, ` +
    `node-gossip 0.0.3 run in the same harness. Ratio: node-gossip ÷ gossiper (above 1: gossiper is faster or lighter). ` +
    `The machine's load during each run, and every figure: ` +
    `[bench/README.md](bench/README.md).`);
  L.push('');
  L.push(`| | ${sizes.map((n) => `gossiper, N = ${n} | node-gossip | ratio`).join(' | ')} |`);
  L.push(`|---|${sizes.map(() => '---|---|---').join('|')}|`);
  for (const [label, has, cell, num, capped] of rows) {
    const cells = sizes.map((n) => {
      const g = pick(n, 'gossiper');
      const og = pick(n, 'original');
      const c = (r) => (has(r) ? cell(has(r)) : '—');
      return `${c(g)} | ${c(og)} | ${ratio(num(og), num(g), capped(og), capped(g))}`;
    });
    L.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return L.join('\n');
}

// Puts a run's figures in bench/README.md and the README's performance table.
function updateReadmes(saved) {
  const { machine: m, options: o, totalS, results } = saved;
  sections.writeSection('cluster', report(results, m, totalS, o, false));
  const table = summary(results, m, o);
  if (table) sections.writeSection('cluster-summary', table, sections.MAIN_README);
  for (const f of require('./plot').update({ cluster: saved })) console.error(`bench: plotted ${path.relative(process.cwd(), f)}`);
}

async function main() {
  if (opt.render) {
    updateReadmes(JSON.parse(fs.readFileSync(opt.render, 'utf8')));
    return;
  }
  const runs = plan();
  const m = machine();
  const jsonFile = path.resolve(opt.json || sections.outFile('cluster', new Date(m.date), 'json'));
  const mdFile = path.resolve(opt.md || jsonFile.replace(/\.json$/, '') + '.md');
  console.error(`bench: ${runs.length} runs: ${runs.map((r) => `${r.impl}@${r.n}`).join(', ')}; ` +
    `steady ${opt.steady} s, caps ${opt.cap} s${opt.block ? `, block ${opt.block} ms` : ''}`);
  const t0 = Date.now();
  const results = [];
  const saved = () => ({ machine: m, options: opt, totalS: (Date.now() - t0) / 1000, results });
  const write = () => {
    fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
    fs.writeFileSync(jsonFile, JSON.stringify(saved(), null, 2));
  };
  for (const r of runs) {
    if (interrupted) break;
    console.error(`bench: --- ${r.impl} N=${r.n} (ports ${r.basePort}-${r.basePort + r.n - 1})`);
    const quiet = await waitQuiet();
    if (interrupted) break;
    const res = await runOne(r);
    res.machineBefore = quiet;
    results.push(res);
    write();
    if (res.error) console.error(`bench: ${r.impl} N=${r.n}: ${res.error}`);
    if (!interrupted) await new Promise((ok) => setTimeout(ok, 2000));
  }
  const totalS = (Date.now() - t0) / 1000;
  write();
  const md = report(results, m, totalS, opt);
  fs.writeFileSync(mdFile, `${md}\n`);
  console.log(md);
  console.error(`\nbench: results in ${path.relative(process.cwd(), jsonFile)} and ${path.relative(process.cwd(), mdFile)}`);
  const failed = results.filter((r) => r.error);
  if (interrupted) process.exit(130);
  if (choice.readme && failed.length === 0) updateReadmes(saved());
  else console.error('bench: README figures not updated (not a standard, complete run; --readme forces it)');
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`bench: ${e && e.stack || e}`);
  killCurrent('SIGKILL');
  process.exit(1);
});
