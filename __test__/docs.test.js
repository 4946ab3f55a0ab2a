'use strict';
// The README and docs/*.md as a new user meets them: every code sample
// works, every option is documented as it is, and every link leads somewhere.
//
// - ```js samples run as programs, each in its own child process in a fresh
//   app folder where `gossiper` is this checkout, and must exit 0 within
//   SAMPLE_TIMEOUT_MS. A sample that starts gossipers must take its ports
//   from 31000-31999 (this suite's range) and stop them itself.
// - ```ts samples are type-checked together with tsc --noEmit --strict.
// - `<!-- fragment -->` before a sample: it is only parsed (code that needs
//   context, like `g` from an earlier sample).
// - `<!-- file: NAME -->`: the sample is saved as NAME (parsed, not run
//   alone), for the shell sample that runs it.
// - `<!-- run: each prints "TEXT" N times; ... -->` before a ```sh sample:
//   each of its `node ...` lines runs as a process, all at once, as a user
//   would in several terminals; each must print TEXT N times, then gets
//   SIGINT (Ctrl-C), the last first, and must exit 0. Other ```sh samples
//   (npm and shell commands) are not run.
// - The README's option table is lib/options.js rendered (names, defaults,
//   doc text; `node scripts/docs-options.js` rewrites it), and index.d.ts
//   declares the same options with the same defaults and the same events.
// Ports 31000-31999.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const ts = require('typescript');
const { OPTIONS } = require('../lib/options');
const { optionTable, readTable, renderDefault } = require('../scripts/docs-options');

const root = path.join(__dirname, '..');
const SAMPLE_TIMEOUT_MS = 30000;
const PORTS = [31000, 31999];
const DOCS = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Every fenced sample of a Markdown file, with the directive comment just before it. */
function samples(file) {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  const out = [];
  let directive = null;
  for (let i = 0; i < lines.length; i++) {
    const comment = /^<!--\s*(.*?)\s*-->$/.exec(lines[i].trim());
    if (comment) { directive = comment[1]; continue; }
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) {
      if (lines[i].trim() !== '') directive = null;
      continue;
    }
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    out.push({ file, line: start, lang: fence[1], code: lines.slice(start, end).join('\n') + '\n', directive });
    directive = null;
    i = end;
  }
  return out;
}

const ALL = DOCS.flatMap(samples);
const where = (s) => `${s.file}:${s.line}`;
const isJs = (s) => ['js', 'javascript', 'mjs', 'cjs'].includes(s.lang);
const isTs = (s) => ['ts', 'typescript'].includes(s.lang);
const fileOf = (s) => (s.directive && /^file:\s*(\S+)$/.exec(s.directive) || [])[1];
const isFragment = (s) => s.directive === 'fragment';

// A fresh app folder whose node_modules holds this checkout as `gossiper`
// and the checkout's own dependencies (typescript, @types/node, prom-client).
function appFolder() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gossiper-docs-'));
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  fs.symlinkSync(root, path.join(modules, 'gossiper'), 'dir');
  for (const entry of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'gossiper') continue;
    fs.symlinkSync(path.join(root, 'node_modules', entry), path.join(modules, entry), 'dir');
  }
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "docs-samples", "private": true }\n');
  return dir;
}

const app = appFolder();
process.on('exit', () => fs.rmSync(app, { recursive: true, force: true }));

const sampleName = (s, ext) => `${s.file.replace(/[/.]/g, '_')}_${s.line}.${ext}`;
const isModule = (code) => /^\s*(import\s|export\s)/m.test(code);

for (const s of ALL.filter((x) => fileOf(x))) fs.writeFileSync(path.join(app, fileOf(s)), s.code);

test('the docs have samples, and every directive is one this suite knows', () => {
  assert.ok(ALL.filter(isJs).length >= 5, 'JavaScript samples found');
  for (const s of ALL.filter((x) => x.directive)) {
    assert.match(s.directive, /^(fragment|file: \S+|run: .*)$/, `${where(s)}: directive "${s.directive}"`);
  }
});

