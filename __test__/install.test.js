'use strict';
// Install tests: what a user of the published packages gets. scripts/pack.js
// packs the main tarball and this machine's platform tarball (plus stand-ins
// for the other six platforms) into a temporary folder; each test installs
// into a fresh app with its own empty npm cache and runs a two-peer cluster
// there:
//   - prebuilt: `npm install --offline main.tgz platform.tgz`, no cargo or
//     rustc on PATH;
//   - as published: `npm install gossiper` from a registry on 127.0.0.1
//     serving the eight packages, no Rust: npm must pick this platform's
//     package through optionalDependencies and skip the other six;
//   - refusal: the main tarball alone, no Rust: install and require say how
//     to build from source and name no package that is not there; with a
//     platform package of the wrong version, they name that one;
//   - source: `npm install --offline main.tgz` with cargo: the install script
//     builds the addon, and only the .node stays in node_modules.
// `npm test` runs them (`npm run test:install` alone). Most of their time is
// the source build (about a minute cold). By default it runs as a user's
// does, with no CARGO_TARGET_DIR: the install script builds in a temporary
// folder and removes it. GOSSIPER_INSTALL_TEST_TARGET=<dir> gives it a
// persistent cargo target folder instead (CARGO_TARGET_DIR), so that only
// the first run compiles the crate's dependencies.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { TARGETS, platformTriple, binaryName, packageName, version } = require('../lib/platform');

const root = path.join(__dirname, '..');
const triple = platformTriple();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-install-test-'));
const dist = path.join(tmp, 'dist');
const tarball = (name) => path.join(dist, `${name}-${version}.tgz`);
const mainTgz = tarball('gossiper');
const platformTgz = tarball(packageName(triple));
const cargoTarget = process.env.GOSSIPER_INSTALL_TEST_TARGET ? path.resolve(process.env.GOSSIPER_INSTALL_TEST_TARGET) : null;

// npm's own script, run with this node: nothing else needs to be on PATH.
function findNpmCli() {
  const candidates = [process.env.npm_execpath];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    try {
      candidates.push(fs.realpathSync(path.join(dir, 'npm')));
    } catch {}
  }
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'));
  return candidates.find((c) => c && /npm-cli\.js$/.test(c) && fs.existsSync(c));
}
const npmCli = findNpmCli();

// Without Rust, PATH is one folder holding a link to node (on Windows, node's
// own folder); npm gets /bin/sh for scripts through --script-shell.
const windows = process.platform === 'win32';
const nodeOnlyBin = windows ? path.dirname(process.execPath) : path.join(tmp, 'node-only-bin');
if (!windows) {
  fs.mkdirSync(nodeOnlyBin);
  fs.symlinkSync(process.execPath, path.join(nodeOnlyBin, 'node'));
}
const scriptShell = windows ? [] : ['--script-shell=/bin/sh'];

/** A user's shell: our environment without npm's, cargo's or the test runner's variables. */
function userEnv({ rust }) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(npm_|NODE_TEST|NODE_OPTIONS$|CARGO|RUSTC|RUSTUP)/i.test(k)) env[k] = v;
  }
  if (!rust) env.PATH = nodeOnlyBin;
  else if (cargoTarget) env.CARGO_TARGET_DIR = cargoTarget;
  return env;
}

/** Runs a command to its end (asynchronously: the test's registry must keep answering). */
function run(cmd, args, { cwd, env }) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const done = (status, error) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ status, stdout, stderr, seconds, output: `${stdout}${stderr}${error ? error.message : ''}` });
    };
    child.on('error', (e) => done(null, e));
    child.on('close', (status) => done(status));
  });
}

/** `npm install ARGS` in a fresh app folder, with a fresh npm cache. */
async function npmInstall(name, args, { rust }) {
  const app = path.join(tmp, name);
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  const cache = `--cache=${path.join(tmp, `${name}-npm-cache`)}`;
  const flags = [cache, ...scriptShell, '--no-audit', '--no-fund', '--foreground-scripts'];
  const r = await run(process.execPath, [npmCli, 'install', ...flags, ...args], { cwd: app, env: userEnv({ rust }) });
  return { app, ...r };
}

