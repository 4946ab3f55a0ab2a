'use strict';
// The napi-rs name of a platform, e.g. "linux-x64-gnu": it names the binary
// (gossiper.<triple>.node) and the per-platform package that ships it
// prebuilt (gossiper-<triple>, in npm/<triple>/). TARGETS is the one list of
// platforms we publish; scripts/pack.js, scripts/build-native.js --target and
// .github/workflows/release.yml follow it.
const fs = require('fs');
const path = require('path');

// napi triple → Rust target and the package.json os/cpu/libc of its package.
const TARGETS = {
  'linux-x64-gnu': { rust: 'x86_64-unknown-linux-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  'linux-arm64-gnu': { rust: 'aarch64-unknown-linux-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  'linux-x64-musl': { rust: 'x86_64-unknown-linux-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  'linux-arm64-musl': { rust: 'aarch64-unknown-linux-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  'darwin-x64': { rust: 'x86_64-apple-darwin', os: 'darwin', cpu: 'x64' },
  'darwin-arm64': { rust: 'aarch64-apple-darwin', os: 'darwin', cpu: 'arm64' },
  'win32-x64-msvc': { rust: 'x86_64-pc-windows-msvc', os: 'win32', cpu: 'x64' },
};

function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    const header = process.report.getReport().header;
    return !header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/** This process's triple (published or not: a source build works anywhere). */
function platformTriple() {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

const binaryName = (triple) => `gossiper.${triple}.node`;
const packageName = (triple) => `gossiper-${triple}`;
const { version } = require('../package.json');

/**
 * The prebuilt package for `triple` as seen from `fromDir`:
 * { name, version, dir } if it is installed at our own version, else
 * { name, problem, installed } saying why it can't be used. The binding
 * between index.js and the binary is internal, so only the exact version will do.
 */
function prebuiltPackage(triple, fromDir) {
  const name = packageName(triple);
  let manifest;
  try {
    manifest = require.resolve(`${name}/package.json`, { paths: [fromDir] });
  } catch {
    return { name, problem: 'not installed', installed: false };
  }
  const found = JSON.parse(fs.readFileSync(manifest, 'utf8')).version;
  if (found !== version) return { name, problem: `version ${found} installed, ${version} needed`, installed: true };
  return { name, version: found, dir: path.dirname(manifest) };
}

/**
 * What to do without a usable binary, for the loader's and the install
 * script's errors. A prebuilt package is named only when one is installed
 * but unusable: none is on the registry yet, and neither code path can ask
 * the registry, so telling people to install one would send them to a 404
 * (or to whatever a stranger publishes under that name).
 */
function hints(triple, fromDir) {
  const pkg = prebuiltPackage(triple, fromDir);
  return [
    ...(pkg.installed
      ? [`The prebuilt package ${pkg.name} is installed but unusable (${pkg.problem}): install the one of gossiper's version, or remove it.`]
      : []),
    'Build the addon from source: install a Rust toolchain (https://rustup.rs), then run "npm rebuild gossiper" in your app.',
    `Note: "npm install gossiper" from the npm registry installs node-gossip 0.0.3, not this version (${version});` +
      ' install this one from its release tarball or from git (docs/install.md).',
  ].join('\n');
}

module.exports = { TARGETS, platformTriple, binaryName, packageName, prebuiltPackage, hints, version };
