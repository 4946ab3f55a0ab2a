'use strict';
const net = require('net');
const native = require('../native');
const { typeError, rangeError } = require('./errors');
// Every option and its range, in one table: the constructor validates
// against it, the README documents it, index.d.ts types it. The defaults are
// the core's (src/core/config.rs), read from the addon: they are written down
// nowhere else.

const KiB = 1024;
const MiB = 1024 * KiB;

const OPTIONS = {
  gossipIntervalMs: { kind: 'integer', min: 10, max: 3600000,
    doc: 'Time between gossip rounds and heartbeats (node-gossip: 1000).' },
  fanout: { kind: 'integer', min: 1, max: 64,
    doc: 'Live peers contacted per round (node-gossip: 1).' },
  pushOnChange: { kind: 'boolean',
    doc: 'Push news (a local write; a key, deletion or peer new to this node) at once to `fanout` random live peers instead of waiting for the next round, at most once per round beyond it: a write crosses the cluster in network hops. false: node-gossip\'s round-paced spread.' },
  catchUpExchanges: { kind: 'integer', min: 0, max: 1000,
    doc: 'When an exchange had to leave updates out (maxOutgoingMessageBytes), up to this many more exchanges with the same peer start at once, one after another, so a large state or a burst of writes moves in one go rather than one message per round. 0: wait for the next round (node-gossip).' },
  probes: { kind: 'boolean',
    doc: 'Between gossiper peers, judge liveness by probes (SWIM over UDP datagrams on the same port as TCP) and spread small news by datagram, at a cost per node that does not grow with the cluster. false: gossiper 1.0\'s protocol, TCP only, for networks that carry no UDP between nodes. node-gossip peers are always judged by their heartbeats.' },
  heartbeatRounds: { kind: 'boolean',
    doc: 'Beat `__heartbeat__` and gossip every round, as node-gossip does, even when every peer is a gossiper: an `update` event for `__heartbeat__` from every peer every round (node-gossip\'s behaviour), at a cost per node that grows with the cluster. false: heartbeats advance only to refute a suspicion; it is on by itself while a node-gossip peer is live.' },
  phiThreshold: { kind: 'number', min: 0.5, max: 1000,
    doc: 'A peer is reported failed when its phi exceeds this (node-gossip: 8).' },
  detector: { kind: 'enum', values: ['normal', 'exponential'],
    doc: "Failure detector model: 'normal' (fast, robust) or 'exponential' (node-gossip's)." },
  detectorWindow: { kind: 'integer', min: 1, max: 100000,
    doc: 'Heartbeat inter-arrival samples kept per peer (node-gossip: 1000).' },
  initialIntervalMs: { kind: 'number', min: 1, max: 3600000,
    doc: 'Interval assumed before a peer\'s second heartbeat. Default 0.75 × gossipIntervalMs (node-gossip: 750).' },
  minStdDevMs: { kind: 'number', min: 0, max: 3600000,
    doc: "Normal detector: floor of the inter-arrival deviation. Default 0.25 × gossipIntervalMs." },
  acceptablePauseMs: { kind: 'number', min: 0, max: 3600000,
    doc: 'Normal detector: silence tolerated beyond the mean before suspicion grows. Default 2 × gossipIntervalMs.' },
  deadPeerRemovalMs: { kind: 'integer', min: 1, max: 2 ** 40, nullable: true,
    doc: "Forget a peer failed for this long ('peer_removed'); null keeps dead peers forever, as node-gossip." },
  restartGraceMs: { kind: 'integer', min: 0, max: 2 ** 40,
    doc: "When a peer restarts, keys of its previous life that the new one has not set again within this time are reported deleted ('delete'); keys it sets again only update. Default 5 × gossipIntervalMs; 0 deletes at once." },
  tombstoneTtlMs: { kind: 'integer', min: 1, max: 2 ** 40,
    doc: 'How long a deleted key is remembered so the deletion reaches every peer.' },
  clusterName: { kind: 'string', maxBytes: 255, nullable: true,
    doc: 'Peers with another cluster name (or none) are refused.' },
  keys: { kind: 'keys',
    doc: 'Encryption keys, 32 bytes each (Buffer, or hex or base64 string). The first seals every message, all are tried to open. [] sends plaintext (node-gossip compatible).' },
  observer: { kind: 'boolean',
    doc: 'Read-only member for monitoring: it learns the cluster but never listens or names itself, so peers never learn of it.' },
  maxMessageBytes: { kind: 'integer', min: 4 * KiB, max: 256 * MiB,
    doc: 'Largest message accepted (a larger one closes the connection) or sent. At least maxValueBytes + maxKeyBytes + 1024, so the largest update fits.' },
  maxOutgoingMessageBytes: { kind: 'integer', min: 4 * KiB, max: 256 * MiB,
    doc: 'What an outgoing message is filled up to (a batching target): the rest goes in catch-up exchanges (catchUpExchanges) or later rounds; an update larger than this travels alone in its own message.' },
  maxValueDepth: { kind: 'integer', min: 1, max: 512,
    doc: 'Deepest nesting of a value (arrays/objects).' },
  maxKeyBytes: { kind: 'integer', min: 1, max: 64 * KiB,
    doc: 'Longest key, in UTF-8 bytes.' },
  maxValueBytes: { kind: 'integer', min: 1, max: 64 * MiB,
    doc: 'Largest value, msgpack-encoded.' },
  maxKeysPerPeer: { kind: 'integer', min: 1, max: 1000000,
    doc: 'Most keys a peer may hold (ours and others\').' },
  maxPeerStateBytes: { kind: 'integer', min: 1, max: 1024 * MiB,
    doc: 'Most bytes of keys and values a peer may hold.' },
  maxStateBytes: { kind: 'integer', min: 1, max: 2 ** 40,
    doc: 'Most bytes of keys and values all remote peers may hold together; updates beyond it are refused and counted.' },
  maxPeers: { kind: 'integer', min: 1, max: 10000000,
    doc: 'Most peers tracked; further names are ignored.' },
  readTimeoutMs: { kind: 'integer', min: 1, max: 3600000,
    doc: 'Time allowed for each message of an exchange to arrive.' },
  connectTimeoutMs: { kind: 'integer', min: 1, max: 3600000,
    doc: 'Time allowed to connect to a peer.' },
  advertise: { kind: 'hostport', nullable: true,
    doc: "The name to give this node, \"host:port\", when peers must reach it at another address than the one it listens on (behind NAT, or bound to 0.0.0.0 in a container), as memberlist's AdvertiseAddr. null: the address it listens on." },
  logger: { kind: 'logger', nullable: true,
    doc: "A pino-compatible logger (debug, info, warn; child if it has one): warnings at warn, the native side's connection-level lines at debug, when the logger wants them. null: none (GOSSIPER_DEBUG=1 then writes the lines to standard error)." },
  maxConnections: { kind: 'integer', min: 1, max: 1000000,
    doc: 'Most incoming connections served at once; at the cap a new one evicts the one that has waited longest without completing a message.' },
};