test('every sample parses', () => {
  for (const s of ALL.filter((x) => isJs(x) || isTs(x))) {
    const r = ts.transpileModule(s.code, {
      fileName: isTs(s) ? 'sample.ts' : 'sample.js',
      reportDiagnostics: true,
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, allowJs: true },
    });
    const errors = (r.diagnostics || []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
    assert.deepEqual(errors, [], `${where(s)} does not parse`);
  }
});

const runnable = ALL.filter((s) => isJs(s) && !isFragment(s) && !fileOf(s));

test('samples that open ports take them from 31000-31999', () => {
  const programs = [...runnable, ...ALL.filter((s) => fileOf(s)), ...ALL.filter((s) => s.lang === 'sh' && /^run:/.test(s.directive || ''))];
  for (const s of programs) {
    for (const m of s.code.matchAll(/(?:port:\s*|Gossiper\(|:|node \S+ )(\d{4,5})\b/g)) {
      const port = Number(m[1]);
      assert.ok(port >= PORTS[0] && port <= PORTS[1], `${where(s)}: port ${port} outside ${PORTS.join('-')}`);
    }
  }
});

function run(args, { timeout = SAMPLE_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

for (const s of runnable) {
  test(`${where(s)} runs`, { timeout: SAMPLE_TIMEOUT_MS + 10000 }, async () => {
    const file = sampleName(s, isModule(s.code) ? 'mjs' : 'js');
    fs.writeFileSync(path.join(app, file), s.code);
    const r = await run([file]);
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null },
      `${where(s)} failed:\n--- stdout\n${r.out}\n--- stderr\n${r.err}`);
  });
}

// `<!-- run: each prints "TEXT" N times[; ...] -->` before a shell sample.
for (const s of ALL.filter((x) => x.lang === 'sh' && /^run:/.test(x.directive || ''))) {
  test(`${where(s)}: the processes it starts work together and stop on Ctrl-C`, { timeout: 60000 }, async (t) => {
    const m = /each prints "(.*?)" (\d+) times?/.exec(s.directive);
    assert.ok(m, `${where(s)}: directive says what each process prints`);
    const [, text, times] = m;
    const commands = s.code.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean);
    assert.ok(commands.length > 1 && commands.every((c) => /^node \S+/.test(c)), `${where(s)}: node commands only`);
    const procs = commands.map((c) => {
      const child = spawn(process.execPath, c.split(/\s+/).slice(1), { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
      const p = { command: c, child, out: '', err: '' };
      child.stdout.on('data', (d) => { p.out += d; });
      child.stderr.on('data', (d) => { p.err += d; });
      p.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
      return p;
    });
    t.after(() => { for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL'); });
    const count = (p) => p.out.split(text).length - 1;
    const deadline = Date.now() + 30000;
    while (procs.some((p) => count(p) < Number(times)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const p of procs) {
      assert.ok(count(p) >= Number(times), `"${p.command}" printed "${text}" ${count(p)} times, not ${times}:\n${p.out}${p.err}`);
    }
    // Ctrl-C, the last one first, as a user closing the terminals would
    for (const p of [...procs].reverse()) {
      p.child.kill('SIGINT');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
      const exit = await p.exited;
      clearTimeout(timer);
      assert.deepEqual(exit, { code: 0, signal: null }, `"${p.command}" after Ctrl-C:\n${p.out}${p.err}`);
    }
  });
}

test('the TypeScript samples type-check (tsc --noEmit --strict)', { timeout: 120000 }, () => {
  const tsSamples = ALL.filter((s) => isTs(s) && !isFragment(s));
  assert.ok(tsSamples.length > 0, 'TypeScript samples found');
  const files = tsSamples.map((s) => {
    const name = sampleName(s, 'ts');
    fs.writeFileSync(path.join(app, name), `${s.code}\nexport {};\n`);
    return name;
  });
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node',
      types: ['node'], lib: ['ES2022', 'esnext.disposable'], skipLibCheck: false },
    files,
  }));
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', app, '--pretty', 'false'], { cwd: app, encoding: 'utf8' });
  const byFile = new Map(tsSamples.map((s) => [sampleName(s, 'ts'), s]));
  const report = `${r.stdout}${r.stderr}`.replace(/^(\S+\.ts)\((\d+),/gm, (all, f, l) =>
    (byFile.has(f) ? `${byFile.get(f).file}:${byFile.get(f).line + Number(l) - 1} (` : all));
  assert.equal(r.status, 0, `tsc:\n${report}`);
});

// ------------------------------------------------------------------ options

const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8');
const dtsSource = ts.createSourceFile('index.d.ts', dts, ts.ScriptTarget.Latest, true);

/** The members of an interface of index.d.ts: name -> JSDoc text. */
function dtsMembers(name) {
  const node = dtsSource.statements.find((n) => ts.isInterfaceDeclaration(n) && n.name.text === name);
  assert.ok(node, `index.d.ts declares ${name}`);
  return new Map(node.members.map((m) => [m.name.getText(dtsSource),
    ts.getJSDocCommentsAndTags(m).map((d) => (typeof d.comment === 'string' ? d.comment : '')).join(' ')]));
}

test('the README option table is lib/options.js, every row as `| `name` | default | doc |`', () => {
  const table = readTable(readme);
  assert.ok(table, 'README has <!-- options --> ... <!-- /options -->');
  assert.equal(table, optionTable(), 'the README table differs from lib/options.js: run `node scripts/docs-options.js`');
  const rows = table.split('\n').filter((l) => /^\| `\w+` \|/.test(l));
  assert.deepEqual(rows.map((l) => /^\| `(\w+)` \|/.exec(l)[1]), Object.keys(OPTIONS));
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const row = rows.find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row.endsWith(` | ${spec.doc.replace(/\|/g, '\\|')} |`), `${name}: the doc text of lib/options.js`);
  }
});

