'use strict';
// Finds the native addon: a binary built in this folder (npm install from
// source), then the prebuilt per-platform package, else says what to do.
const path = require('path');
const fs = require('fs');
const { platformTriple } = require('./lib/platform');

function load() {
  const triple = platformTriple();
  const local = path.join(__dirname, `gossiper.${triple}.node`);
  const tried = [local];
  if (fs.existsSync(local)) return require(local);
  const pkg = `gossiper-${triple}`;
  tried.push(pkg);
  try {
    return require(pkg);
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
  }
  throw new Error(
    `gossiper: no native binary for ${triple}. Tried ${tried.join(' and ')}.\n` +
      `Install the prebuilt package (npm install ${pkg}) or build from source: ` +
      'install a Rust toolchain (https://rustup.rs) and run "npm rebuild gossiper".'
  );
}

module.exports = load();
