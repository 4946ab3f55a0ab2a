#!/usr/bin/env node
'use strict';
// `npm test`: the Rust core's unit and simulator tests (cargo test), then the
// JavaScript suites in __test__ with node's built-in runner. The multi-host
// network tests need root and run with `npm run test:net`.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

function run(cmd, args, opts = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(r.status || 1);
  }
}

const only = process.argv.slice(2);
if (only.length === 0 || only.includes('rust')) {
  run(process.env.CARGO || 'cargo', ['test', '--release', '--no-default-features', '--features', 'sim']);
}
if (only.length === 0 || only.includes('js')) {
  const files = fs
    .readdirSync(path.join(root, '__test__'))
    .filter((f) => f.endsWith('.test.js') || f.endsWith('.test.mjs'))
    .sort()
    .map((f) => path.join('__test__', f));
  run(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=1200000', ...files]);
  console.log('\nThe multi-host network tests (root, network namespaces) run with `npm run test:net`.');
}
