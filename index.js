'use strict';
// gossiper: the node-gossip API over a native core. This file only adapts:
// it validates arguments, keeps a read-side mirror of the cluster state (so
// reads are plain JavaScript lookups) and turns native signals into events.
const { EventEmitter } = require('events');
const { NativeGossiper, NativeHub } = require('./native');
const { normalize, checkKeys, OPTIONS, PROFILES } = require('./lib/options');

// Signal kinds, as written by src/binding/events.rs.
const NEW_PEER = 0, UPDATE = 1, DELETE = 2, ALIVE = 3, FAILED = 4, REMOVED = 5;
const STARTED = 6, START_FAILED = 7, STOPPED = 8, UPDATE_NUM = 9;

// Record length per kind, to skip the signals of a gossiper that is gone.
const RECORD = [5, 5, 4, 3, 3, 3, 3, 4, 2, 5];

// Every gossiper of this realm delivers through one native hub. A gossiper
// is found by its node id: weakly (an idle, unreferenced one may be
// collected) and, while it runs, strongly too (a running one keeps working
// even when the application keeps no reference to it).
const gossipers = new Map(); // node id → WeakRef<Gossiper>
const running = new Set();
const forget = new FinalizationRegistry((id) => gossipers.delete(id));
let hub = null;

function nativeHub() {
  if (hub === null) hub = new NativeHub((batch) => dispatch(batch[0], batch[1], batch[2], 0));
  return hub;
}

// Applies one batch of native signals, emitting as it goes, so that inside
// a listener the mirror already holds that event's change. If a listener
// throws, the rest of the batch is applied on the next turn and the error
// propagates as it would from any event listener.
function dispatch(nums, strs, vals, from) {
  let i = from;
  let node = -1;
  let g;
  try {
    while (i < nums.length) {
      if (nums[i + 1] !== node) {
        node = nums[i + 1];
        const ref = gossipers.get(node);
        g = ref === undefined ? undefined : ref.deref();
      }
      const at = i;
      i += RECORD[nums[at]]; // first, so a throwing listener's event is not applied twice
      if (g !== undefined) g._apply(nums, strs, vals, at);
    }
  } catch (err) {
    // the records' buffer is reused by the next batch: keep a copy of the rest
    if (i < nums.length) {
      const rest = nums.slice(i);
      setImmediate(() => dispatch(rest, strs, vals, 0));
    }
    throw err;
  }
}

const HEARTBEAT = '__heartbeat__';

// One peer as this gossiper sees it. Its heartbeat, the one key every peer
// has and rewrites every round, sits in a field: the mirror's hottest write
// then touches the view it already loaded instead of a Map's table, and a
// peer with no other key costs no Map at all. Its key list is kept once
// asked for, until a key comes or goes.
class PeerView {
  constructor(name) {
    this.name = name;
    this.alive = true;
    this.heartbeat = undefined;
    this.values = null; // Map of the other keys, made at the first one
    this._keys = null;
  }

  get(key) {
    // the other keys first: reads of them then never compare with HEARTBEAT
    if (this.values !== null) {
      const value = this.values.get(key);
      if (value !== undefined) return value;
    }
    return key === HEARTBEAT ? this.heartbeat : undefined;
  }

  set(key, value) {
    if (key === HEARTBEAT) {
      if (this.heartbeat === undefined) this._keys = null;
      this.heartbeat = value;
    } else {
      const values = (this.values ??= new Map());
      const size = values.size;
      values.set(key, value);
      if (values.size !== size) this._keys = null;
    }
  }

  delete(key) {
    let had;
    if (key === HEARTBEAT) {
      had = this.heartbeat !== undefined;
      this.heartbeat = undefined;
    } else {
      had = this.values !== null && this.values.delete(key);
    }
    if (had) this._keys = null;
    return had;
  }

  keys() {
    if (this._keys === null) {
      const keys = this.values === null ? [] : Array.from(this.values.keys());
      if (this.heartbeat !== undefined) keys.push(HEARTBEAT);
      this._keys = keys;
    }
    return this._keys.slice();
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
      this._native = new NativeGossiper(native, nativeHub());
    } catch (e) {
      throw new RangeError(e.message);
    }
    this._nodeId = this._native.nodeId;
    gossipers.set(this._nodeId, new WeakRef(this));
    forget.register(this, this._nodeId);
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
      running.add(this);
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
    this._self.set(key, value);
  }

  getLocalState(key) {
    return this._self.get(key);
  }

  /** Removes a local key everywhere; returns whether it was set. */
  deleteLocalState(key) {
    checkKey(key);
    const err = this._native.deleteLocalState(key);
    if (err !== null && err !== undefined) throw nativeError(err);
    return this._self.delete(key);
  }

  peerValue(peer, key) {
    const p = this._peers.get(peer);
    return p === undefined ? undefined : p.get(key);
  }

  peerKeys(peer) {
    const p = this._peers.get(peer);
    return p === undefined ? [] : p.keys();
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

  // Applies the signal record at nums[i] to the mirror (see dispatch).
  _apply(nums, strs, vals, i) {
    switch (nums[i]) {
      case UPDATE_NUM:
      case UPDATE: {
        const p = this._byId[nums[i + 2]];
        const key = strs[nums[i + 3]];
        const value = nums[i] === UPDATE_NUM ? nums[i + 4] : vals[nums[i + 4]];
        p.set(key, value);
        if (p !== this._self) this.emit('update', p.name, key, value);
        break;
      }
      case NEW_PEER: {
        const id = nums[i + 2];
        const name = strs[nums[i + 3]];
        if (nums[i + 4] === 1) {
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
        const p = this._byId[nums[i + 2]];
        const key = strs[nums[i + 3]];
        if (p.delete(key) && p !== this._self) this.emit('delete', p.name, key);
        break;
      }
      case ALIVE: {
        const p = this._byId[nums[i + 2]];
        p.alive = true;
        this._membershipChanged();
        this.emit('peer_alive', p.name);
        break;
      }
      case FAILED: {
        const p = this._byId[nums[i + 2]];
        p.alive = false;
        this._membershipChanged();
        this.emit('peer_failed', p.name);
        break;
      }
      case REMOVED: {
        const id = nums[i + 2];
        const p = this._byId[id];
        this._byId[id] = undefined;
        if (this._peers.get(p.name) === p) this._peers.delete(p.name);
        this._membershipChanged();
        this.emit('peer_removed', p.name);
        break;
      }
      case STARTED: {
        this.peer_name = strs[nums[i + 2]];
        this._state = 'started';
        this._settle('start');
        break;
      }
      case START_FAILED: {
        const err = new Error(strs[nums[i + 2]]);
        err.code = strs[nums[i + 3]];
        if (err.code !== 'ERR_GOSSIPER_RUNNING') running.delete(this);
        this._state = 'stopped';
        this._settle('start', err);
        break;
      }
      case STOPPED: {
        running.delete(this);
        this._state = 'stopped';
        this._settle('stop');
        break;
      }
      default:
        throw new Error(`gossiper: unknown native signal ${nums[i]}`);
    }
  }
}

Gossiper.HEARTBEAT_KEY = HEARTBEAT;
Gossiper.OPTIONS = OPTIONS;
Gossiper.PROFILES = PROFILES;

module.exports = { Gossiper, OPTIONS, PROFILES };
