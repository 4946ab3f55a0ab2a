#!/usr/bin/env node
'use strict';
// Builds the addon from source with cargo and copies it to
// gossiper.<platform>.node. Runs as the package's install script: from a
// clone, from a packed tarball and from a folder install alike. Skips the
// build when a binary for this platform is already there (a prebuilt one),
// unless --force.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { platformTriple } = require('../lib/platform');

const root = path.join(__dirname, '..');
const triple = platformTriple();
const target = path.join(root, `gossiper.${triple}.node`);
const force = process.argv.includes('--force');

function prebuiltPackageInstalled() {
  try {
    require.resolve(`gossiper-${triple}`, { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

if (!force && fs.existsSync(target)) {
  console.log(`gossiper: using the binary already present (${path.basename(target)})`);
  process.exit(0);
}
if (!force && prebuiltPackageInstalled()) {
  console.log(`gossiper: using the prebuilt package gossiper-${triple}`);
  process.exit(0);
}

const cargo = process.env.CARGO || 'cargo';
const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  console.error(
    `gossiper: no prebuilt binary for ${triple} and no Rust toolchain to build one.\n` +
      `Install the prebuilt package (npm install gossiper-${triple}) or a Rust toolchain (https://rustup.rs), then run "npm rebuild gossiper".`
  );
  process.exit(1);
}

const args = ['build', '--release'];
if (fs.existsSync(path.join(root, 'Cargo.lock'))) args.push('--locked');
console.log(`gossiper: building the native addon (${cargo} ${args.join(' ')})`);
const build = spawnSync(cargo, args, { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status || 1);

const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const libName = { darwin: 'libgossiper.dylib', win32: 'gossiper.dll' }[process.platform] || 'libgossiper.so';
const built = path.join(targetDir, 'release', libName);
fs.copyFileSync(built, target);
console.log(`gossiper: built ${path.basename(target)} (${(fs.statSync(target).size / 1024).toFixed(0)} KiB)`);
