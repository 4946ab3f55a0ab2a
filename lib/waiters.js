'use strict';
// The callers waiting for a gossiper to finish starting or stopping; the
// native side settles them by signal (STARTED, START_FAILED, STOPPED).
const { abortError, onAbort } = require('./abort');

class Waiters {
  constructor() {
    this._list = []; // { kind: 'start' | 'stop', resolve, reject, done }
  }

  /**
   * Waits for `kind` to settle; an abort of `signal` rejects at once with an
   * AbortError and then calls `aborted`.
   */
  add(kind, resolve, reject, signal, aborted) {
    const w = { kind, resolve, reject };
    w.done = onAbort(signal, () => {
      this._list = this._list.filter((x) => x !== w);
      reject(abortError(signal));
      if (aborted) aborted();
    });
    this._list.push(w);
  }

  /** Resolves (or, with `err`, rejects) everyone waiting for `kind`. */
  settle(kind, err) {
    const waiting = this._list.filter((w) => w.kind === kind);
    this._list = this._list.filter((w) => w.kind !== kind);
    for (const w of waiting) {
      w.done();
      if (err) w.reject(err);
      else w.resolve();
    }
  }
}

module.exports = { Waiters };
