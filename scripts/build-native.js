#!/usr/bin/env node
'use strict';
// Builds the addon from source with cargo and copies it to
// gossiper.<triple>.node. Runs as the package's install script: from a
// clone, from a packed tarball and from a folder install alike. Skips the
// build when a binary for this platform is already there: a file in this
// folder, or the prebuilt package gossiper-<triple> at our version (an
// optional dependency of the published package); --force builds anyway.
//
//   node scripts/build-native.js [--force] [--target <rust target>]
//
// --target cross-builds for one of lib/platform.js's TARGETS (the release
// workflow uses it; implies --force) and names the file after that platform.
// scripts/pack.js calls build() directly.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { TARGETS, platformTriple, binaryName, packageName, prebuiltPackage, version } = require('../lib/platform');

const root = path.join(__dirname, '..');

function fail(message) {
  const e = new Error(message);
  e.friendly = true;
  throw e;
}

/**
 * Runs cargo build --release [--target] and copies the library to `dest`
 * (default: gossiper.<triple>.node in the package folder); returns `dest`.
 */
function build({ rustTarget, dest } = {}) {
  let triple = platformTriple();
  if (rustTarget) {
    triple = Object.keys(TARGETS).find((t) => TARGETS[t].rust === rustTarget);
    if (!triple) fail(`gossiper: unknown --target ${rustTarget}; known: ${Object.values(TARGETS).map((t) => t.rust).join(', ')}`);
  }
  const cargo = process.env.CARGO || 'cargo';
  const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    fail(
      `gossiper: no prebuilt binary for ${triple} and no Rust toolchain ("${cargo}") to build one.\n` +
        (TARGETS[triple]
          ? `Install the prebuilt package with gossiper: npm install gossiper@${version} ${packageName(triple)}@${version}\n` +
            'or install a Rust toolchain (https://rustup.rs) and run npm install again.'
          : 'Install a Rust toolchain (https://rustup.rs) and run npm install again.')
    );
  }
  const args = ['build', '--release'];
  if (fs.existsSync(path.join(root, 'Cargo.lock'))) args.push('--locked');
  if (rustTarget) args.push('--target', rustTarget);
  console.log(`gossiper: building the native addon (${cargo} ${args.join(' ')})`);
  const run = spawnSync(cargo, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (run.status !== 0) fail(`gossiper: ${cargo} ${args.join(' ')} failed (${run.error ? run.error.message : `exit ${run.status}`})`);

  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  const os = rustTarget ? TARGETS[triple].os : process.platform;
  const libName = { darwin: 'libgossiper.dylib', win32: 'gossiper.dll' }[os] || 'libgossiper.so';
  const built = path.join(targetDir, ...(rustTarget ? [rustTarget] : []), 'release', libName);
  dest = dest || path.join(root, binaryName(triple));
  // Copy to a temporary name then rename, so a process loading the old binary
  // never sees a half-written file.
  fs.copyFileSync(built, `${dest}.tmp`);
  fs.renameSync(`${dest}.tmp`, dest);
  console.log(`gossiper: built ${dest} (${(fs.statSync(dest).size / 1024).toFixed(0)} KiB)`);
  return dest;
}

function main(argv) {
  const i = argv.indexOf('--target');
  const rustTarget = i >= 0 ? argv[i + 1] : undefined;
  const force = argv.includes('--force') || Boolean(rustTarget);
  const triple = platformTriple();
  if (!force) {
    if (fs.existsSync(path.join(root, binaryName(triple)))) {
      console.log(`gossiper: using the binary already present (${binaryName(triple)})`);
      return;
    }
    const pkg = prebuiltPackage(triple, root);
    if (pkg.dir) {
      console.log(`gossiper: using the prebuilt package ${pkg.name}@${pkg.version}`);
      return;
    }
    if (TARGETS[triple]) console.log(`gossiper: no usable prebuilt package (${pkg.name} ${pkg.problem}); building from source`);
  }
  build({ rustTarget });
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    if (!e.friendly) throw e;
    console.error(e.message);
    process.exit(1);
  }
}

module.exports = { build };
