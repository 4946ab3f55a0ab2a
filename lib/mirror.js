'use strict';
// The read side of a gossiper: what it knows of every peer, kept in plain
// JavaScript objects so that reads (peerValue, peerKeys, livePeers) are
// lookups, not native calls. The native side sends every change as a signal
// record; `apply` applies one and emits its event.
const { RECORD } = require('./records');

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

class Mirror {
  /**
   * `listed`: whether this node lists itself among the peers (not an
   * observer). `stillSet(key)`: whether a local key is set natively.
   */
  constructor(listed, stillSet = () => false) {
    this.listed = listed;
    this.stillSet = stillSet;
    this.self = new PeerView(undefined);
    this.peers = new Map(); // name → PeerView, ourselves included once named
    this.byId = []; // native peer id → PeerView
    this._live = null; // name lists, rebuilt after membership changes
    this._dead = null;
    this._all = null;
  }

  get(peer) {
    return this.peers.get(peer);
  }

  all() {
    if (this._all === null) this._all = Array.from(this.peers.keys());
    return this._all.slice();
  }

  live() {
    if (this._live === null) this._live = this._names(true);
    return this._live.slice();
  }

  dead() {
    if (this._dead === null) this._dead = this._names(false);
    return this._dead.slice();
  }

  _names(alive) {
    const out = [];
    for (const p of this.peers.values()) if (p.alive === alive) out.push(p.name);
    return out;
  }

  /** A peer's liveness changed: `alive`, then `event` about it. */
  _status(id, alive, event, emitter) {
    const p = this.byId[id];
    p.alive = alive;
    this._changed();
    emitter.emit(event, p.name);
    return true;
  }

  _changed() {
    this._live = null;
    this._dead = null;
    this._all = null;
  }

  /**
   * Applies the membership or state record at nums[i] and emits its event
   * on `emitter`; returns false for a record that is not of that kind.
   */
  apply(nums, strs, vals, i, emitter) {
    switch (nums[i]) {
      case RECORD.UpdateNum:
      case RECORD.Update: {
        const p = this.byId[nums[i + 2]];
        const key = strs[nums[i + 3]];
        const value = nums[i] === RECORD.UpdateNum ? nums[i + 4] : vals[nums[i + 4]];
        p.set(key, value);
        if (p !== this.self) emitter.emit('update', p.name, key, value);
        return true;
      }
      case RECORD.NewPeer: {
        const id = nums[i + 2];
        const name = strs[nums[i + 3]];
        if (nums[i + 4] === 1) {
          if (this.self.name !== undefined) this.peers.delete(this.self.name);
          this.self.name = name;
          this.byId[id] = this.self;
          if (this.listed) this.peers.set(name, this.self);
          this._changed();
        } else {
          const p = new PeerView(name);
          this.byId[id] = p;
          this.peers.set(name, p);
          this._changed();
          emitter.emit('new_peer', name);
        }
        return true;
      }
      case RECORD.Delete: {
        const p = this.byId[nums[i + 2]];
        const key = strs[nums[i + 3]];
        // Of our own keys only an expiry is reported, which may come after
        // setLocalState wrote the key again (the mirror has that value then)
        if (p === this.self) {
          if (!this.stillSet(key)) p.delete(key);
        } else if (p.delete(key)) {
          emitter.emit('delete', p.name, key);
        }
        return true;
      }
      case RECORD.Alive:
        return this._status(nums[i + 2], true, 'peer_alive', emitter);
      case RECORD.Failed:
        return this._status(nums[i + 2], false, 'peer_failed', emitter);
      case RECORD.Left:
        return this._status(nums[i + 2], false, 'peer_left', emitter);
      case RECORD.Removed: {
        const id = nums[i + 2];
        const p = this.byId[id];
        this.byId[id] = undefined;
        if (this.peers.get(p.name) === p) this.peers.delete(p.name);
        this._changed();
        emitter.emit('peer_removed', p.name);
        return true;
      }
      default:
        return false;
    }
  }
}

module.exports = { Mirror, PeerView, HEARTBEAT };
