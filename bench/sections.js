'use strict';
// Where a benchmark leaves its results. The latest figures of each benchmark
// live in bench/README.md between `<!-- results:NAME -->` and
// `<!-- /results:NAME -->`, rewritten by the benchmark itself, so the page a
// reader opens always shows the last run and git's history of that page is
// the history of the figures. The full output (JSON, long reports) goes to
// bench/out/, which git ignores.
//
// A run replaces the README's figures only when it measured what the README
// describes: every option it was given is one the benchmark calls neutral
// (output paths, ports, waits). `--readme` forces the update, `--no-readme`
// prevents it.

const fs = require('fs');
const path = require('path');

const BENCH_README = path.join(__dirname, 'README.md');
const MAIN_README = path.join(__dirname, '..', 'README.md');
const OUT = path.join(__dirname, 'out');

function markers(name) {
  return [`<!-- results:${name} -->`, `<!-- /results:${name} -->`];
}

/** `text` with the body of section `name` replaced; throws if the markers are missing. */
function replaceSection(text, name, body) {
  const [open, close] = markers(name);
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start < 0 || end < start) throw new Error(`no section ${open} ... ${close}`);
  return `${text.slice(0, start + open.length)}\n${body.trim()}\n${text.slice(end)}`;
}

/** The body of section `name` in `text`, or null. */
function readSection(text, name) {
  const [open, close] = markers(name);
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  return start < 0 || end < start ? null : text.slice(start + open.length, end).trim();
}

/** Rewrites section `name` of `file` (bench/README.md by default). */
function writeSection(name, body, file = BENCH_README) {
  fs.writeFileSync(file, replaceSection(fs.readFileSync(file, 'utf8'), name, body));
  console.error(`bench: ${path.relative(process.cwd(), file)}: section ${name} updated`);
}

/** `2026-11-26_09-58-32` for a Date. */
function stamp(date) {
  return date.toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

/** bench/out/KIND-STAMP.EXT, the folder made if need be. */
function outFile(kind, date, ext) {
  fs.mkdirSync(OUT, { recursive: true });
  return path.join(OUT, `${kind}-${stamp(date)}.${ext}`);
}

/**
 * Takes `--readme` / `--no-readme` out of `argv`. `readme` is then true
 * when forced, false when refused, and otherwise whether every `--option`
 * left in argv is one of `neutral`.
 */
function readmeChoice(argv, neutral) {
  const rest = argv.filter((a) => a !== '--readme' && a !== '--no-readme');
  let readme;
  if (argv.includes('--no-readme')) readme = false;
  else if (argv.includes('--readme')) readme = true;
  else readme = rest.filter((a) => a.startsWith('--')).every((a) => neutral.includes(a));
  return { argv: rest, readme };
}

/** The date part of an ISO time: `2026-11-26`. */
function day(iso) {
  return String(iso).slice(0, 10);
}

module.exports = { BENCH_README, MAIN_README, OUT, replaceSection, readSection, writeSection, outFile, stamp, readmeChoice, day };
