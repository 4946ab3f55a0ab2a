'use strict';
// A raw node-gossip protocol endpoint for tests: TCP sockets speaking msgpack
// through @msgpack/msgpack (an encoder/decoder independent of gossiper's own
// codec). Messages are maps written back to back with no length prefix, so
// incoming bytes are framed by a small structural walk (header sizes only)
// and each complete frame is decoded by @msgpack/msgpack.
//
//   const c = await RawConn.connect(port);
//   c.send({ type: 0, digest: { ... } });
//   const { msg, raw } = await c.next();      // decoded message + its bytes
//   await c.closed();                         // resolves when the socket closes
//
//   const s = await RawServer.listen(port);
//   const conn = await s.accept();            // the next incoming RawConn
//
// Also: waitFor (poll with a deadline), startGossiper/stopAll (a gossiper
// under test with 'error' and event recording), byte helpers.

const net = require('net');
const { encode, decode } = require('@msgpack/msgpack');

const HOST = '127.0.0.1';

// ---------------------------------------------------------------- framing

/**
 * Where the msgpack item starting at `buf[start]` ends, or -1 when more
 * bytes are needed. Only walks headers; values are decoded elsewhere.
 * Throws on the never-used marker 0xc1.
 */
function itemEnd(buf, start) {
  let p = start;
  let pending = 1;
  const end = buf.length;
  while (pending > 0) {
    if (p >= end) return -1;
    const h = buf[p];
    let size;
    let kids = 0;
    const need = (n) => (end - p < 1 + n ? -1 : buf.readUIntBE(p + 1, n));
    if (h <= 0x7f || h >= 0xe0) size = 1;
    else if (h <= 0x8f) { size = 1; kids = 2 * (h & 0x0f); }
    else if (h <= 0x9f) { size = 1; kids = h & 0x0f; }
    else if (h <= 0xbf) size = 1 + (h & 0x1f);
    else {
      switch (h) {
        case 0xc0: case 0xc2: case 0xc3: size = 1; break;
        case 0xc1: throw new Error('raw-peer: invalid msgpack marker 0xc1');
        case 0xcc: case 0xd0: size = 2; break;
        case 0xcd: case 0xd1: size = 3; break;
        case 0xca: case 0xce: case 0xd2: size = 5; break;
        case 0xcb: case 0xcf: case 0xd3: size = 9; break;
        case 0xd4: size = 3; break;
        case 0xd5: size = 4; break;
        case 0xd6: size = 6; break;
        case 0xd7: size = 10; break;
        case 0xd8: size = 18; break;
        case 0xc4: case 0xd9: { const n = need(1); if (n < 0) return -1; size = 2 + n; break; }
        case 0xc5: case 0xda: { const n = need(2); if (n < 0) return -1; size = 3 + n; break; }
        case 0xc6: case 0xdb: { const n = need(4); if (n < 0) return -1; size = 5 + n; break; }
        case 0xc7: { const n = need(1); if (n < 0) return -1; size = 3 + n; break; }
        case 0xc8: { const n = need(2); if (n < 0) return -1; size = 4 + n; break; }
        case 0xc9: { const n = need(4); if (n < 0) return -1; size = 6 + n; break; }
        case 0xdc: { const n = need(2); if (n < 0) return -1; size = 3; kids = n; break; }
        case 0xdd: { const n = need(4); if (n < 0) return -1; size = 5; kids = n; break; }
        case 0xde: { const n = need(2); if (n < 0) return -1; size = 3; kids = 2 * n; break; }
        case 0xdf: { const n = need(4); if (n < 0) return -1; size = 5; kids = 2 * n; break; }
        default: throw new Error(`raw-peer: unknown marker 0x${h.toString(16)}`);
      }
    }
    if (end - p < size) return -1;
    p += size;
    pending = pending - 1 + kids;
  }
  return p;
}

/** The marker byte of every item of the message in `buf`, in order (a structural walk). */
function markers(buf) {
  const out = [];
  let p = 0;
  const walk = () => {
    const h = buf[p];
    out.push(h);
    const end = itemEnd(buf.subarray(0, buf.length), p);
    // containers: step over the head only and walk the children
    let head = 0;
    let kids = 0;
    if (h >= 0x80 && h <= 0x8f) { head = 1; kids = 2 * (h & 0x0f); }
    else if (h >= 0x90 && h <= 0x9f) { head = 1; kids = h & 0x0f; }
    else if (h === 0xdc) { head = 3; kids = buf.readUInt16BE(p + 1); }
    else if (h === 0xdd) { head = 5; kids = buf.readUInt32BE(p + 1); }
    else if (h === 0xde) { head = 3; kids = 2 * buf.readUInt16BE(p + 1); }
    else if (h === 0xdf) { head = 5; kids = 2 * buf.readUInt32BE(p + 1); }
    else { p = end; return; }
    p += head;
    for (let i = 0; i < kids; i++) walk();
  };
  walk();
  return out;
}

// ---------------------------------------------------------------- connection

