#!/usr/bin/env node
'use strict';
// Helper processes for the network test harness (__test__/net/harness.js).
//
//   node host-agent.js peer [--port 7000] [--spawn-orphan]
//       Runs inside a host namespace. TCP echo server + UDP sink on --port,
//       plus a JSON-lines command interface on stdin (probe other hosts).
//   node host-agent.js relay --net ID --host I --a /dev/tapX --b /dev/tapY
//       Runs in the root namespace. Userspace "wire" between two macvtap
//       devices that adds delay / jitter / loss (used when the kernel has no
//       sch_netem). Parameters are set over stdin.
//   node host-agent.js reaper --state FILE
//       Started by the harness with a pipe on stdin. If the harness dies
//       without saying "done" (even SIGKILL), it removes the network.
//   node host-agent.js fixture [--hosts N] [--netem]
//       A harness-using process for the selftest's kill/crash tests; crashes
//       on {"op":"throw"} / {"op":"reject"} sent to its stdin.
//
// Every message on stdout is one JSON object per line.

const fs = require('node:fs');
const net = require('node:net');
const dgram = require('node:dgram');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) out[key] = true;
      else { out[key] = next; i++; }
    } else out._.push(a);
  }
  return out;
}

// Calls handler(msg) for every JSON line on stdin; onEnd() on EOF.
function onStdinLines(handler, onEnd) {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      let msg;
      try { msg = JSON.parse(line); } catch { emit({ type: 'error', error: 'bad json on stdin', line }); continue; }
      Promise.resolve().then(() => handler(msg)).catch((err) => {
        emit({ type: 'error', id: msg && msg.id, error: String(err && err.stack || err) });
      });
    }
  });
  process.stdin.on('end', () => onEnd && onEnd());
  process.stdin.on('error', () => onEnd && onEnd());
}

// ---------------------------------------------------------------- peer ----

function peer(args) {
  const port = Number(args.port || 7000);
  const host = args.bind || '0.0.0.0';
  let udpReceived = 0;
  let tcpConnections = 0;

  const server = net.createServer((sock) => {
    tcpConnections++;
    sock.on('error', () => {});
    sock.on('data', (d) => sock.write(d));
  });
  const udp = dgram.createSocket('udp4');
  udp.on('message', () => { udpReceived++; });
  udp.on('error', (err) => emit({ type: 'error', error: 'udp: ' + err.message }));

  let pending = 2;
  const ready = () => { if (--pending === 0) emit({ type: 'listening', port, pid: process.pid }); };
  server.on('error', (err) => { emit({ type: 'error', error: 'tcp: ' + err.message }); process.exit(1); });
  server.listen(port, host, ready);
  udp.bind(port, host, ready);

  if (args['spawn-orphan']) {
    // A grandchild in its own session: escapes the process group, so only
    // the harness's "kill everything in the namespace" sweep can get it.
    const orphan = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], {
      detached: true, stdio: 'ignore',
    });
    orphan.unref();
    emit({ type: 'orphan', pid: orphan.pid });
  }

  onStdinLines(async (msg) => {
    switch (msg.op) {
      case 'probe': emit({ type: 'probe', id: msg.id, ...(await probe(msg)) }); break;
      case 'udp-burst': emit({ type: 'udp-burst', id: msg.id, ...(await udpBurst(msg)) }); break;
      case 'stats': emit({ type: 'stats', id: msg.id, udpReceived, tcpConnections }); break;
      case 'reset': udpReceived = 0; tcpConnections = 0; emit({ type: 'reset', id: msg.id }); break;
      case 'exit': process.exit(msg.code || 0); break;
      default: emit({ type: 'error', id: msg.id, error: 'unknown op ' + msg.op });
    }
  }, () => process.exit(0));
}

// TCP connect + one echo round trip. Times in milliseconds.
function probe({ host, port = 7000, timeoutMs = 2000 }) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let tConnect = null;
    let done = false;
    const finish = (res) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(res);
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout', elapsedMs: performance.now() - t0 }), timeoutMs);
    const sock = net.connect({ host, port });
    sock.on('connect', () => {
      tConnect = performance.now();
      sock.write('ping\n');
    });
    sock.on('data', () => {
      const t = performance.now();
      finish({ ok: true, connectMs: tConnect - t0, echoMs: t - tConnect, totalMs: t - t0 });
    });
    sock.on('error', (err) => finish({ ok: false, error: err.code || err.message, elapsedMs: performance.now() - t0 }));
  });
}

