'use strict';
// setLocalState's options: a key's time to live, checked here, before the
// native call, so that a bad one leaves the state as it was.
const native = require('../native');
const { checkOptions } = require('./abort');
const { typeError, rangeError } = require('./errors');
const { typeName } = require('./options');

// The core's bound (src/core/node/ttl.rs), read from the addon: 30 days.
const MAX_TTL_MS = native.maxTtlMs();

const METHOD = 'setLocalState(key, value, options)';

/** The time to live `options` ask for, in ms; undefined for a permanent key. */
function ttlOf(options) {
  const { ttlMs } = checkOptions(options, METHOD, ['ttlMs']);
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs)) {
    throw typeError(`${METHOD}: options.ttlMs must be a number of milliseconds, got ${typeName(ttlMs)}`);
  }
  if (!Number.isInteger(ttlMs)) {
    throw typeError(`${METHOD}: options.ttlMs must be an integer, got ${ttlMs}`);
  }
  if (ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw rangeError(`${METHOD}: options.ttlMs must be between 1 and ${MAX_TTL_MS} (30 days), got ${ttlMs}`);
  }
  return ttlMs;
}

module.exports = { ttlOf, MAX_TTL_MS };