const clusterScript = `'use strict';
const { Gossiper } = require('gossiper');
const binary = Object.keys(require.cache).find((f) => f.endsWith('.node'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function main() {
  const a = new Gossiper({ port: 0, address: '127.0.0.1', profile: 'local' });
  await a.start();
  const b = new Gossiper({ port: 0, address: '127.0.0.1', seeds: [a.peer_name], profile: 'local' });
  await b.start();
  a.setLocalState('greeting', { hello: 'world', n: 42 });
  for (const deadline = Date.now() + 20000; ; await sleep(20)) {
    const seen = b.peerValue(a.peer_name, 'greeting');
    if (seen && seen.hello === 'world' && seen.n === 42) break;
    if (Date.now() > deadline) throw new Error(b.peer_name + ' never saw greeting from ' + a.peer_name);
  }
  await Promise.all([a.stop(), b.stop()]);
  console.log(JSON.stringify({ binary, a: a.peer_name, b: b.peer_name }));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

/** Runs the two-peer cluster in `app`; checks it exits 0 having loaded `binary`. */
async function runCluster(app, env, binary) {
  fs.writeFileSync(path.join(app, 'cluster.js'), clusterScript);
  const r = await run(process.execPath, ['cluster.js'], { cwd: app, env });
  assert.equal(r.status, 0, `cluster.js exited ${r.status}:\n${r.output}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(out.binary, fs.realpathSync(path.join(app, binary)), 'the binary loaded');
  assert.match(out.b, /^127\.0\.0\.1:\d+$/);
}

const installed = (app) => fs.readdirSync(path.join(app, 'node_modules')).filter((f) => !f.startsWith('.')).sort();
const tarList = (tgz) => spawnSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).stdout.trim().split('\n').sort();
const tarManifest = (tgz) => JSON.parse(spawnSync('tar', ['-xzOf', tgz, 'package/package.json'], { encoding: 'utf8' }).stdout);

/** A registry on 127.0.0.1 serving these tarballs (and 404 for anything else). */
async function startRegistry(tarballs) {
  const packuments = new Map();
  const files = new Map();
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url);
    requests.push(url);
    const body = packuments.get(url.slice(1)) || files.get(url);
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  for (const tgz of tarballs) {
    const manifest = tarManifest(tgz);
    const bytes = fs.readFileSync(tgz);
    const route = `/${manifest.name}/-/${path.basename(tgz)}`;
    files.set(route, bytes);
    const integrity = `sha512-${crypto.createHash('sha512').update(bytes).digest('base64')}`;
    const shasum = crypto.createHash('sha1').update(bytes).digest('hex');
    manifest.dist = { tarball: `${base}${route}`, integrity, shasum };
    packuments.set(manifest.name, JSON.stringify({ name: manifest.name, 'dist-tags': { latest: version }, versions: { [version]: manifest } }));
  }
  return { url: `${base}/`, requests, close: () => new Promise((resolve) => server.close(resolve)) };
}

// Skipped, with the reason, only where the packages can't be made at all.
const why = !npmCli
  ? 'npm pack is impossible here: npm (npm-cli.js) not found next to node or on PATH'
  : !TARGETS[triple]
    ? `no platform package is published for this machine (${triple}), so there is no prebuilt tarball to install`
    : null;
