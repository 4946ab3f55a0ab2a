'use strict';
// gossiper: the node-gossip API over a native core. This file only adapts:
// it validates arguments, keeps a read-side mirror of the cluster state (so
// reads are plain JavaScript lookups) and turns native signals into events.
const { EventEmitter } = require('events');
const { NativeGossiper } = require('./native');
const { normalize, checkKeys, OPTIONS, PROFILES } = require('./lib/options');

// Signal kinds, as written by src/binding/events.rs.
const NEW_PEER = 0, UPDATE = 1, DELETE = 2, ALIVE = 3, FAILED = 4, REMOVED = 5;
const STARTED = 6, START_FAILED = 7, STOPPED = 8;

const HEARTBEAT = '__heartbeat__';

class PeerView {
  constructor(name) {
    this.name = name;
    this.alive = true;
    this.values = new Map();
  }
}

function nativeError(text) {
  const i = text.indexOf(': ');
  const message = text.slice(i + 2);
  return text.startsWith('RangeError') ? new RangeError(message) : new TypeError(message);
}

function checkKey(key, where = 'key') {
  if (typeof key !== 'string') {
    throw new TypeError(`${where} must be a string, got ${key === null ? 'null' : typeof key}`);
  }
}

class Gossiper extends EventEmitter {
  /**
   * new Gossiper(port, seeds, ipToBind) — as node-gossip —
   * or new Gossiper({ port, seeds, address, ...options }).
   */
  constructor(port, seeds, ipToBind) {
    super();
    const { port: p, seeds: s, address, options } = normalize(port, seeds, ipToBind);
    this.port = p;
    this.seeds = s;
    this.address = address;
    this.options = Object.freeze(options);
    this.peer_name = undefined;
    this._self = new PeerView(undefined);
    this._peers = new Map(); // name → PeerView, ourselves included once started
    this._byId = []; // native peer id → PeerView
    this._live = null; // cached name lists, rebuilt after membership changes
    this._dead = null;
    this._all = null;
    this._state = 'stopped';
    this._waiting = []; // { kind: 'start' | 'stop', resolve, reject }
    try {
      const native = {};
      for (const [k, v] of Object.entries(options)) if (v !== null) native[k] = v;
      this._native = new NativeGossiper(native, (batch) => this._onBatch(batch, 0));
    } catch (e) {
      throw new RangeError(e.message);
    }
  }

  /** Starts listening and gossiping. Calls back (or resolves) once listening. */
  start(callback) {
    if (callback !== undefined && typeof callback !== 'function') {
      throw new TypeError(`callback must be a function, got ${typeof callback}`);
    }
    const promise = new Promise((resolve, reject) => {
      if (this._state !== 'stopped') {
        const err = new Error(`gossiper is already ${this._state}`);
        err.code = 'ERR_GOSSIPER_RUNNING';
        reject(err);
        return;
      }
      this._state = 'starting';
      if (this.address !== null && this.port !== 0 && !this.address.includes(':')) {
        this.peer_name = `${this.address}:${this.port}`;
      }
      this._waiting.push({ kind: 'start', resolve, reject });
      this._native.start(this.port, this.address, this.seeds, () => {});
    });
    if (callback) {
      promise.then(() => callback(), (err) => callback(err));
      return undefined;
    }
    return promise;
  }

