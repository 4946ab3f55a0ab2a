'use strict';
// The host side of the harness's command protocol, shared by the gossiper
// host (gossip-host.js) and the original's (original-host.js): one JSON
// command a line on stdin, `{op, id, ...}`; `handlers[op](msg)` answers, and
// its result goes back as `{type: 'reply', id, op, ok: true, ...result}`
// through `out` (or `ok: false` with the error). `exit`, a signal or the
// test going away (stdin closed) calls `end`.

const readline = require('node:readline');

function serveCommands(handlers, out, end) {
  process.on('SIGTERM', () => end());
  process.on('SIGINT', () => end());
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    if (!line.trim()) return;
    let msg;
    try { msg = JSON.parse(line); } catch (e) { out({ type: 'error', error: `bad command line: ${e.message}` }); return; }
    const op = msg.op || msg.cmd;
    const { id } = msg;
    if (op === 'exit') { end({ id, op }); rl.close(); return; }
    try {
      if (!handlers[op]) throw new Error(`unknown op ${JSON.stringify(op)}`);
      const result = await handlers[op](msg);
      out({ type: 'reply', id, op, ok: true, ...result });
    } catch (e) {
      out({ type: 'reply', id, op, ok: false, error: e.message, code: e.code });
    }
  });
  rl.on('close', () => end());
}

// Writes the last reply of an `exit` (if any) and exits once it is flushed:
// in-flight gossip sockets would otherwise keep the process alive.
function replyAndExit(reply) {
  const line = reply ? `${JSON.stringify({ type: 'reply', ...reply, ok: true, t: Date.now() })}\n` : '';
  process.stdout.write(line, () => process.exit(0));
}

// The `set` command of both hosts: `{key, value}` or `{values: {k: v}}`.
function setValues(g, msg) {
  if (msg.values) for (const [k, v] of Object.entries(msg.values)) g.setLocalState(k, v);
  else g.setLocalState(msg.key, msg.value);
  return {};
}

module.exports = { serveCommands, replyAndExit, setValues };
