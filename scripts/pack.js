#!/usr/bin/env node
'use strict';
// `npm run pack:all`: the tarballs we publish, in the napi-rs shape.
//
//   dist/gossiper-<version>.tgz           the main package: JavaScript, the Rust
//                                         sources and Cargo.lock, no binary; its
//                                         optionalDependencies name every
//                                         gossiper-<triple>@<version>
//   dist/gossiper-<triple>-<version>.tgz  one per platform binary we have:
//                                         npm/<triple>/ plus gossiper.<triple>.node
//
// The optionalDependencies are written into the packed package.json only,
// never into the repository's: a clone's `npm install` would otherwise ask the
// registry for seven packages that don't exist until the first release
// (404s it skips, but `npm ci` refuses them, and a stranger who published one
// of those names would be installed in every clone). napi-rs does the same at
// publish time (`napi pre-publish`).
//
// Options:
//   --out DIR        where to write the tarballs (default dist/)
//   --no-build       don't build this machine's binary; take it from --artifacts
//   --artifacts DIR  look for gossiper.<triple>.node files under DIR (the
//                    release workflow's downloaded build artifacts)
//   --all            fail unless every platform in lib/platform.js has a binary
//
// Nothing in the repository is modified: the packages are staged in a
// temporary folder.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { TARGETS, platformTriple, binaryName, packageName, version } = require('../lib/platform');
const { build } = require('./build-native');

const root = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function die(message) {
  const e = new Error(`pack: ${message}`);
  e.friendly = true;
  throw e;
}

function parseArgs(argv) {
  const opts = { out: path.join(root, 'dist'), build: true, artifacts: null, all: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = path.resolve(argv[++i]);
    else if (a === '--artifacts') opts.artifacts = path.resolve(argv[++i]);
    else if (a === '--no-build') opts.build = false;
    else if (a === '--all') opts.all = true;
    else die(`unknown argument ${a}`);
  }
  return opts;
}

function runNpm(args, cwd) {
  const r = spawnSync(npm, args, { cwd, encoding: 'utf8', shell: process.platform === 'win32' });
  if (r.status !== 0) die(`npm ${args.join(' ')} failed:\n${r.stderr || r.error}`);
  return r.stdout;
}

/** npm pack DIR into out; returns npm's JSON report of the tarball. */
function pack(dir, out) {
  const [report] = JSON.parse(runNpm(['pack', dir, '--json', '--ignore-scripts', '--pack-destination', out], root));
  return report;
}

/** gossiper.<triple>.node files found anywhere under dir, by triple. */
function findArtifacts(dir) {
  const found = {};
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else for (const t of Object.keys(TARGETS)) if (e.name === binaryName(t)) found[t] = p;
    }
  };
  if (dir) walk(dir);
  return found;
}

/** Fails when npm/<triple>/package.json disagrees with lib/platform.js or our version. */
function checkPlatformManifest(triple) {
  const file = path.join(root, 'npm', triple, 'package.json');
  if (!fs.existsSync(file)) die(`${path.relative(root, file)} is missing`);
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  const t = TARGETS[triple];
  const want = {
    name: packageName(triple),
    version,
    os: [t.os],
    cpu: [t.cpu],
    libc: t.libc ? [t.libc] : undefined,
    main: binaryName(triple),
    files: [binaryName(triple)],
  };
  for (const [k, v] of Object.entries(want)) {
    if (JSON.stringify(m[k]) !== JSON.stringify(v)) {
      die(`${path.relative(root, file)}: "${k}" is ${JSON.stringify(m[k])}, expected ${JSON.stringify(v)}`);
    }
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const t of Object.keys(TARGETS)) checkPlatformManifest(t);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-pack-'));
  try {
    // Binaries: this machine's, fresh from cargo, and any downloaded ones.
    const binaries = findArtifacts(opts.artifacts);
    if (opts.build) {
      const host = platformTriple();
      if (!TARGETS[host]) die(`no platform package for this machine (${host}); use --no-build --artifacts DIR`);
      binaries[host] = build({ dest: path.join(stage, binaryName(host)) });
    }
    const missing = Object.keys(TARGETS).filter((t) => !binaries[t]);
    if (opts.all && missing.length) die(`no binary for ${missing.join(', ')} (--all)`);
    if (Object.keys(binaries).length === 0) die('no binary to pack: build one, or pass --artifacts DIR');

    fs.mkdirSync(opts.out, { recursive: true });
    const ours = [`gossiper-${version}.tgz`, ...Object.keys(TARGETS).map((t) => `${packageName(t)}-${version}.tgz`)];
    for (const f of ours) fs.rmSync(path.join(opts.out, f), { force: true });

    // The main package: the files `npm pack` would take, minus any binary,
    // with the optional dependencies added.
    const listing = JSON.parse(runNpm(['pack', '--dry-run', '--json', '--ignore-scripts'], root))[0];
    const main = path.join(stage, 'gossiper');
    for (const { path: rel } of listing.files) {
      if (rel.endsWith('.node') || rel === 'package.json') continue;
      fs.mkdirSync(path.dirname(path.join(main, rel)), { recursive: true });
      fs.copyFileSync(path.join(root, rel), path.join(main, rel));
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    manifest.optionalDependencies = Object.fromEntries(Object.keys(TARGETS).map((t) => [packageName(t), version]));
    fs.writeFileSync(path.join(main, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (!fs.existsSync(path.join(main, 'Cargo.lock'))) {
      console.warn('pack: warning: no Cargo.lock in the package; source builds will resolve crate versions afresh');
    }
    const reports = [pack(main, opts.out)];

    // One package per platform binary.
    for (const [triple, binary] of Object.entries(binaries)) {
      const dir = path.join(stage, triple);
      fs.mkdirSync(dir);
      for (const f of fs.readdirSync(path.join(root, 'npm', triple))) {
        fs.copyFileSync(path.join(root, 'npm', triple, f), path.join(dir, f));
      }
      fs.copyFileSync(binary, path.join(dir, binaryName(triple)));
      reports.push(pack(dir, opts.out));
    }

    for (const r of reports) {
      const node = r.files.find((f) => f.path.endsWith('.node'));
      const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
      console.log(
        `${path.relative(process.cwd(), path.join(opts.out, r.filename))}: ${r.entryCount} files, ` +
          `${kib(r.size)} packed` + (node ? `, ${node.path} ${kib(node.size)}` : '')
      );
    }
    if (missing.length && !opts.all) console.log(`(no binary here for ${missing.join(', ')}: those packages come from the release workflow)`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  if (!e.friendly) throw e;
  console.error(e.message);
  process.exit(1);
}
