'use strict';
// Errors thrown to callers carry a stable `code`, as Node's own do: an app
// branches on `err.code`, never on the wording of `err.message`.

function withCode(err, code) {
  err.code = code;
  return err;
}

const typeError = (message, code = 'ERR_GOSSIPER_INVALID_TYPE') => withCode(new TypeError(message), code);
const rangeError = (message, code = 'ERR_GOSSIPER_OUT_OF_RANGE') => withCode(new RangeError(message), code);
const stateError = (message, code) => withCode(new Error(message), code);

/** The error a native call refused with ({ name, code, message }). */
function fromNative(e) {
  return e.name === 'RangeError' ? rangeError(e.message, e.code) : typeError(e.message, e.code);
}

module.exports = { typeError, rangeError, stateError, fromNative };