function udpBurst({ host, port = 7000, count = 100, size = 64, gapEvery = 50, gapMs = 2 }) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const payload = Buffer.alloc(size, 0x61);
    let sent = 0;
    let errors = 0;
    sock.on('error', () => { errors++; });
    const sendSome = () => {
      const end = Math.min(count, sent + gapEvery);
      let outstanding = end - sent;
      for (; sent < end;) {
        sent++;
        sock.send(payload, port, host, (err) => {
          if (err) errors++;
          if (--outstanding === 0) {
            if (sent < count) setTimeout(sendSome, gapMs);
            else { sock.close(); resolve({ sent, errors }); }
          }
        });
      }
    };
    sendSome();
  });
}

// --------------------------------------------------------------- relay ----

// Frames read from a macvtap device carry a 10-byte virtio_net_hdr (the
// device's default mode); we forward header + frame verbatim, so checksum
// offload and GSO metadata survive the trip.
function relay(args) {
  const params = { delayMs: 0, jitterMs: 0, lossPercent: 0 };
  const stats = { ab: { rx: 0, tx: 0, dropped: 0, writeErrors: 0 }, ba: { rx: 0, tx: 0, dropped: 0, writeErrors: 0 } };
  const fdA = fs.openSync(args.a, 'r+');
  const fdB = fs.openSync(args.b, 'r+');

  function direction(inFd, outFd, st) {
    const buf = Buffer.alloc(256 * 1024);
    // Min-heap of {due, seq, frame}: every frame gets its own delay, so with
    // jitter frames can overtake each other, as with kernel netem.
    const heap = [];
    let seq = 0;
    let timer = null;
    let timerDue = Infinity;
    let lastDue = 0;
    const less = (a, b) => a.due < b.due || (a.due === b.due && a.seq < b.seq);
    const push = (item) => {
      heap.push(item);
      for (let i = heap.length - 1; i > 0;) {
        const parent = (i - 1) >> 1;
        if (!less(heap[i], heap[parent])) break;
        [heap[i], heap[parent]] = [heap[parent], heap[i]];
        i = parent;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l], heap[m])) m = l;
          if (r < heap.length && less(heap[r], heap[m])) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
      return top;
    };
    const write = (frame) => {
      try { fs.writeSync(outFd, frame); st.tx++; } catch { st.writeErrors++; }
    };
    const flush = () => {
      timer = null;
      timerDue = Infinity;
      const now = performance.now();
      while (heap.length && heap[0].due <= now) write(pop().frame);
      schedule();
    };
    const schedule = () => {
      if (!heap.length) return;
      const due = heap[0].due;
      if (timer && timerDue <= due) return;
      if (timer) clearTimeout(timer);
      timerDue = due;
      timer = setTimeout(flush, Math.max(0, Math.ceil(due - performance.now())));
    };
    const onFrame = (frame) => {
      st.rx++;
      if (params.lossPercent > 0 && Math.random() * 100 < params.lossPercent) { st.dropped++; return; }
      let delay = params.delayMs;
      if (params.jitterMs > 0) delay += (Math.random() * 2 - 1) * params.jitterMs;
      if (delay <= 0) { write(frame); return; }
      const due = performance.now() + delay;
      if (due > lastDue) lastDue = due;
      push({ due, seq: seq++, frame: Buffer.from(frame) });
      schedule();
    };
    const readLoop = () => {
      fs.read(inFd, buf, 0, buf.length, null, (err, n) => {
        if (err) {
          emit({ type: 'error', error: 'read: ' + err.message });
          setTimeout(readLoop, 50);
          return;
        }
        if (n > 0) onFrame(buf.subarray(0, n));
        readLoop();
      });
    };
    readLoop();
    return { lastDue: () => lastDue };
  }

  const dirs = [direction(fdA, fdB, stats.ab), direction(fdB, fdA, stats.ba)];

  // A blocking read() on a tap fd sits in libuv's threadpool and makes
  // process.exit() hang joining it, so leave with SIGKILL instead.
  const die = () => process.kill(process.pid, 'SIGKILL');
  process.on('SIGTERM', die);
  process.on('SIGINT', die);
  process.on('uncaughtException', (err) => { process.stderr.write(String(err && err.stack || err) + '\n'); die(); });

  onStdinLines((msg) => {
    if (msg.op === 'set') {
      params.delayMs = Number(msg.delayMs) || 0;
      params.jitterMs = Number(msg.jitterMs) || 0;
      params.lossPercent = Number(msg.lossPercent) || 0;
      // Answer once the frames queued under the old settings have left, so
      // the caller knows the new settings are fully in effect.
      const drainMs = Math.max(...dirs.map((d) => d.lastDue())) - performance.now();
      setTimeout(() => emit({ type: 'set', id: msg.id, ...params }), Math.max(0, Math.ceil(drainMs)));
    } else if (msg.op === 'stats') {
      emit({ type: 'stats', id: msg.id, params, stats });
    } else {
      emit({ type: 'error', id: msg.id, error: 'unknown op ' + msg.op });
    }
  }, die); // harness gone (EOF on stdin) -> go away too
  emit({ type: 'ready', pid: process.pid, net: args.net, host: Number(args.host) });
}

