'use strict';
// Finds the native addon, in napi-rs order: a binary in this folder first
// (built from source by the install script, or by `npm run build` in a
// clone), then the prebuilt package gossiper-<triple> at our own version.
// The published tarball holds no binary, so a consumer gets the local file
// only when the install script had to build one.
const path = require('path');
const fs = require('fs');
const { platformTriple, binaryName, prebuiltPackage, hints } = require('./lib/platform');

function load() {
  const triple = platformTriple();
  const local = path.join(__dirname, binaryName(triple));
  if (fs.existsSync(local)) return require(local);
  const pkg = prebuiltPackage(triple, __dirname);
  if (pkg.dir) return require(path.join(pkg.dir, binaryName(triple)));
  throw new Error(`gossiper: no native binary for ${triple} (no ${binaryName(triple)} in ${__dirname}).\n${hints(triple, __dirname)}`);
}

module.exports = load();
