'use strict';
// The machine's load, for benchmarks that must run on a quiet machine
// (bench/run.js, bench/processes.js): CPU of the whole machine from
// /proc/stat, and a wait until other processes leave it quiet.

const fs = require('fs');
const os = require('os');

// Busy and total jiffies of the whole machine (all cores), or null.
function systemCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch (e) {
    return null;
  }
}

// % of one core the machine used between two systemCpu() samples, or null.
function machinePct(a, b) {
  if (!a || !b || b.total <= a.total) return null;
  return Math.round(((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length * 1000) / 10;
}

// % of one core used by the whole machine over `ms` (the caller is idle meanwhile).
async function machineBusy(ms) {
  const a = systemCpu();
  await new Promise((ok) => setTimeout(ok, ms));
  return machinePct(a, systemCpu());
}

// Samples 3 s; while the machine is busier than `quietPct` % of one core,
// samples again, for up to `waitS` seconds (0: once, no wait). `stop()`
// ends the wait early (an interrupt); `log` gets what it waits for.
async function waitQuiet({ waitS, quietPct, stop = () => false, log = () => {} }) {
  const t0 = Date.now();
  let busy = await machineBusy(3000);
  if (waitS <= 0 || busy === null) return { busyPct: busy, waitedS: 0, quiet: busy !== null && busy < quietPct };
  let said = false;
  while (busy >= quietPct && !stop() && Date.now() - t0 < waitS * 1000) {
    if (!said) { log(`other processes use ${busy}% of one core; waiting up to ${waitS} s for < ${quietPct}%`); said = true; }
    busy = await machineBusy(3000);
  }
  const quiet = busy < quietPct;
  if (said) log(`${quiet ? 'quiet' : 'still busy'} (${busy}%) after ${Math.round((Date.now() - t0) / 1000)} s`);
  return { busyPct: busy, waitedS: Math.round((Date.now() - t0) / 1000), quiet };
}

module.exports = { systemCpu, machinePct, machineBusy, waitQuiet };