// Every option's default per profile, from the core; keys are the
// binding's alone (no key: plaintext, as node-gossip).
const PROFILE_NAMES = ['lan', 'local'];
function profileDefaults(profile, gossipIntervalMs) {
  const d = native.defaultOptions(profile, gossipIntervalMs);
  const out = {};
  for (const name of Object.keys(OPTIONS)) out[name] = name === 'keys' ? [] : (d[name] ?? null);
  return out;
}
const LAN = profileDefaults('lan');
// The defaults that scale with the round: `perInterval` is the multiple of
// gossipIntervalMs the core derives them as.
const AT_2S = profileDefaults('lan', 2000);
for (const [name, spec] of Object.entries(OPTIONS)) {
  spec.default = LAN[name];
  const d = LAN[name];
  if (name !== 'gossipIntervalMs' && typeof d === 'number' && d > 0 && AT_2S[name] === (2000 / LAN.gossipIntervalMs) * d) {
    spec.perInterval = d / LAN.gossipIntervalMs;
  }
}

// Profiles set defaults for several options at once (what each changes from
// 'lan'); explicit options win.
const PROFILES = {};
for (const profile of PROFILE_NAMES) {
  const d = profileDefaults(profile);
  PROFILES[profile] = Object.fromEntries(Object.entries(d).filter(([k, v]) => k !== 'keys' && v !== LAN[k]));
}

function typeName(v) {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'object': return 'an object';
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    case 'bigint': return `bigint ${v}n`;
    default: return `${typeof v} ${JSON.stringify(v)}`;
  }
}