if (why) {
  console.log(`# install tests skipped: ${why}`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

test('install from the packed tarballs', { skip: why || false }, async (t) => {
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  let packed = false;

  await t.test('npm run pack:all: a main tarball without a binary, a platform tarball with one', async () => {
    // Stand-ins for the six other platforms' binaries (never loaded: npm must skip those packages).
    const others = path.join(tmp, 'other-platforms');
    for (const other of Object.keys(TARGETS).filter((x) => x !== triple)) {
      fs.mkdirSync(path.join(others, other), { recursive: true });
      fs.writeFileSync(path.join(others, other, binaryName(other)), `stand-in for ${other}\n`);
    }
    const r = await run(process.execPath, [path.join(root, 'scripts', 'pack.js'), '--out', dist, '--artifacts', others, '--all'], {
      cwd: root,
      env: process.env,
    });
    assert.equal(r.status, 0, `pack.js failed:\n${r.output}`);
    t.diagnostic(`pack.js: ${r.seconds.toFixed(1)} s`);
    const mainFiles = tarList(mainTgz);
    assert.deepEqual(mainFiles.filter((f) => f.endsWith('.node')), [], 'the main tarball holds no binary');
    for (const f of ['native.js', 'lib/platform.js', 'scripts/build-native.js', 'Cargo.toml', 'Cargo.lock', 'src/lib.rs', 'LICENSE', 'docs/install.md']) {
      assert.ok(mainFiles.includes(`package/${f}`), `the main tarball has ${f}`);
    }
    assert.deepEqual(tarList(platformTgz), ['package/README.md', `package/${binaryName(triple)}`, 'package/package.json']);
    const manifest = tarManifest(mainTgz);
    assert.deepEqual(manifest.optionalDependencies, Object.fromEntries(Object.keys(TARGETS).map((x) => [packageName(x), version])));
    assert.equal(manifest.dependencies, undefined, 'no runtime dependencies');
    packed = true;
  });
  const needsPack = () => (packed ? {} : { skip: 'pack.js failed' });

  await t.test('prebuilt: both tarballs install offline and run with no Rust on PATH', needsPack(), async () => {
    const env = userEnv({ rust: false });
    for (const tool of ['cargo', 'rustc']) {
      assert.equal(spawnSync(tool, ['--version'], { env }).error?.code, 'ENOENT', `${tool} is hidden`);
    }
    const r = await npmInstall('prebuilt-app', ['--offline', mainTgz, platformTgz], { rust: false });
    assert.equal(r.status, 0, `npm install failed:\n${r.output}`);
    t.diagnostic(`prebuilt npm install: ${r.seconds.toFixed(1)} s`);
    assert.match(r.output, new RegExp(`using the prebuilt package ${packageName(triple)}@${version}`));
    // The two packages alone: none of gossiper's devDependencies came along.
    assert.deepEqual(installed(r.app), ['gossiper', packageName(triple)]);
    assert.equal(fs.existsSync(path.join(r.app, 'node_modules', 'gossiper', binaryName(triple))), false);
    assert.doesNotMatch(fs.readFileSync(path.join(r.app, 'package-lock.json'), 'utf8'), /"resolved": "http/);
    await runCluster(r.app, env, path.join('node_modules', packageName(triple), binaryName(triple)));
  });

  await t.test('as published: npm install gossiper takes this platform package and skips the six others', needsPack(), async () => {
    const registry = await startRegistry([mainTgz, ...Object.keys(TARGETS).map((x) => tarball(packageName(x)))]);
    try {
      const r = await npmInstall('registry-app', [`--registry=${registry.url}`, `gossiper@${version}`], { rust: false });
      assert.equal(r.status, 0, `npm install failed:\n${r.output}`);
      t.diagnostic(`npm install gossiper from a local registry: ${r.seconds.toFixed(1)} s`);
      assert.deepEqual(installed(r.app), ['gossiper', packageName(triple)]);
      // npm read every platform's manifest but fetched only the tarball whose os/cpu/libc match.
      for (const x of Object.keys(TARGETS)) assert.ok(registry.requests.includes(`/${packageName(x)}`), `npm asked for ${packageName(x)}`);
      const downloads = registry.requests.filter((u) => u.endsWith('.tgz')).map((u) => path.basename(u)).sort();
      assert.deepEqual(downloads, [`gossiper-${version}.tgz`, path.basename(platformTgz)].sort());
      await runCluster(r.app, userEnv({ rust: false }), path.join('node_modules', packageName(triple), binaryName(triple)));
    } finally {
      await registry.close();
    }
  });

  await t.test('no Rust and no platform package: install and require say how to build, and name no package to install', needsPack(), async () => {
    const env = userEnv({ rust: false });
    const r = await npmInstall('bare-app', ['--offline', '--ignore-scripts', mainTgz], { rust: false });
    assert.equal(r.status, 0, `npm install --ignore-scripts failed:\n${r.output}`);
    const req = await run(process.execPath, ['-e', "require('gossiper')"], { cwd: r.app, env });
    assert.notEqual(req.status, 0);
    const rebuild = await run(process.execPath, [npmCli, 'rebuild', 'gossiper', ...scriptShell, '--foreground-scripts'], {
      cwd: r.app,
      env,
    });
    assert.notEqual(rebuild.status, 0);
    for (const [what, out] of [['require', req.output], ['the install script', rebuild.output]]) {
      assert.match(out, /no native binary for /, `${what}:\n${out}`);
      assert.match(out, /Build the addon from source: install a Rust toolchain/, `${what}:\n${out}`);
      assert.match(out, /release tarball or from git \(docs\/install\.md\)/, `${what}:\n${out}`);
      // no platform package is on the registry: naming one would send people to a 404
      assert.ok(!out.includes(packageName(triple)), `${what} names ${packageName(triple)}:\n${out}`);
    }

    // A platform package of another version installed by hand: now it is named, with what is wrong.
    const stale = path.join(r.app, 'node_modules', packageName(triple));
    fs.mkdirSync(stale);
    assert.equal(spawnSync('tar', ['-xzf', platformTgz, '-C', stale, '--strip-components=1']).status, 0);
    const manifestFile = path.join(stale, 'package.json');
    fs.writeFileSync(manifestFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(manifestFile, 'utf8')), version: '0.9.0' }));
    const staleReq = await run(process.execPath, ['-e', "require('gossiper')"], { cwd: r.app, env });
    assert.notEqual(staleReq.status, 0);
    assert.ok(
      staleReq.output.includes(`The prebuilt package ${packageName(triple)} is installed but unusable (version 0.9.0 installed, ${version} needed)`),
      `require names the stale package:\n${staleReq.output}`,
    );
  });

  await t.test('source: the main tarball alone builds with cargo, runs, and leaves only the .node', needsPack(), async () => {
    const cold = !cargoTarget || !fs.existsSync(path.join(cargoTarget, 'release'));
    const r = await npmInstall('source-app', ['--offline', mainTgz], { rust: true });
    assert.equal(r.status, 0, `npm install failed:\n${r.output}`);
    t.diagnostic(`source npm install (${cold ? 'cold' : 'warm'} ${cargoTarget || 'temporary target folder'}): ${r.seconds.toFixed(1)} s`);
    assert.match(r.output, /building the native addon/);
    // Offline, the optional dependencies can't be fetched: skipped, as a 404 would be.
    assert.deepEqual(installed(r.app), ['gossiper']);
    const pkgDir = path.join(r.app, 'node_modules', 'gossiper');
    assert.equal(fs.existsSync(path.join(pkgDir, 'target')), false, 'no cargo target/ left in the installed package');
    if (!cargoTarget) {
      const temp = /building the native addon \(.*\) in (.+), removed afterwards/.exec(r.output);
      assert.ok(temp, `the install script says where it builds:\n${r.output}`);
      assert.equal(fs.existsSync(temp[1]), false, `${temp[1]} was removed`);
    }
    const bytes = (dir) => fs.readdirSync(dir, { withFileTypes: true })
      .reduce((n, e) => n + (e.isDirectory() ? bytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
    const size = bytes(pkgDir);
    t.diagnostic(`installed package: ${(size / 1e6).toFixed(1)} MB`);
    assert.ok(size < 10e6, `the installed package holds ${(size / 1e6).toFixed(1)} MB`);
    await runCluster(r.app, userEnv({ rust: true }), path.join('node_modules', 'gossiper', binaryName(triple)));
  });
});
