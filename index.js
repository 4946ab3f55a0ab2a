'use strict';
// gossiper: node-gossip's API over a native core. This file is the public
// class; the machinery (options, hub, mirror, records, errors) is in lib/.
const { EventEmitter } = require('events');
const { NativeGossiper } = require('./native');
const { normalize, nativeOptions, checkKeys, OPTIONS, PROFILES } = require('./lib/options');
const { nativeHub, register, hold } = require('./lib/hub');
const { Mirror, HEARTBEAT } = require('./lib/mirror');
const { RECORD } = require('./lib/records');
const { typeError, rangeError, stateError, fromNative } = require('./lib/errors');
const { abortError, checkOptions } = require('./lib/abort');
const { Waiters } = require('./lib/waiters');
const { Log } = require('./lib/log');
const { ttlOf } = require('./lib/ttl');

function checkKey(key) {
  if (typeof key !== 'string') {
    throw typeError(`key must be a string, got ${key === null ? 'null' : typeof key}`);
  }
}

// The name known before the native side confirms it, as node-gossip sets it.
const expectedName = (g) => g.options.advertise
  || (g.address !== null && g.port !== 0 && !g.address.includes(':') ? `${g.address}:${g.port}` : undefined);

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
    // a local key reported expired may have been written again since
    this._mirror = new Mirror(!options.observer, (key) => this._native.hasLocalState(key));
    this._state = 'stopped';
    this._waiting = new Waiters();
    this._log = new Log(options.logger);
    try {
      this._native = new NativeGossiper(nativeOptions(options), nativeHub());
    } catch (e) {
      throw rangeError(e.message, 'ERR_GOSSIPER_INVALID_OPTIONS');
    }
    register(this, this._native.nodeId);
    if (this._log.debug) this._native.setLog(true);
  }

  /**
   * Starts listening and gossiping: `start(callback)` calls back once
   * listening (node-gossip's form); `start({ signal })` returns a promise,
   * and an abort before it is listening stops the node again.
   */
  start(arg) {
    const callback = typeof arg === 'function' ? arg : undefined;
    const { signal } = callback ? {} : checkOptions(arg, 'start(options)', ['signal']);
    const promise = new Promise((resolve, reject) => {
      if (signal && signal.aborted) return reject(abortError(signal));
      if (this._state !== 'stopped') {
        return reject(stateError(`gossiper is already ${this._state}`, 'ERR_GOSSIPER_RUNNING'));
      }
      this._state = 'starting';
      this.peer_name = expectedName(this);
      this._waiting.add('start', resolve, reject, signal, () => this.stop());
      hold(this, true);
      this._native.start(this.port, this.address, this.seeds, this.options.advertise ?? undefined);
    });
    if (!callback) return promise;
    promise.then(() => callback(), (err) => callback(err));
    return undefined;
  }

  /**
   * Stops gossip and closes the listener and every connection. With
   * `{ leave: true }` peers are told first, so they report us gone at once.
   * Resolves when everything is closed; an abort of `signal` stops the wait
   * only (the node goes on stopping).
   */
  stop(opts) {
    const { leave, signal } = checkOptions(opts, 'stop(options)', ['leave', 'signal']);
    if (signal && signal.aborted) return Promise.reject(abortError(signal));
    if (this._state === 'stopped') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this._waiting.add('stop', resolve, reject, signal);
      if (this._state !== 'stopping') {
        this._state = 'stopping';
        this._native.stop(Boolean(leave));
      }
    });
  }

  /** Tells the cluster we leave, then stops: `stop({ leave: true })`. */
  leave() {
    return this.stop({ leave: true });
  }

  /** Sets a local key; with `{ ttlMs }` every node deletes it that long from now. */
  setLocalState(key, value, options) {
    checkKey(key);
    if (value === undefined) {
      throw typeError('value is undefined; use deleteLocalState(key) to remove a key, or null');
    }
    const err = this._native.setLocalState(key, value, ttlOf(options));
    if (err != null) throw fromNative(err);
    this._mirror.self.set(key, value);
  }

  getLocalState(key) {
    return this._mirror.self.get(key);
  }

  /** Removes a local key everywhere; returns whether it was set. */
  deleteLocalState(key) {
    checkKey(key);
    const err = this._native.deleteLocalState(key);
    if (err != null) throw fromNative(err);
    return this._mirror.self.delete(key);
  }

  peerValue(peer, key) {
    const p = this._mirror.get(peer);
    return p === undefined ? undefined : p.get(key);
  }

  peerKeys(peer) {
    const p = this._mirror.get(peer);
    return p === undefined ? [] : p.keys();
  }

  allPeers() {
    return this._mirror.all();
  }

  livePeers() {
    return this._mirror.live();
  }

  deadPeers() {
    return this._mirror.dead();
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

  // Applies the signal record at nums[i] (see lib/hub.js).
  _apply(nums, strs, vals, i) {
    if (this._mirror.apply(nums, strs, vals, i, this)) return;
    switch (nums[i]) {
      case RECORD.Started:
        this.peer_name = strs[nums[i + 2]];
        if (this._state === 'starting') this._state = 'started'; // not if stopped meanwhile
        this._waiting.settle('start');
        break;
      case RECORD.StartFailed: {
        const code = strs[nums[i + 3]];
        if (code !== 'ERR_GOSSIPER_RUNNING') hold(this, false);
        if (this._state === 'starting') this._state = 'stopped'; // else Stopped follows
        this._waiting.settle('start', stateError(strs[nums[i + 2]], code));
        break;
      }
      case RECORD.Stopped:
        hold(this, false);
        this._state = 'stopped';
        this._waiting.settle('stop');
        break;
      case RECORD.Warning:
        this._log.warning(this, strs[nums[i + 2]], strs[nums[i + 3]], strs[nums[i + 4]]);
        break;
      case RECORD.Log:
        this._log.line(this, strs[nums[i + 2]]);
        break;
      default:
        throw new Error(`gossiper: unknown native signal ${nums[i]}`);
    }
  }
}

// `await using g = new Gossiper(...)` leaves at the end of the scope (where
// the runtime has the symbol: Node >= 18.18 / 20.4).
if (typeof Symbol.asyncDispose === 'symbol') Gossiper.prototype[Symbol.asyncDispose] = Gossiper.prototype.leave;

Gossiper.HEARTBEAT_KEY = HEARTBEAT;
Gossiper.OPTIONS = OPTIONS;
Gossiper.PROFILES = PROFILES;

module.exports = { Gossiper, OPTIONS, PROFILES };
