'use strict';
// AbortSignal support for start() and stop(), as Node's own APIs take it:
// an aborted wait rejects with an AbortError whose code is 'ABORT_ERR' and
// whose cause is the signal's reason.
const { typeError } = require('./errors');

function abortError(signal) {
  const err = new Error('The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}

/**
 * The `{ signal, ...rest }` options object of `method`, checked: an object
 * with only the keys `allowed`, and a signal that is an AbortSignal.
 */
function checkOptions(opts, method, allowed) {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    const got = opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts;
    throw typeError(`${method} takes an options object such as { ${allowed.join(', ')} }, got ${got}`);
  }
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) {
      throw typeError(`${method}: unknown option '${key}' (known: ${allowed.join(', ')})`, 'ERR_GOSSIPER_UNKNOWN_OPTION');
    }
  }
  const { signal } = opts;
  if (signal !== undefined && !(signal !== null && typeof signal === 'object'
    && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function')) {
    throw typeError(`${method}: options.signal must be an AbortSignal, got ${signal === null ? 'null' : typeof signal}`);
  }
  return opts;
}

/**
 * Calls `fn` once if `signal` aborts; returns the function that stops
 * listening (a no-op without a signal).
 */
function onAbort(signal, fn) {
  if (signal === undefined) return () => {};
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

module.exports = { abortError, checkOptions, onAbort };
