'use strict';
// Finds the native addon, in napi-rs order: a binary in this folder first
// (built from source by the install script, or by `npm run build` in a
// clone), then the prebuilt package gossiper-<triple> at our own version.
// The published tarball holds no binary, so a consumer gets the local file
// only when the install script had to build one.
const path = require('path');
const fs = require('fs');
const { TARGETS, platformTriple, binaryName, prebuiltPackage, version } = require('./lib/platform');

function load() {
  const triple = platformTriple();
  const local = path.join(__dirname, binaryName(triple));
  if (fs.existsSync(local)) return require(local);
  const pkg = prebuiltPackage(triple, __dirname);
  if (pkg.dir) return require(path.join(pkg.dir, binaryName(triple)));
  const fromSource =
    'install a Rust toolchain (https://rustup.rs), then run "npm rebuild gossiper" in your app.';
  throw new Error(
    `gossiper: no native binary for ${triple}: no ${binaryName(triple)} in ${__dirname}` +
      (TARGETS[triple]
        ? `, and the prebuilt package ${pkg.name} is ${pkg.problem}.\n` +
          `Install it with "npm install ${pkg.name}@${version}", or build from source: ${fromSource}`
        : `, and no prebuilt package is published for ${triple}.\nBuild from source: ${fromSource}`)
  );
}

module.exports = load();
