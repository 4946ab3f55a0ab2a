'use strict';
// TypeScript and documentation checks: the strict usage example compiles
// (and its expect-error misuses do not), and every option, method and event
// is declared in index.d.ts and documented in the README.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
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
  assert.ok(misuses.length >= 33, 'the example keeps its misuse lines');
});

// The program of usage.ts as tsconfig.json sets it up, with `edit` applied to
// usage.ts's text in memory.
function usageProgram(edit) {
  const dir = path.join(__dirname, 'types');
  const file = path.join(dir, 'usage.ts');
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(dir, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  });
  const text = edit(fs.readFileSync(file, 'utf8'));
  const host = ts.createCompilerHost(parsed.options);
  const read = host.getSourceFile;
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === file ? ts.createSourceFile(name, text, lang) : read.call(host, name, lang, ...rest);
  return { text, diagnostics: ts.getPreEmitDiagnostics(ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, host })) };
}

test('each misuse is itself a type error, with a message about what is wrong', { timeout: 120000 }, () => {
  // without the expect-error comments, the errors must be on exactly the marked lines:
  // an expect-error would also be satisfied by an error elsewhere on a multi-line statement
  const { text, diagnostics } = usageProgram((t) => t.replace(/\/\/ @ts-expect-error.*/g, (m) => ' '.repeat(m.length)));
  const original = fs.readFileSync(path.join(__dirname, 'types', 'usage.ts'), 'utf8').split('\n');
  const marked = new Set();
  original.forEach((l, i) => l.includes('// @ts-expect-error') && marked.add(i + 1));
  const errors = new Map();
  for (const d of diagnostics) {
    const line = d.file.getLineAndCharacterOfPosition(d.start).line; // the line after the comment, 0-based = comment's 1-based
    errors.set(line, [...(errors.get(line) || []), d]);
  }
  assert.deepEqual([...errors.keys()].filter((l) => !marked.has(l)).map((l) => text.split('\n')[l]), [],
    'errors only on marked lines');
  for (const l of marked) assert.ok(errors.has(l), `line ${l + 1} (${original[l].trim()}) is an error`);
  // a listener of the wrong type names the listener type expected, not "no overload matches"
  for (const l of marked) {
    if (!/\.(on|once|off|prependListener)\(/.test(original[l])) continue;
    for (const d of errors.get(l)) assert.notEqual(d.code, 2769, `line ${l + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  }
});

test('every option, method, property and event of index.d.ts has JSDoc', () => {
  const source = ts.createSourceFile('index.d.ts', dts, ts.ScriptTarget.Latest, true);
  const undocumented = [];
  const check = (owner, member) => {
    if (ts.getJSDocCommentsAndTags(member).length === 0) {
      undocumented.push(`${owner}.${member.name ? member.name.getText(source) : 'constructor'}`);
    }
  };
  const members = {};
  for (const node of source.statements) {
    if ((ts.isInterfaceDeclaration(node) || ts.isClassDeclaration(node)) && node.name) {
      members[node.name.text] = node.members;
      if (ts.isClassDeclaration(node)) check('', node);
      for (const m of node.members) check(node.name.text, m);
    }
  }
  for (const name of ['Gossiper', 'GossiperOptions', 'GossiperEvents', 'StartOptions', 'StopOptions', 'GossiperStats']) {
    assert.ok(members[name] && members[name].length > 0, `index.d.ts declares ${name}`);
  }
  assert.deepEqual(undocumented, []);
});

test('every option is declared in index.d.ts and documented in the README with its default', () => {
  for (const [name, spec] of Object.entries(OPTIONS)) {
    assert.match(dts, new RegExp(`\\n\\s+${name}\\?:`), `index.d.ts declares ${name}`);
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row, `README documents ${name}`);
    // defaults that scale with the round are given as multiples of the interval
    const scales = /× gossipIntervalMs/.test(spec.doc);
    if (typeof spec.default === 'number' && spec.default < 100000 && !scales) {
      assert.ok(row.includes(String(spec.default)) || row.includes('KiB') || row.includes('MiB'), `README gives ${name}'s default: ${row}`);
    }
  }
});

test('every public method is declared and documented', () => {
  const { Gossiper } = require('..');
  const methods = Object.getOwnPropertyNames(Gossiper.prototype).filter((m) => m !== 'constructor' && !m.startsWith('_'));
  for (const m of methods) {
    assert.match(dts, new RegExp(`\\n\\s+${m}[<(]`), `index.d.ts declares ${m}()`);
    assert.ok(readme.includes(`\`${m}(`), `README documents ${m}()`);
  }
  for (const e of ['update', 'new_peer', 'peer_alive', 'peer_failed', 'delete', 'peer_removed']) {
    assert.ok(dts.includes(`'${e}'`), `index.d.ts types the ${e} event`);
    assert.ok(readme.includes(`| \`${e}\` |`), `README documents the ${e} event`);
  }
});
