'use strict';
// Every gossiper of this JavaScript realm delivers its native signals
// through one hub: one threadsafe-function call hands over everything
// queued by all of them. A gossiper is found by its node id: weakly (an
// idle, unreferenced one may be collected) and, while it runs, strongly too
// (a running one keeps working even when the app keeps no reference to it).
const { NativeHub } = require('../native');
const { RECORD_LENGTH } = require('./records');

const gossipers = new Map(); // node id → WeakRef<Gossiper>
const running = new Set();
const forget = new FinalizationRegistry((id) => gossipers.delete(id));
let hub = null;

function nativeHub() {
  if (hub === null) hub = new NativeHub((batch) => dispatch(batch[0], batch[1], batch[2], 0));
  return hub;
}

/** Routes `gossiper`'s signals to its `_apply(nums, strs, vals, at)`. */
function register(gossiper, nodeId) {
  gossipers.set(nodeId, new WeakRef(gossiper));
  forget.register(gossiper, nodeId);
}

/**
 * Every gossiper of this realm not yet collected (the metrics read them);
 * held weakly here, so a reader never keeps one alive.
 */
function* each() {
  for (const ref of gossipers.values()) {
    const g = ref.deref();
    if (g !== undefined) yield g;
  }
}

/** Holds `gossiper` strongly while it runs (`on` true) or lets it go. */
function hold(gossiper, on) {
  if (on) running.add(gossiper);
  else running.delete(gossiper);
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
      i += RECORD_LENGTH[nums[at]]; // first, so a throwing listener's event is not applied twice
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

module.exports = { nativeHub, register, hold, each };
