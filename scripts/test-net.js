#!/usr/bin/env node
'use strict';
// Multi-host network tests (npm run test:net): every test host is a Linux
// network namespace, see __test__/net/harness.js. Needs root + iproute2.
//
//   node scripts/test-net.js [extra node --test args] [test files...]
//
// Environment:
//   GOSSIPER_NET_OPTIONAL=1       exit 0 (skip) when namespaces are unavailable
//   GOSSIPER_NET_TEST_TIMEOUT=ms  per-test timeout (default 300000: the loss soak runs 120 s)
//   GOSSIPER_NET_CONCURRENCY=n    test files run at once (default 1)
//   GOSSIPER_NET_TOTAL_TIMEOUT=ms kill the whole run after this (default 1800000)
//   GOSSIPER_NET_NETEM=auto|kernel|relay   netem backend (default auto)
//   GOSSIPER_NET_VERBOSE=1        harness logging, child stderr echoed

const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const testDir = path.join(root, '__test__', 'net');
const harness = require(path.join(testDir, 'harness.js'));

function nodeAccepts(flag) {
  const r = spawnSync(process.execPath, [flag, '-e', ''], { encoding: 'utf8' });
  return r.status === 0;
}

async function main() {
  const supported = await harness.isSupported();
  if (!supported) {
    const optional = process.env.GOSSIPER_NET_OPTIONAL === '1';
    console.error(`test:net: multi-host network tests cannot run here: ${harness.isSupported.reason}`);
    console.error(optional
      ? 'test:net: GOSSIPER_NET_OPTIONAL=1, skipping (exit 0)'
      : 'test:net: failing; set GOSSIPER_NET_OPTIONAL=1 to skip instead (they need root and iproute2)');
    process.exit(optional ? 0 : 1);
  }
  const support = harness.checkSupportSync();
  console.log(`test:net: namespaces ok; netem backends available: ${support.netemBackends.join(', ') || 'none'}`
    + (Object.keys(support.netemReasons).length ? ` (${Object.entries(support.netemReasons).map(([k, v]) => `${k}: ${v}`).join('; ')})` : ''));

  const removed = harness.cleanupStale();
  if (removed.length) console.log(`test:net: removed leftovers of earlier runs: ${removed.join(' ')}`);

  const args = process.argv.slice(2);
  const explicitFiles = args.filter((a) => !a.startsWith('-') && fs.existsSync(a));
  const passThrough = args.filter((a) => !explicitFiles.includes(a));
  const files = explicitFiles.length
    ? explicitFiles.map((f) => path.resolve(f))
    : fs.readdirSync(testDir).filter((f) => /\.test\.(c?js|mjs)$/.test(f)).sort().map((f) => path.join(testDir, f));
  if (!files.length) {
    console.error(`test:net: no *.test.js files in ${path.relative(root, testDir)}`);
    process.exit(1);
  }
  console.log('test:net: running test files:');
  for (const f of files) console.log(`  ${path.relative(root, f)}`);

  const testTimeout = process.env.GOSSIPER_NET_TEST_TIMEOUT || '300000';
  const concurrency = process.env.GOSSIPER_NET_CONCURRENCY || '1';
  const nodeArgs = ['--test'];
  if (nodeAccepts(`--test-timeout=${testTimeout}`)) nodeArgs.push(`--test-timeout=${testTimeout}`);
  else console.log('test:net: this node has no --test-timeout; relying on the total timeout');
  if (nodeAccepts(`--test-concurrency=${concurrency}`)) nodeArgs.push(`--test-concurrency=${concurrency}`);
  nodeArgs.push(...passThrough, ...files);
  console.log(`test:net: ${path.basename(process.execPath)} ${nodeArgs.map((a) => (files.includes(a) ? path.relative(root, a) : a)).join(' ')}`);

  const started = Date.now();
  const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: 'inherit', detached: true });
  const totalTimeout = Number(process.env.GOSSIPER_NET_TOTAL_TIMEOUT || 30 * 60 * 1000);
  let timedOut = false;
  const killRun = (sig) => { try { process.kill(-child.pid, sig); } catch { /* gone */ } };
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`test:net: total timeout of ${totalTimeout} ms reached, stopping the run`);
    killRun('SIGTERM'); // the harness tears its networks down on SIGTERM
    setTimeout(() => killRun('SIGKILL'), 5000).unref();
  }, totalTimeout);
  // The runner is in its own process group (so a timeout can stop all of
  // it); forward Ctrl-C / termination to it.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => killRun(sig));

  const { code, signal } = await new Promise((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s })));
  clearTimeout(timer);

  // Anything left behind by a crashed test process (owner dead) goes now;
  // the harness would otherwise remove it at the start of the next run.
  await new Promise((r) => setTimeout(r, 300));
  const leftovers = harness.cleanupStale();
  if (leftovers.length) console.error(`test:net: WARNING: removed leftovers of this run: ${leftovers.join(' ')}`);

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`test:net: ${files.length} file(s) in ${secs} s: ${files.map((f) => path.relative(root, f)).join(', ')}`
    + ` -> ${timedOut ? 'TIMED OUT' : signal ? `killed by ${signal}` : code === 0 ? 'passed' : `failed (exit ${code})`}`);
  process.exit(timedOut ? 1 : signal ? 1 : code);
}

main().catch((err) => {
  console.error(`test:net: ${err && err.stack || err}`);
  process.exit(1);
});