class RawConn {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.queue = []; // { msg, raw }
    this.waiters = [];
    this.isClosed = false;
    this.ended = false; // the other side sent FIN
    this.error = null;
    this.openedAt = Date.now();
    this.closedAt = null;
    this.bytesIn = 0;
    this._closeWaiters = [];
    socket.setNoDelay(true);
    socket.on('data', (d) => this._onData(d));
    socket.on('end', () => { this.ended = true; });
    socket.on('error', (e) => { this.error = e; });
    socket.on('close', () => {
      this.isClosed = true;
      this.closedAt = Date.now();
      for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed before a message arrived (${this.error ? this.error.code : 'end'})`));
      for (const w of this._closeWaiters.splice(0)) w();
    });
  }

  static connect(port, host = HOST, timeoutMs = 3000) {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ port, host });
      const t = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${host}:${port} timed out`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(t); s.removeListener('error', reject); resolve(new RawConn(s)); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  _onData(d) {
    this.bytesIn += d.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length === 0) return;
      const end = itemEnd(this.buf, 0);
      if (end < 0) return;
      const raw = Buffer.from(this.buf.subarray(0, end));
      this.buf = this.buf.subarray(end);
      const item = { msg: decode(raw), raw };
      const w = this.waiters.shift();
      if (w) w.resolve(item);
      else this.queue.push(item);
    }
  }

  /** The next whole message: `{ msg, raw }`. Rejects on close or timeout. */
  next(timeoutMs = 3000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.isClosed) return Promise.reject(new Error('connection is closed'));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (v) => { clearTimeout(t); resolve(v); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  send(obj) {
    return this.sendRaw(Buffer.from(encode(obj)));
  }

  sendRaw(bytes) {
    if (this.isClosed || this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /**
   * Resolves with the milliseconds the connection was open once it closes
   * (by the other side or ours); rejects after `timeoutMs`.
   */
  closed(timeoutMs = 3000) {
    const done = () => this.closedAt - this.openedAt;
    if (this.isClosed) return Promise.resolve(done());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      this._closeWaiters.push(() => { clearTimeout(t); resolve(done()); });
    });
  }

  end() {
    this.socket.end();
  }

  destroy() {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------- server

class RawServer {
  constructor(server) {
    this.server = server;
    this.conns = [];
    this.pending = [];
    this.waiters = [];
    server.on('connection', (s) => {
      const c = new RawConn(s);
      this.conns.push(c);
      const w = this.waiters.shift();
      if (w) w(c);
      else this.pending.push(c);
    });
  }

  static listen(port, host = HOST) {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      const raw = new RawServer(server);
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve(raw);
      });
    });
  }

  get port() {
    return this.server.address().port;
  }

  /** The next incoming connection (already accepted ones first). */
  accept(timeoutMs = 5000) {
    if (this.pending.length) return Promise.resolve(this.pending.shift());
    return new Promise((resolve, reject) => {
      const w = (c) => { clearTimeout(t); resolve(c); };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  close() {
    for (const c of this.conns) c.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `message` at the deadline. */
async function waitFor(fn, { timeout = 5000, interval = 20, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${why}`);
    }
    await sleep(interval);
  }
}

/** Index of the byte sequence `needle` in `hay`, -1 if absent. */
function indexOfBytes(hay, needle) {
  return Buffer.from(hay).indexOf(Buffer.from(needle));
}

/** msgpack bytes of a string as gossiper writes it (str16 for 32-65535 bytes). */
function str16(s) {
  const b = Buffer.from(s, 'utf8');
  const h = Buffer.alloc(3);
  h[0] = 0xda;
  h.writeUInt16BE(b.length, 1);
  return Buffer.concat([h, b]);
}

/** msgpack bytes of a non-negative integer in its smallest unsigned form. */
function uintBytes(v) {
  if (v < 0x80) return Buffer.from([v]);
  if (v < 0x100) return Buffer.from([0xcc, v]);
  if (v < 0x10000) { const b = Buffer.alloc(3); b[0] = 0xcd; b.writeUInt16BE(v, 1); return b; }
  if (v < 0x100000000) { const b = Buffer.alloc(5); b[0] = 0xce; b.writeUInt32BE(v, 1); return b; }
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(BigInt(v), 1);
  return b;
}

/** float64 bytes of a number (what a version must NOT be sent as). */
function float64Bytes(v) {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(v, 1);
  return b;
}

// ---------------------------------------------------------------- gossipers under test

const running = new Set();

/**
 * Starts a gossiper on 127.0.0.1:port with `options` (100 ms rounds, no push
 * on change by default), recording its
 * 'error', 'update', 'new_peer', 'peer_alive', 'peer_failed' events in
 * `g.recorded`. Resolves once it listens.
 */
async function startGossiper(port, options = {}) {
  const { Gossiper } = require('../..');
  // No push on change: these tests script the exchanges one round at a
  // time, and a pushed exchange would come in between (options may enable it).
  const g = new Gossiper({ port, address: HOST, gossipIntervalMs: 100, pushOnChange: false, ...options });
  g.recorded = { error: [], update: [], new_peer: [], peer_alive: [], peer_failed: [], delete: [] };
  g.on('error', (e) => g.recorded.error.push(e));
  g.on('update', (p, k, v) => g.recorded.update.push([p, k, v]));
  g.on('new_peer', (p) => g.recorded.new_peer.push(p));
  g.on('peer_alive', (p) => g.recorded.peer_alive.push(p));
  g.on('peer_failed', (p) => g.recorded.peer_failed.push(p));
  g.on('delete', (p, k) => g.recorded.delete.push([p, k]));
  running.add(g);
  await g.start();
  return g;
}

async function stopGossiper(g) {
  running.delete(g);
  await g.stop();
}

async function stopAll() {
  const all = [...running];
  running.clear();
  await Promise.all(all.map((g) => g.stop()));
}

module.exports = {
  HOST,
  itemEnd,
  markers,
  RawConn,
  RawServer,
  sleep,
  waitFor,
  indexOfBytes,
  str16,
  uintBytes,
  float64Bytes,
  startGossiper,
  stopGossiper,
  stopAll,
  encode,
  decode,
};
