#!/usr/bin/env node
'use strict';
// The transport floor's runner: builds and runs bench/tcp_floor.rs (what
// node-gossip's wire pattern alone costs this machine, see its header),
// then keeps its table in bench/out/floor-<stamp>.md and, for the standard
// rows, in bench/README.md.
//
//   npm run bench:floor               # = node bench/floor.js: the standard rows
//   node bench/floor.js -- --rate 236 --together 2 [--reuse] [--seconds S] [--sizes A,B,C]
//                                     # one row, passed to tcp_floor as is
//   node bench/floor.js --render FILE # run nothing: bench/README.md's section from a saved report
//
// The README's figures are replaced only by the standard rows (no arguments
// for tcp_floor); --readme forces it, --no-readme prevents it.

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sections = require('./sections');

const ROOT = path.join(__dirname, '..');

function gitRev() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function main(argv) {
  const choice = sections.readmeChoice(argv, ['--render']);
  const args = choice.argv;
  if (args[0] === '--render') {
    if (!args[1]) usage('--render needs a file');
    sections.writeSection('floor', fs.readFileSync(args[1], 'utf8').replace(/^# .*\n+/, ''));
    return;
  }
  if (args.length && args[0] !== '--') usage(`unknown option ${args[0]} (tcp_floor's options go after --)`);
  const floorArgs = args.slice(1);
  const date = new Date();
  const run = spawnSync('cargo', ['run', '--release', '--quiet', '--example', 'tcp_floor', '--', ...floorArgs], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (run.status !== 0) {
    console.error(`bench:floor: tcp_floor exited ${run.status}`);
    process.exit(1);
  }
  const cpus = os.cpus();
  const body = `${date.toISOString()} · git ${gitRev()} · ${cpus.length ? cpus[0].model : 'unknown CPU'}, ${cpus.length} cores · ` +
    `\`npm run bench:floor${floorArgs.length ? ` -- -- ${floorArgs.join(' ')}` : ''}\`\n\n${run.stdout.trim()}`;
  const file = sections.outFile('floor', date, 'md');
  fs.writeFileSync(file, `# Transport floor (bench/tcp_floor.rs)\n\n${body}\n`);
  console.log(body);
  console.error(`\nbench:floor: results in ${path.relative(process.cwd(), file)}`);
  const standard = floorArgs.length === 0;
  if (argv.includes('--readme') || (choice.readme && standard)) sections.writeSection('floor', body);
  else console.error('bench:floor: bench/README.md not updated (not the standard rows; --readme forces it)');
}

function usage(message) {
  console.error(`bench:floor: ${message}`);
  console.error(fs.readFileSync(__filename, 'utf8').split('\n').slice(7, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(2);
}

main(process.argv.slice(2));