// -------------------------------------------------------------- reaper ----

function reaper(args) {
  const harness = require('./harness.js');
  const stateFile = args.state;
  let finished = false;
  // We are in our own session; ignore terminal signals, only EOF matters.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    if (buf.includes('done')) { finished = true; process.exit(0); }
  });
  const onEof = () => {
    if (finished) return;
    finished = true;
    const tick = () => {
      let state = null;
      try { state = JSON.parse(fs.readFileSync(stateFile, 'utf8')); } catch { process.exit(0); }
      if (harness._isOwnerAlive(state)) { setTimeout(tick, 250); return; }
      harness._cleanupState(state, stateFile);
      process.exit(0);
    };
    tick();
  };
  process.stdin.on('end', onEof);
  process.stdin.on('error', onEof);
}

// ------------------------------------------------------------- fixture ----

async function fixture(args) {
  const harness = require('./harness.js');
  const n = Number(args.hosts || 2);
  const net = await harness.createNetwork({ hosts: n, name: 'fixture' });
  const peers = net.hosts.map((h, i) => h.spawnNode(__filename, ['peer', '--port', '7000', ...(i === 0 ? ['--spawn-orphan'] : [])]));
  const orphanMsg = await peers[0].waitFor((m) => m.type === 'orphan', 10000, { past: true });
  await Promise.all(peers.map((p) => p.waitFor((m) => m.type === 'listening', 10000, { past: true })));
  if (args.netem) await net.netem(0, { delayMs: 5 });
  const relayPids = net._relayPids();
  emit({
    type: 'ready',
    id: net.id,
    namespaces: net.namespaces,
    stateFile: net.stateFile,
    pids: [...peers.map((p) => p.pid), orphanMsg.pid, ...relayPids],
    tapDevices: net._tapDevices(),
    netemBackend: net.netemBackendInUse,
  });
  // Crash on request: {"op":"throw"} or {"op":"reject"} on stdin.
  onStdinLines((msg) => {
    if (msg.op === 'throw') setTimeout(() => { throw new Error('fixture: deliberate uncaught exception'); }, 0);
    if (msg.op === 'reject') setTimeout(() => { Promise.reject(new Error('fixture: deliberate unhandled rejection')); }, 0);
  });
  setInterval(() => {}, 1e6); // wait to be killed
}

// ---------------------------------------------------------------- main ----

const args = parseArgs(process.argv.slice(2));
const mode = args._[0];
switch (mode) {
  case 'peer': case 'echo': peer(args); break;
  case 'relay': relay(args); break;
  case 'reaper': reaper(args); break;
  case 'fixture':
    fixture(args).catch((err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); });
    break;
  default:
    process.stderr.write('usage: host-agent.js peer|relay|reaper|fixture [options]\n');
    process.exit(2);
}