// A host name as resolvers take it: dot-separated labels of letters,
// digits, '-' (not at either end) and '_' (container and service names use
// it), at most 63 bytes each and 253 in all, the last not all digits (that
// is an IPv4 address, and a malformed one if net.isIP refused it).
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

/** Whether `host` is an IP literal (IPv6 bare or in brackets) or a valid host name. */
function isHost(host) {
  if (net.isIP(host.replace(/^\[(.*)\]$/, '$1'))) return true;
  const labels = host.replace(/\.$/, '').split('.');
  return host.length <= 254 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
}

function checkPort(port, where) {
  if (typeof port !== 'number' || !Number.isInteger(port)) {
    throw typeError(`${where} must be an integer port number, got ${typeName(port)}`);
  }
  if (port < 0 || port > 65535) throw rangeError(`${where} must be between 0 and 65535, got ${port}`);
  return port;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

function checkSeeds(seeds, where) {
  if (seeds === undefined || seeds === null) return [];
  if (!Array.isArray(seeds)) throw typeError(`${where} must be an array of "host:port" strings, got ${typeName(seeds)}`);
  return seeds.map((s, i) => {
    if (typeof s !== 'string') throw typeError(`${where}[${i}] must be a "host:port" string, got ${typeName(s)}`);
    const m = HOST_PORT.exec(s);
    if (!m) throw typeError(`${where}[${i}] must be "host:port", got ${JSON.stringify(s)}`, 'ERR_GOSSIPER_INVALID_VALUE');
    if (!isHost(m[1])) {
      throw typeError(`${where}[${i}] must be "host:port" with an IP address or a host name, got ${JSON.stringify(s)}`, 'ERR_GOSSIPER_INVALID_VALUE');
    }
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw rangeError(`${where}[${i}] has port ${port}, outside 1-65535`);
    return s;
  });
}

function checkAddress(address, where) {
  if (address === undefined || address === null) return null;
  if (typeof address !== 'string' || address.length === 0) {
    throw typeError(`${where} must be an IP address or host name string, got ${typeName(address)}`);
  }
  if (!isHost(address)) {
    throw typeError(`${where} must be an IP address or a host name, got ${JSON.stringify(address)}`, 'ERR_GOSSIPER_INVALID_VALUE');
  }
  return address;
}

function checkOption(name, value, spec) {
  const where = `options.${name}`;
  if (value === null && spec.nullable) return null;
  switch (spec.kind) {
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || Number.isNaN(value)) {
        throw typeError(`${where} must be a number, got ${typeName(value)}`);
      }
      if (spec.kind === 'integer' && !Number.isInteger(value)) {
        throw typeError(`${where} must be an integer, got ${value}`);
      }
      if (value < spec.min || value > spec.max) {
        throw rangeError(`${where} must be between ${spec.min} and ${spec.max}, got ${value}`);
      }
      return value;
    case 'enum':
      if (!spec.values.includes(value)) {
        throw typeError(`${where} must be one of ${spec.values.map((v) => `'${v}'`).join(', ')}, got ${typeName(value)}`, 'ERR_GOSSIPER_INVALID_VALUE');
      }
      return value;
    case 'string':
      if (typeof value !== 'string' || value.length === 0) {
        throw typeError(`${where} must be a non-empty string, got ${typeName(value)}`);
      }
      if (Buffer.byteLength(value) > spec.maxBytes) {
        throw rangeError(`${where} must be at most ${spec.maxBytes} bytes`);
      }
      return value;
    case 'keys':
      return checkKeys(value, where);
    case 'hostport':
      if (typeof value !== 'string') throw typeError(`${where} must be a "host:port" string, got ${typeName(value)}`);
      if (!HOST_PORT.test(value) || !/:(\d{1,5})$/.test(value) || Number(value.split(':').pop()) < 1 || Number(value.split(':').pop()) > 65535) {
        throw typeError(`${where} must be "host:port" with a port from 1 to 65535, got ${JSON.stringify(value)}`, 'ERR_GOSSIPER_INVALID_VALUE');
      }
      return value;
    case 'logger':
      if (value === null || typeof value !== 'object' || !['debug', 'info', 'warn'].every((m) => typeof value[m] === 'function')) {
        throw typeError(`${where} must be a logger with debug, info and warn methods (pino, console-like), got ${typeName(value)}`);
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw typeError(`${where} must be a boolean, got ${typeName(value)}`);
      return value;
    default:
      throw new Error(`unknown option kind ${spec.kind}`);
  }
}

const KEY_BYTES = 32;

/** Keys as 32-byte Buffers, from Buffers/Uint8Arrays or hex/base64 strings. */
function checkKeys(keys, where = 'keys') {
  if (!Array.isArray(keys)) throw typeError(`${where} must be an array of 32-byte keys, got ${typeName(keys)}`);
  if (keys.length > 64) throw rangeError(`${where} holds at most 64 keys, got ${keys.length}`);
  return keys.map((k, i) => {
    let buf;
    if (typeof k === 'string') {
      buf = /^[0-9a-fA-F]{64}$/.test(k) ? Buffer.from(k, 'hex') : Buffer.from(k, 'base64');
    } else if (k instanceof Uint8Array) {
      buf = Buffer.from(k);
    } else {
      throw typeError(`${where}[${i}] must be a Buffer or a hex/base64 string, got ${typeName(k)}`);
    }
    if (buf.length !== KEY_BYTES) {
      throw rangeError(`${where}[${i}] must be ${KEY_BYTES} bytes, got ${buf.length}`);
    }
    return buf;
  });
}

/**
 * Normalises both constructor forms to { port, seeds, address, options }.
 * `new Gossiper(port, seeds, ipToBind)` or `new Gossiper({ port, seeds, address, ...options })`.
 */
function normalize(first, seeds, ipToBind) {
  let given;
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (seeds !== undefined || ipToBind !== undefined) {
      throw typeError('new Gossiper(options) takes a single options object');
    }
    given = first;
  } else if (first === undefined) {
    throw typeError('new Gossiper() needs a port: new Gossiper(port, seeds, ipToBind) or new Gossiper({ port, seeds, address, ...options }); port 0 lets the system choose');
  } else {
    given = { port: first, seeds, address: ipToBind };
  }
  if (given === first && given.port === undefined) {
    throw typeError('options.port is required: an integer port number, 0 to let the system choose');
  }
  const known = new Set(['port', 'seeds', 'address', 'profile', ...Object.keys(OPTIONS)]);
  for (const key of Object.keys(given)) {
    if (!known.has(key)) throw typeError(`unknown option '${key}'`, 'ERR_GOSSIPER_UNKNOWN_OPTION');
  }
  const port = checkPort(given.port, given === first ? 'options.port' : 'port');
  const seedList = checkSeeds(given.seeds, given === first ? 'options.seeds' : 'seeds');
  const address = checkAddress(given.address, given === first ? 'options.address' : 'ipToBind');
  const profileName = given.profile === undefined ? 'lan' : given.profile;
  if (!Object.prototype.hasOwnProperty.call(PROFILES, profileName)) {
    throw typeError(`options.profile must be one of ${Object.keys(PROFILES).map((p) => `'${p}'`).join(', ')}, got ${typeName(given.profile)}`, 'ERR_GOSSIPER_INVALID_VALUE');
  }
  const options = {};
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (given[name] !== undefined) options[name] = checkOption(name, given[name], spec);
  }
  // the profile's defaults, those that scale with the round for the interval given
  const defaults = profileDefaults(profileName, options.gossipIntervalMs);
  for (const name of Object.keys(OPTIONS)) {
    if (options[name] === undefined) options[name] = defaults[name];
  }
  if (options.maxMessageBytes < options.maxOutgoingMessageBytes) {
    throw rangeError(`options.maxMessageBytes (${options.maxMessageBytes}) must be at least maxOutgoingMessageBytes (${options.maxOutgoingMessageBytes})`);
  }
  const needed = options.maxValueBytes + options.maxKeyBytes + 1024;
  if (options.maxMessageBytes < needed) {
    throw rangeError(`options.maxMessageBytes (${options.maxMessageBytes}) must be at least maxValueBytes + maxKeyBytes + 1024 (${needed}) so the largest update fits in a message`);
  }
  return { port, seeds: seedList, address, options };
}

// The options the JavaScript side keeps for itself: not the core's.
const JS_ONLY = ['logger', 'advertise'];

/** The options as the native constructor takes them (no nulls, no JS-only ones). */
function nativeOptions(options) {
  const out = {};
  for (const [k, v] of Object.entries(options)) if (v !== null && !JS_ONLY.includes(k)) out[k] = v;
  return out;
}

module.exports = { OPTIONS, PROFILES, normalize, nativeOptions, checkKeys, typeName };
