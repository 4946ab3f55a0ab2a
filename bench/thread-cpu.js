'use strict';
// CPU time per thread group of this process, from /proc/self/task: the main
// JavaScript thread, the gossiper runtime threads, and everything else (V8's
// GC and compiler threads, libuv's pool). Linux only; elsewhere empty.

const fs = require('fs');

const round1 = (x) => Math.round(x * 10) / 10;

// CPU ticks per thread of this process, by thread name (/proc/self/task).
function threadTicks() {
  const out = new Map();
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        const st = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const close = st.lastIndexOf(')');
        const name = st.slice(st.indexOf('(') + 1, close);
        const f = st.slice(close + 2).split(' ');
        out.set(tid, { name, ticks: Number(f[11]) + Number(f[12]) });
      } catch (e) { /* thread gone */ }
    }
  } catch (e) { /* no /proc */ }
  return out;
}

// % of one core per thread group over the window: main JS thread, the
// gossiper runtime threads, and everything else (V8 GC/compiler, libuv).
function threadCpu(a, b, wallMs) {
  const hz = 100; // USER_HZ on Linux
  const groups = {};
  for (const [tid, t] of b) {
    const before = a.get(tid);
    const d = t.ticks - (before && before.name === t.name ? before.ticks : 0);
    const g = tid === String(process.pid) ? 'js main' : /^gossiper/.test(t.name) ? 'gossiper runtime' : 'other';
    groups[g] = (groups[g] || 0) + d;
  }
  for (const k of Object.keys(groups)) groups[k] = round1((groups[k] / hz) * 1000 / wallMs * 100);
  return groups;
}

module.exports = { threadTicks, threadCpu };
