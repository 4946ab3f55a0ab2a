'use strict';
// Where a gossiper's log lines go: the `logger` option (pino-compatible:
// debug, info, warn, and child), or, without one, standard error when
// GOSSIPER_DEBUG is set, or nowhere. Lines from the native side (a
// connection closed early, a peer unreachable) are made only when debug
// lines are wanted, and come batched and bounded (src/runtime/debug_log.rs).

function envDebug() {
  const v = process.env.GOSSIPER_DEBUG;
  return v !== undefined && v !== '' && v !== '0';
}

// The logger of GOSSIPER_DEBUG: one line on stderr, `gossiper[<node>]: <msg>`.
const stderrLogger = {
  debug: (fields, msg) => process.stderr.write(`gossiper[${fields.peer}]: ${msg}\n`),
  info: (fields, msg) => process.stderr.write(`gossiper[${fields.peer}]: ${msg}\n`),
  warn: (fields, msg) => process.stderr.write(`gossiper[${fields.peer}]: warning: ${msg}\n`),
};

/** Whether `logger` writes debug lines (pino's isLevelEnabled, or its level). */
function wantsDebug(logger) {
  if (typeof logger.isLevelEnabled === 'function') return Boolean(logger.isLevelEnabled('debug'));
  if (typeof logger.level === 'string') return logger.level === 'debug' || logger.level === 'trace';
  return true;
}

/** A gossiper's log, for the `logger` option's value (null: none given). */
class Log {
  constructor(given) {
    if (given) {
      this.logger = typeof given.child === 'function' ? given.child({ component: 'gossiper' }) : given;
      this.debug = wantsDebug(this.logger);
    } else {
      this.logger = envDebug() ? stderrLogger : null;
      this.debug = this.logger !== null;
    }
  }

  /** A warning: logged, and emitted on `g` as 'warning' (an Error named GossiperWarning). */
  warning(g, code, peer, message) {
    const w = new Error(message);
    w.name = 'GossiperWarning';
    w.code = code;
    w.peer = peer;
    if (this.logger) this.logger.warn({ peer: g.peer_name, code, about: peer }, message);
    g.emit('warning', w);
  }

  /** A line of the native side's debug log. */
  line(g, message) {
    if (this.logger) this.logger.debug({ peer: g.peer_name }, message);
  }
}

module.exports = { Log };
