'use strict';
// Small helpers shared by the JavaScript test suites. Nothing here knows about
// gossip beyond `stopAll`; keep it that way.
//
//   const { waitFor, once, PortRange, canConnect, stopAll, runNode, JsonLinesChild,
//     gc, sendSignal } = require('./support/util');
//
// Ports: this machine's ephemeral range (32768-60999) is full of TIME_WAIT
// sockets left by gossip exchanges, so every suite takes fixed ports from its
// own range below 32768 (api 22000-22499, values 22500-22999,
// cluster 23000-23499, workers 26000-26499) through a PortRange, or port 0 when it does not care.

const net = require('net');
const { spawn } = require('child_process');
const readline = require('readline');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A full, synchronous garbage collection. Bun runs JavaScriptCore: there is
 * no V8 `gc` to expose, and `Bun.gc(true)` is its equivalent. Node and Deno
 * run V8, whose `gc` exists once --expose-gc is set, in contexts made after.
 */
let v8gc;
function gc() {
  if (globalThis.Bun) return globalThis.Bun.gc(true);
  if (!v8gc) {
    require('v8').setFlagsFromString('--expose-gc');
    v8gc = require('vm').runInNewContext('gc');
  }
  return v8gc();
}

/**
 * Sends `signal` to a child of child_process, as `child.kill(signal)` would,
 * through `process.kill(pid)`: Deno's `child.kill()` records the signal it
 * sent as the child's `signalCode`, and its 'exit' then reports `(null,
 * signal)` even when the child caught the signal and exited 0 itself. Sent
 * this way, 'exit' reports how the child really ended on every runtime.
 * Does nothing once the child has exited.
 */
function sendSignal(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch (e) {
    if (e.code !== 'ESRCH') throw e; // it exited; 'exit' is on its way
  }
}

/**
 * Polls `cond` (sync or async) every `interval` ms until it returns a truthy
 * value, which is resolved. Rejects after `timeout` ms with `message` (a
 * string or a function returning one, called at the deadline so it can
 * describe the state at that moment).
 */
async function waitFor(cond, timeout = 10000, { interval = 10, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() >= deadline) {
      const what = typeof message === 'function' ? message() : message;
      throw new Error(`waitFor: timed out after ${timeout} ms waiting for ${what}`);
    }
    await sleep(interval);
  }
}

/**
 * Resolves with the argument array of the next `event` on `emitter` whose
 * arguments satisfy `filter(...args)`; rejects after `timeout` ms.
 */
function once(emitter, event, { filter = () => true, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new Error(`once: no '${event}' event within ${timeout} ms`));
    }, timeout);
    emitter.on(event, onEvent);
  });
}

/** Whether something accepts TCP connections on host:port. */
function canConnect(port, host = '127.0.0.1', timeout = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeout, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Whether `port` can be listened on at `host` right now. */
function isFree(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Hands out ports of [from, to] that are free at the time of the call, each
 * at most once per process (so two tests of a file never share one).
 */
class PortRange {
  constructor(from, to) {
    this.next = from;
    this.to = to;
  }

  async take() {
    while (this.next <= this.to) {
      const port = this.next++;
      if ((await isFree(port, '127.0.0.1')) && (await isFree(port, '0.0.0.0'))) return port;
    }
    throw new Error(`PortRange: no free port left up to ${this.to}`);
  }
}

/**
 * Stops every gossiper given (started or not), ignoring errors, so it can be
 * used in t.after() / finally blocks. Resolves when all are stopped.
 */
async function stopAll(...gossipers) {
  await Promise.all(gossipers.flat().filter(Boolean).map((g) => g.stop().catch(() => {})));
}

/**
 * Runs `node <args>` and resolves with { code, signal, stdout, stderr, ms }
 * once it exits; kills it (SIGKILL) and resolves with `timedOut: true` after
 * `timeout` ms.
 */
function runNode(args, { timeout = 10000, cwd, env } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { cwd, env: env || process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut }));
    });
  });
}

/**
 * A child `node script ...args` speaking JSON lines: `send(obj)` writes one
 * line to its stdin; every stdout line that parses as JSON is appended to
 * `lines` (with `at`, the local receive time in ms) and can be awaited with
 * `waitLine(pred)`. Other output is kept in `stderr` / `junk` for diagnosis.
 */
class JsonLinesChild {
  constructor(script, args = [], { env } = {}) {
    this.lines = [];
    this.stderr = '';
    this.junk = [];
    this.exited = null; // { code, signal } once exited
    this._waiters = new Set();
    this.child = spawn(process.execPath, [script, ...args], {
      env: env || process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    this.child.stdin.on('error', () => {}); // writes after exit
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    readline.createInterface({ input: this.child.stdout }).on('line', (text) => {
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        this.junk.push(text);
        return;
      }
      msg.at = Date.now();
      this.lines.push(msg);
      for (const w of this._waiters) w();
    });
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        for (const w of this._waiters) w();
        resolve(this.exited);
      });
    });
  }

  send(obj) {
    if (!this.exited) this.child.stdin.write(`${JSON.stringify(obj)}\n`);
  }

  /** Resolves with the first line (from index `from`) satisfying `pred`. */
  waitLine(pred, timeout = 10000, from = 0) {
    return new Promise((resolve, reject) => {
      let i = from;
      const check = () => {
        for (; i < this.lines.length; i++) {
          if (pred(this.lines[i])) {
            finish();
            resolve(this.lines[i]);
            return;
          }
        }
        if (this.exited) {
          finish();
          reject(new Error(`child ${this.pid} exited (${JSON.stringify(this.exited)}) first; stderr: ${this.stderr}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this._waiters.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`child ${this.pid}: no matching line within ${timeout} ms; stderr: ${this.stderr}`));
      }, timeout);
      this._waiters.add(check);
      check();
    });
  }

  /** Sends `signal` (if still running) and resolves with how it exited. */
  kill(signal = 'SIGKILL') {
    if (!this.exited) sendSignal(this.child, signal);
    return this.exitPromise;
  }
}

module.exports = {
  sleep,
  waitFor,
  once,
  canConnect,
  isFree,
  PortRange,
  stopAll,
  runNode,
  JsonLinesChild,
  gc,
  sendSignal,
};
