'use strict';
// TypeScript and documentation checks: the strict usage example compiles
// (and its expect-error misuses do not), and every option, method and event
// is declared in index.d.ts and documented in the README.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { OPTIONS } = require('..');

const root = path.join(__dirname, '..');
const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

test('tsc --strict accepts the usage example and rejects each misuse', { timeout: 120000 }, () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json'), '--pretty', 'false'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  const misuses = fs.readFileSync(path.join(__dirname, 'types', 'usage.ts'), 'utf8').match(/@ts-expect-error/g);
  assert.ok(misuses.length >= 8, 'the example keeps its misuse lines');
});

test('every option is declared in index.d.ts and documented in the README with its default', () => {
  for (const [name, spec] of Object.entries(OPTIONS)) {
    assert.match(dts, new RegExp(`\\n\\s+${name}\\?:`), `index.d.ts declares ${name}`);
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row, `README documents ${name}`);
    if (typeof spec.default === 'number' && spec.default < 100000) {
      assert.ok(row.includes(String(spec.default)) || row.includes('KiB') || row.includes('MiB'), `README gives ${name}'s default: ${row}`);
    }
  }
});

test('every public method is declared and documented', () => {
  const { Gossiper } = require('..');
  const methods = Object.getOwnPropertyNames(Gossiper.prototype).filter((m) => m !== 'constructor' && !m.startsWith('_'));
  for (const m of methods) {
    assert.match(dts, new RegExp(`\\n\\s+${m}\\(`), `index.d.ts declares ${m}()`);
    assert.ok(readme.includes(`\`${m}(`), `README documents ${m}()`);
  }
  for (const e of ['update', 'new_peer', 'peer_alive', 'peer_failed', 'delete', 'peer_removed']) {
    assert.ok(dts.includes(`'${e}'`), `index.d.ts types the ${e} event`);
    assert.ok(readme.includes(`| \`${e}\` |`), `README documents the ${e} event`);
  }
});
