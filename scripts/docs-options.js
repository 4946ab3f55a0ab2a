#!/usr/bin/env node
'use strict';
// The README's option table, rendered from lib/options.js, the one place
// options are defined: one row `| \`name\` | default | doc |` per option, in
// the table's order. `node scripts/docs-options.js` rewrites the table in
// README.md (between `<!-- options -->` and `<!-- /options -->`) after an
// option changes; __test__/docs.test.js fails while the two disagree.

const fs = require('fs');
const path = require('path');
const { OPTIONS } = require('../lib/options');

const README = path.join(__dirname, '..', 'README.md');
const KiB = 1024;
const MiB = 1024 * KiB;
const INTERVAL = 'gossipIntervalMs';

/** A default as the table shows it: sizes in KiB/MiB, derived defaults as a multiple of the interval. */
function renderDefault(name, spec) {
  const value = spec.default;
  // a default the core derives from the interval: the same multiple of any interval
  if (spec.perInterval !== undefined) return `${spec.perInterval} × \`${INTERVAL}\``;
  if (typeof value === 'number') {
    if (/Bytes$/.test(name) && value >= KiB) {
      if (value % MiB === 0) return `${value / MiB} MiB`;
      if (value % KiB === 0) return `${value / KiB} KiB`;
    }
    if (/Ms$/.test(name) && value >= 3600000 && value % 3600000 === 0) return `${value} (${value / 3600000} h)`;
    return String(value);
  }
  if (typeof value === 'string') return `\`'${value}'\``;
  return `\`${JSON.stringify(value)}\``;
}

/** The table's rows, one per option, as the README holds them. */
function optionRows() {
  return Object.entries(OPTIONS).map(([name, spec]) =>
    `| \`${name}\` | ${renderDefault(name, spec)} | ${spec.doc.replace(/\|/g, '\\|')} |`);
}

function optionTable() {
  return ['| option | default | what it does |', '|---|---|---|', ...optionRows()].join('\n');
}

const OPEN = '<!-- options -->';
const CLOSE = '<!-- /options -->';

/** The table between the markers of `text`, or null. */
function readTable(text) {
  const a = text.indexOf(OPEN);
  const b = text.indexOf(CLOSE);
  return a < 0 || b < a ? null : text.slice(a + OPEN.length, b).trim();
}

function writeTable(file = README) {
  const text = fs.readFileSync(file, 'utf8');
  const a = text.indexOf(OPEN);
  const b = text.indexOf(CLOSE);
  if (a < 0 || b < a) throw new Error(`${file} has no ${OPEN} ... ${CLOSE}`);
  fs.writeFileSync(file, `${text.slice(0, a + OPEN.length)}\n${optionTable()}\n${text.slice(b)}`);
}

if (require.main === module) {
  writeTable();
  console.log(`README.md: option table rewritten (${Object.keys(OPTIONS).length} options)`);
}

module.exports = { renderDefault, optionRows, optionTable, readTable, writeTable };