  /**
   * Stops gossip and closes the listener and every connection. With
   * `{ leave: true }` peers are told first, so they report us gone at once.
   * Resolves when everything is closed.
   */
  stop(opts) {
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
      throw new TypeError(`stop(options) takes an object such as { leave: true }, got ${typeof opts}`);
    }
    const leave = Boolean(opts && opts.leave);
    if (this._state === 'stopped') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this._waiting.push({ kind: 'stop', resolve, reject });
      if (this._state !== 'stopping') {
        this._state = 'stopping';
        this._native.stop(leave);
      }
    });
  }

  /** Tells the cluster we leave, then stops: `stop({ leave: true })`. */
  leave() {
    return this.stop({ leave: true });
  }

  setLocalState(key, value) {
    checkKey(key);
    if (value === undefined) {
      throw new TypeError('value is undefined; use deleteLocalState(key) to remove a key, or null');
    }
    const err = this._native.setLocalState(key, value);
    if (err !== null && err !== undefined) throw nativeError(err);
    this._self.values.set(key, value);
  }

  getLocalState(key) {
    return this._self.values.get(key);
  }

  /** Removes a local key everywhere; returns whether it was set. */
  deleteLocalState(key) {
    checkKey(key);
    const err = this._native.deleteLocalState(key);
    if (err !== null && err !== undefined) throw nativeError(err);
    return this._self.values.delete(key);
  }

  peerValue(peer, key) {
    const p = this._peers.get(peer);
    return p === undefined ? undefined : p.values.get(key);
  }

  peerKeys(peer) {
    const p = this._peers.get(peer);
    return p === undefined ? [] : Array.from(p.values.keys());
  }

  allPeers() {
    if (this._all === null) this._all = Array.from(this._peers.keys());
    return this._all.slice();
  }

  livePeers() {
    if (this._live === null) this._live = this._names(true);
    return this._live.slice();
  }

  deadPeers() {
    if (this._dead === null) this._dead = this._names(false);
    return this._dead.slice();
  }

  /**
   * Replaces the encryption keys of a running or stopped gossiper (key
   * rotation: add the new key everywhere, make it first, drop the old one).
   */
  setKeys(keys) {
    this._native.setKeys(checkKeys(keys));
  }

  /** Counters and per-peer detector state, read from the native side. */
  stats() {
    return this._native.stats();
  }

  _names(alive) {
    const out = [];
    for (const p of this._peers.values()) if (p.alive === alive) out.push(p.name);
    return out;
  }

  _membershipChanged() {
    this._live = null;
    this._dead = null;
    this._all = null;
  }

  _settle(kind, err) {
    const waiting = this._waiting.filter((w) => w.kind === kind);
    this._waiting = this._waiting.filter((w) => w.kind !== kind);
    for (const w of waiting) (err ? w.reject(err) : w.resolve());
  }

  // Applies one batch of native signals to the mirror, emitting as it goes,
  // so that inside a listener the mirror already holds that event's change.
  // If a listener throws, the rest of the batch is applied on the next turn
  // and the error propagates as it would from any event listener.
  _onBatch(b, from) {
    let i = from;
    try {
      while (i < b.length) {
        switch (b[i]) {
          case UPDATE: {
            const p = this._byId[b[i + 1]];
            const key = b[i + 2];
            const value = b[i + 3];
            i += 4;
            p.values.set(key, value);
            if (p !== this._self) this.emit('update', p.name, key, value);
            break;
          }
          case NEW_PEER: {
            const id = b[i + 1];
            const name = b[i + 2];
            const me = b[i + 3];
            i += 4;
            if (me) {
              if (this._self.name !== undefined) this._peers.delete(this._self.name);
              this._self.name = name;
              this._byId[id] = this._self;
              // an observer is not a member: it does not list itself
              if (!this.options.observer) this._peers.set(name, this._self);
              this._membershipChanged();
            } else {
              const p = new PeerView(name);
              this._byId[id] = p;
              this._peers.set(name, p);
              this._membershipChanged();
              this.emit('new_peer', name);
            }
            break;
          }
          case DELETE: {
            const p = this._byId[b[i + 1]];
            const key = b[i + 2];
            i += 3;
            if (p.values.delete(key) && p !== this._self) this.emit('delete', p.name, key);
            break;
          }
          case ALIVE: {
            const p = this._byId[b[i + 1]];
            i += 2;
            p.alive = true;
            this._membershipChanged();
            this.emit('peer_alive', p.name);
            break;
          }
          case FAILED: {
            const p = this._byId[b[i + 1]];
            i += 2;
            p.alive = false;
            this._membershipChanged();
            this.emit('peer_failed', p.name);
            break;
          }
          case REMOVED: {
            const p = this._byId[b[i + 1]];
            i += 2;
            this._byId[b[i - 1]] = undefined;
            if (this._peers.get(p.name) === p) this._peers.delete(p.name);
            this._membershipChanged();
            this.emit('peer_removed', p.name);
            break;
          }
          case STARTED: {
            this.peer_name = b[i + 1];
            i += 2;
            this._state = 'started';
            this._settle('start');
            break;
          }
          case START_FAILED: {
            const err = new Error(b[i + 1]);
            err.code = b[i + 2];
            i += 3;
            this._state = 'stopped';
            this._settle('start', err);
            break;
          }
          case STOPPED: {
            i += 1;
            this._state = 'stopped';
            this._settle('stop');
            break;
          }
          default:
            throw new Error(`gossiper: unknown native signal ${b[i]}`);
        }
      }
    } catch (err) {
      if (i < b.length) setImmediate(() => this._onBatch(b, i));
      throw err;
    }
  }
}

Gossiper.HEARTBEAT_KEY = HEARTBEAT;
Gossiper.OPTIONS = OPTIONS;
Gossiper.PROFILES = PROFILES;

module.exports = { Gossiper, OPTIONS, PROFILES };
