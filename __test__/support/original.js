'use strict';
// Loads the ORIGINAL node-gossip (npm gossiper@0.0.3), installed as the
// devDependency alias `gossiper-original`, for interoperability tests and
// benchmarks. Its native dependency `msgpack` is replaced, through the root
// package.json's devDependencies + overrides, by the pure-JS shim in
// __test__/fixtures/msgpack-shim.
//
//   const { loadOriginal } = require('./support/original');
//   const Gossiper = loadOriginal();
//   const g = new Gossiper(21001, []);        // do NOT pass ipToBind (bug)
//   g.start(() => ...);
//
// Notes on the original's behaviour (0.0.3):
// - Without ipToBind it names itself "<addr>:<port>", where <addr> is the IPv4
//   address the output of `hostname` resolves to, and listens on that address
//   only. originalSelfAddress() reproduces that lookup so tests can build
//   seed names. With ipToBind it names itself "undefined:<port>" (it reads
//   the never-set this.address), unless `g.address` is assigned before start().
// - start() spawns `hostname` and only then listens; listen errors surface as
//   an 'error' event on g.server (unhandled -> crash), attach a listener.
// - stop() closes the server and timers only; in-flight outgoing gossip
//   connections finish on their own.

const path = require('path');
const ORIGINAL = 'gossiper-original';

let cached = null;

function loadOriginal() {
  if (cached) return cached;
  let mod;
  try {
    mod = require(ORIGINAL);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${ORIGINAL}'`)) {
      throw new Error(
        `The original node-gossip is not installed: run \`npm install\` in the repository root ` +
        `(devDependency "${ORIGINAL}": "npm:gossiper@0.0.3", with "msgpack" overridden by ` +
        `__test__/fixtures/msgpack-shim). Cause: ${e.message}`);
    }
    if (e && e.code === 'MODULE_NOT_FOUND' && /'msgpack'|msgpackBinding|@msgpack\/msgpack/.test(String(e.message))) {
      throw new Error(
        `${ORIGINAL} is installed but its msgpack dependency does not resolve to the shim ` +
        `(__test__/fixtures/msgpack-shim). Re-run \`npm install\` in the repository root. ` +
        `Cause: ${e.message}`);
    }
    throw e;
  }
  const msgpackPath = require.resolve('msgpack', {
    paths: [path.dirname(require.resolve(`${ORIGINAL}/lib/gossiper.js`))],
  });
  if (!require(msgpackPath).isShim) {
    throw new Error(
      `${ORIGINAL} resolves 'msgpack' to ${msgpackPath}, which is not the test shim. ` +
      `Check "overrides" in package.json and re-run \`npm install\`.`);
  }
  if (!mod || typeof mod.Gossiper !== 'function') {
    throw new Error(`${ORIGINAL} does not export a Gossiper class; is it really gossiper@0.0.3?`);
  }
  cached = mod.Gossiper;
  return cached;
}

// Resolves to the IPv4 address an original Gossiper started without ipToBind
// will name itself by and listen on (same lookup as the original's start()).
function originalSelfAddress() {
  const child_process = require('child_process');
  const dns = require('dns');
  return new Promise((resolve, reject) => {
    child_process.exec('hostname', (error, stdout) => {
      if (error) return reject(error);
      const hostname = stdout.slice(0, stdout.length - 1);
      dns.lookup(hostname, 4, (err, address) => (err ? reject(err) : resolve(address)));
    });
  });
}

module.exports = { loadOriginal, originalSelfAddress };
