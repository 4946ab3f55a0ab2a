'use strict';
// Package hygiene on the packed tarball (what `npm pack` ships): publint
// --strict and Are the Types Wrong find nothing, and an ES module importing
// the package by name type-checks against the import condition's types.
//
//   node --test __test__/package.test.js

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-package-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A dev dependency's command, run with this node. */
function bin(pkg, name, args) {
  const dir = path.join(root, 'node_modules', ...pkg.split('/'));
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const script = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin[name];
  return spawnSync(process.execPath, [path.join(dir, script), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
}

let tarball;
function packed() {
  if (!tarball) {
    const r = spawnSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' });
    assert.equal(r.status, 0, `npm pack failed:\n${r.stderr}`);
    tarball = path.join(tmp, JSON.parse(r.stdout)[0].filename);
  }
  return tarball;
}

test('publint --strict finds nothing in the packed tarball', () => {
  const r = bin('publint', 'publint', ['--strict', packed()]);
  assert.equal(r.status, 0, `publint:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /All good!/);
});

test('Are the Types Wrong finds nothing in the packed tarball', () => {
  const r = bin('@arethetypeswrong/cli', 'attw', ['--format', 'ascii', packed()]);
  assert.equal(r.status, 0, `attw:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /node16 \(from ESM\): 🟢 \(ESM\)/);
  assert.match(r.stdout, /node16 \(from CJS\): 🟢 \(CJS\)/);
});

test('an ES module importing gossiper by name type-checks (tsc, node16 resolution)', { timeout: 120000 }, () => {
  const r = bin('typescript', 'tsc', ['-p', path.join(__dirname, 'types', 'esm', 'tsconfig.json'), '--pretty', 'false']);
  assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
});
