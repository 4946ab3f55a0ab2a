'use strict';
// gossiper: node-gossip's API over a native core. This file is the public
// class; the machinery sits under lib/ (options, the signal hub, the
// read-side mirror, records and errors).
const { EventEmitter } = require('events');
const { NativeGossiper } = require('./native');
const { normalize, checkKeys, OPTIONS, PROFILES } = require('./lib/options');
const { nativeHub, register, hold } = require('./lib/hub');
const { Mirror, HEARTBEAT } = require('./lib/mirror');
const { RECORD } = require('./lib/records');
const { typeError, rangeError, stateError, fromNative } = require('./lib/errors');

function checkKey(key) {
  if (typeof key !== 'string') {
    throw typeError(`key must be a string, got ${key === null ? 'null' : typeof key}`);
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
    this._mirror = new Mirror(!options.observer);
    this._state = 'stopped';
    this._waiting = []; // { kind: 'start' | 'stop', resolve, reject }
    const native = {};
    for (const [k, v] of Object.entries(options)) if (v !== null) native[k] = v;
    try {
      this._native = new NativeGossiper(native, nativeHub());
    } catch (e) {
      throw rangeError(e.message, 'ERR_GOSSIPER_INVALID_OPTIONS');
    }
    register(this, this._native.nodeId);
  }

  /** Starts listening and gossiping. Calls back (or resolves) once listening. */
  start(callback) {
    if (callback !== undefined && typeof callback !== 'function') {
      throw typeError(`callback must be a function, got ${typeof callback}`);
    }
    const promise = new Promise((resolve, reject) => {
      if (this._state !== 'stopped') {
        reject(stateError(`gossiper is already ${this._state}`, 'ERR_GOSSIPER_RUNNING'));
        return;
      }
      this._state = 'starting';
      if (this.address !== null && this.port !== 0 && !this.address.includes(':')) {
        this.peer_name = `${this.address}:${this.port}`;
      }
      this._waiting.push({ kind: 'start', resolve, reject });
      hold(this, true);
      this._native.start(this.port, this.address, this.seeds);
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
      throw typeError(`stop(options) takes an object such as { leave: true }, got ${opts === null ? 'null' : typeof opts}`);
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
      throw typeError('value is undefined; use deleteLocalState(key) to remove a key, or null');
    }
    const err = this._native.setLocalState(key, value);
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

  _settle(kind, err) {
    const waiting = this._waiting.filter((w) => w.kind === kind);
    this._waiting = this._waiting.filter((w) => w.kind !== kind);
    for (const w of waiting) (err ? w.reject(err) : w.resolve());
  }

  // Applies the signal record at nums[i] (see lib/hub.js).
  _apply(nums, strs, vals, i) {
    if (this._mirror.apply(nums, strs, vals, i, this)) return;
    switch (nums[i]) {
      case RECORD.Started:
        this.peer_name = strs[nums[i + 2]];
        this._state = 'started';
        this._settle('start');
        break;
      case RECORD.StartFailed: {
        const code = strs[nums[i + 3]];
        if (code !== 'ERR_GOSSIPER_RUNNING') hold(this, false);
        this._state = 'stopped';
        this._settle('start', stateError(strs[nums[i + 2]], code));
        break;
      }
      case RECORD.Stopped:
        hold(this, false);
        this._state = 'stopped';
        this._settle('stop');
        break;
      default:
        throw new Error(`gossiper: unknown native signal ${nums[i]}`);
    }
  }
}

Gossiper.HEARTBEAT_KEY = HEARTBEAT;
Gossiper.OPTIONS = OPTIONS;
Gossiper.PROFILES = PROFILES;

module.exports = { Gossiper, OPTIONS, PROFILES };