// "Default 4 MiB", "Default `'normal'`", "Default 86 400 000 (24 h)": what
// follows "Default", as one comparable token (sizes in bytes).
function normalDefault(text) {
  let t = text.replace(/\([^)]*\)/g, '').replace(/[`'"\s]/g, '');
  t = t.replace(/^(\d+(?:\.\d+)?)(KiB|MiB)$/, (all, n, u) => String(Number(n) * (u === 'KiB' ? 1024 : 1024 * 1024)));
  return t;
}

test('index.d.ts declares every option with the default lib/options.js gives it', () => {
  const declared = dtsMembers('GossiperOptions');
  const constructorOnly = ['port', 'seeds', 'address', 'profile'];
  assert.deepEqual([...declared.keys()].filter((k) => !constructorOnly.includes(k)).sort(), Object.keys(OPTIONS).sort(),
    'GossiperOptions and lib/options.js name the same options');
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const doc = declared.get(name);
    const m = /Default (.+?)(?:[.;:,](?!\d)|$)/.exec(doc.replace(/\s*\([^)]*\)/g, ''));
    assert.ok(m, `index.d.ts: ${name}'s JSDoc gives its default: ${doc}`);
    assert.equal(normalDefault(m[1]), normalDefault(renderDefault(name, spec)), `${name}: index.d.ts says "Default ${m[1]}"`);
  }
});

test('the README lists the events index.d.ts types, peer_left among them', () => {
  const events = [...dtsMembers('GossiperEvents').keys()];
  assert.ok(events.includes('peer_left'));
  const section = readme.slice(readme.indexOf('### Events'), readme.indexOf('### Values'));
  const listed = [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(listed.sort(), events.sort());
});

test('every relative link of the docs leads to a file', () => {
  for (const file of [...DOCS, 'bench/README.md', 'CHANGELOG.md']) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split('#')[0];
      if (!target || /^[a-z]+:/.test(target)) continue;
      assert.ok(fs.existsSync(path.join(root, path.dirname(file), target)), `${file}: link to ${m[1]}`);
    }
  }
});
