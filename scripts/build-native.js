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
//
// Where cargo builds: $CARGO_TARGET_DIR when set; else target/ in a clone (a
// folder with .git, for incremental rebuilds); else, in an installed package,
// a temporary folder removed after the build, so that only the .node stays in
// node_modules (cargo's target/ is well over 100 MB).
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { TARGETS, platformTriple, binaryName, prebuiltPackage, hints } = require('../lib/platform');

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
    fail(`gossiper: no native binary for ${triple} and no Rust toolchain ("${cargo}") to build one.\n${hints(triple, root)}`);
  }
  const args = ['build', '--release'];
  if (fs.existsSync(path.join(root, 'Cargo.lock'))) args.push('--locked');
  if (rustTarget) args.push('--target', rustTarget);
  const target = targetDir();
  console.log(
    `gossiper: building the native addon (${cargo} ${args.join(' ')})` +
      (target.temporary ? ` in ${target.dir}, removed afterwards` : '')
  );
  try {
    const env = { ...process.env, CARGO_TARGET_DIR: target.dir };
    const run = spawnSync(cargo, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (run.status !== 0) fail(`gossiper: ${cargo} ${args.join(' ')} failed (${run.error ? run.error.message : `exit ${run.status}`})`);

    const system = rustTarget ? TARGETS[triple].os : process.platform;
    const libName = { darwin: 'libgossiper.dylib', win32: 'gossiper.dll' }[system] || 'libgossiper.so';
    const built = path.join(target.dir, ...(rustTarget ? [rustTarget] : []), 'release', libName);
    dest = dest || path.join(root, binaryName(triple));
    // Copy to a temporary name then rename, so a process loading the old binary
    // never sees a half-written file.
    fs.copyFileSync(built, `${dest}.tmp`);
    fs.renameSync(`${dest}.tmp`, dest);
  } finally {
    if (target.temporary) fs.rmSync(target.dir, { recursive: true, force: true });
  }
  console.log(`gossiper: built ${dest} (${(fs.statSync(dest).size / 1024).toFixed(0)} KiB)`);
  return dest;
}

/** { dir, temporary }: where cargo builds (see the top of this file). */
function targetDir() {
  if (process.env.CARGO_TARGET_DIR) return { dir: path.resolve(process.env.CARGO_TARGET_DIR), temporary: false };
  if (fs.existsSync(path.join(root, '.git'))) return { dir: path.join(root, 'target'), temporary: false };
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-build-')), temporary: true };
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
    if (pkg.installed) console.log(`gossiper: the prebuilt package ${pkg.name} is there but unusable (${pkg.problem}); building from source`);
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
