// Type definitions for gossiper 1.0.
/// <reference types="node" />
import { EventEmitter } from 'events';

/** A peer's name: `"ip:port"` (IPv6 in brackets). */
export type PeerName = string;

/**
 * A value msgpack carries between peers: a string, number, boolean, `null`,
 * BigInt (64-bit; integers beyond ±2^53 arrive as BigInt), Buffer/Uint8Array
 * (arrives as Buffer), Date, or arrays and plain objects of these. Inside an
 * array or object `undefined` is sent as `null`. Functions, symbols, `Map`,
 * `Set`, wider BigInts and cycles are refused at run time, and are type
 * errors here.
 */
export type Value =
  | string
  | number
  | boolean
  | null
  | bigint
  | Date
  | Uint8Array
  | readonly (Value | undefined)[]
  | { readonly [key: string]: Value | undefined };

/** @deprecated Use {@link Value}. */
export type GossipValue = Value;

/**
 * `T` if every value in it is one msgpack carries ({@link Value}), with
 * `never` in place of each one that is not; interfaces are checked member by
 * member, so `interface Role { kind: string }` is a valid state value.
 */
export type Carried<T> = T extends Value
  ? T
  : T extends ((...args: never[]) => unknown) | symbol | ReadonlyMap<unknown, unknown> | ReadonlySet<unknown> | undefined
    ? never
    : T extends readonly (infer U)[]
      ? readonly Carried<U>[]
      : T extends object
        ? { [K in keyof T]: Carried<T[K]> }
        : never;

/**
 * The keys and value types of a gossiper's state, the same for every peer:
 * `new Gossiper<{ role: string; load: number }>(...)`. Any key with any
 * {@link Value} when not given.
 */
export type StateOf<S> = { [K in keyof S]: Carried<S[K]> };

/** Every state holds the heartbeat counter too, rewritten once a round. */
type WithHeartbeat<S> = S & { readonly __heartbeat__: number };
type Key<S> = keyof S & string;

/** Arguments of an `update` event: one tuple per key, so `key` narrows `value`. */
export type UpdateArgs<S> =
  | { [K in Key<S>]: [peer: PeerName, key: K, value: S[K]] }[Key<S>]
  | [peer: PeerName, key: '__heartbeat__', value: number];

/** What the `logger` option takes: pino's shape (console-like loggers fit too). */
export interface GossiperLogger {
  /** The native side's connection-level lines (a peer unreachable, a connection closed early). */
  debug(obj: object, msg: string): void;
  /** Not used by gossiper today; part of the shape it accepts. */
  info(obj: object, msg: string): void;
  /** Warnings, as the `'warning'` event also reports them. */
  warn(obj: object, msg: string): void;
  /** When present, gossiper logs through `child({ component: 'gossiper' })`. */
  child?(bindings: object): GossiperLogger;
  /** When present, native debug lines are made only if it says `'debug'` is enabled. */
  isLevelEnabled?(level: string): boolean;
}

/** The argument of a `'warning'` event: an Error named GossiperWarning. */
export interface GossiperWarning extends Error {
  /** Always `'GossiperWarning'`. */
  name: 'GossiperWarning';
  /** What is wrong: another cluster name, another key, an update over a limit, a seed that does not resolve or never answers. */
  code: 'GOSSIPER_WRONG_CLUSTER' | 'GOSSIPER_WRONG_KEY' | 'GOSSIPER_UPDATE_REFUSED' | 'GOSSIPER_SEED_UNRESOLVED' | 'GOSSIPER_SEED_UNREACHABLE';
  /** The peer, address or seed it is about. */
  peer: string;
}

/** The events a Gossiper emits and their listeners' arguments. An `'error'` event is never emitted. */
export interface GossiperEvents<S = Record<string, Value>> {
  /**
   * A peer's key changed, its `__heartbeat__` counter included (once a round, as node-gossip).
   * Not emitted for this node's own writes. Inside the listener `peerValue(peer, key)` already
   * returns `value`.
   */
  update: UpdateArgs<S>;
  /** A peer deleted a key (or restarted without it). */
  delete: [peer: PeerName, key: Key<S>];
  /** A peer became known: the seeds at `start()`, then peers learnt through gossip. */
  new_peer: [peer: PeerName];
  /**
   * A failed (or departed) peer is back. It comes before the updates of a restarted peer's new
   * life, so inside the listener the peer is alive and its new values follow.
   */
  peer_alive: [peer: PeerName];
  /** The failure detector says the peer is down: it crashed, stopped without leaving, or cannot be reached. */
  peer_failed: [peer: PeerName];
  /** The peer announced that it leaves (`leave()` or `stop({ leave: true })`): a planned departure, reported instead of `peer_failed`. */
  peer_left: [peer: PeerName];
  /** A peer failed for `deadPeerRemovalMs` was forgotten. */
  peer_removed: [peer: PeerName];
  /**
   * Something is misconfigured (never `'error'`): reported at most once a minute per kind and peer,
   * counted every time in `stats().warnings`, and logged through the `logger` option.
   */
  warning: [warning: GossiperWarning];
}

/** A listener of `event`. */
export type GossiperListener<E extends keyof GossiperEvents, S = Record<string, Value>> = (
  ...args: GossiperEvents<S>[E]
) => void;

export interface GossiperOptions {
  /** TCP port to listen on; 0 lets the system choose. */
  port: number;
  /** Peers to contact first, as `"host:port"`. Default `[]`. */
  seeds?: string[];
  /** Address to bind (node-gossip's `ipToBind`). Default: the IPv4 address the host name resolves to. */
  address?: string | null;
  /** Preset defaults: `'lan'` (node-gossip's 1 s rounds) or `'local'` (200 ms rounds). Default `'lan'`. */
  profile?: 'lan' | 'local';
  /** Time between gossip rounds and heartbeats, ms. Default 1000 (node-gossip: 1000). */
  gossipIntervalMs?: number;
  /** Live peers contacted per round. Default 2 (node-gossip: 1). */
  fanout?: number;
  /**
   * Push news (a local write; a key, deletion or peer new to this node) at once to `fanout`
   * random live peers instead of waiting for the next round, at most once per round beyond it.
   * Default true; false spreads at node-gossip's round pace.
   */
  pushOnChange?: boolean;
  /**
   * When an exchange had to leave updates out for lack of room (`maxOutgoingMessageBytes`),
   * up to this many more exchanges with the same peer start at once, one after another, so a
   * large state or a burst of writes moves in one go. Default 8; 0 waits for the next round.
   */
  catchUpExchanges?: number;
  /**
   * Between gossiper peers, judge liveness by probes (SWIM over UDP datagrams on the same port as
   * TCP) and spread small news by datagram, at a cost per node that does not grow with the
   * cluster. Default true; false speaks gossiper 1.0's TCP-only protocol, for networks without UDP
   * between nodes. node-gossip peers are always judged by their heartbeats.
   */
  probes?: boolean;
  /**
   * Beat `__heartbeat__` and gossip every round, as node-gossip does, even when every peer is a
   * gossiper: an `update` event for `__heartbeat__` from every peer every round. Default false:
   * heartbeats advance only to refute a suspicion (on by itself while a node-gossip peer is live).
   */
  heartbeatRounds?: boolean;
  /** A peer is reported failed when its phi exceeds this. Default 8 (node-gossip: 8). */
  phiThreshold?: number;
  /** Failure detector model. Default `'normal'`; `'exponential'` is node-gossip's. */
  detector?: 'normal' | 'exponential';
  /** Heartbeat inter-arrival samples kept per peer. Default 100 (node-gossip: 1000). */
  detectorWindow?: number;
  /** Interval assumed before a peer's second heartbeat, ms. Default 0.75 × gossipIntervalMs (node-gossip: 750). */
  initialIntervalMs?: number;
  /** Normal detector: floor of the inter-arrival deviation, ms. Default 0.25 × gossipIntervalMs. */
  minStdDevMs?: number;
  /** Normal detector: silence tolerated beyond the mean, ms. Default 2 × gossipIntervalMs. */
  acceptablePauseMs?: number;
  /** Forget a peer failed for this long (`'peer_removed'`); null keeps dead peers forever, as node-gossip. Default 3 600 000 (1 h). */
  deadPeerRemovalMs?: number | null;
  /**
   * When a peer restarts, keys of its previous life that the new one has not set again within
   * this time are reported deleted; keys it sets again only update. Default 5 × gossipIntervalMs.
   */
  restartGraceMs?: number;
  /** How long a deleted key is remembered, ms. Default 86 400 000 (24 h). */
  tombstoneTtlMs?: number;
  /** Peers with another cluster name (or none) are refused. Default null. */
  clusterName?: string | null;
  /**
   * Encryption keys, 32 bytes each (Buffer/Uint8Array, or a hex or base64 string).
   * The first seals every message, all are tried to open. Default `[]`: plaintext,
   * compatible with node-gossip.
   */
  keys?: Array<Uint8Array | string>;
  /** Read-only member for monitoring: never listens or names itself, so peers never learn of it. Default false. */
  observer?: boolean;
  /** Largest message accepted or sent, bytes; at least maxValueBytes + maxKeyBytes + 1024. Default 4 MiB. */
  maxMessageBytes?: number;
  /** What an outgoing message is filled up to, bytes (a batching target): the rest goes in catch-up exchanges or later rounds; a larger update travels alone. Default 64 KiB. */
  maxOutgoingMessageBytes?: number;
  /** Deepest nesting of a value. Default 32. */
  maxValueDepth?: number;
  /** Longest key, UTF-8 bytes. Default 1024. */
  maxKeyBytes?: number;
  /** Largest value, msgpack-encoded bytes. Default 2 MiB. */
  maxValueBytes?: number;
  /** Most keys a peer may hold. Default 1024. */
  maxKeysPerPeer?: number;
  /** Most bytes of keys and values a peer may hold. Default 8 MiB. */
  maxPeerStateBytes?: number;
  /** Most bytes of keys and values all remote peers may hold together. Default 512 MiB. */
  maxStateBytes?: number;
  /** Most peers tracked. Default 16384. */
  maxPeers?: number;
  /** Time allowed for each message of an exchange to arrive, ms. Default 5000. */
  readTimeoutMs?: number;
  /** Time allowed to connect to a peer, ms. Default 2000. */
  connectTimeoutMs?: number;
  /**
   * The name to give this node, `"host:port"`, when peers must reach it at another address than the
   * one it listens on (behind NAT, or bound to 0.0.0.0 in a container), as memberlist's AdvertiseAddr.
   * Default null: the address it listens on.
   */
  advertise?: string | null;
  /**
   * A pino-compatible logger (`debug`, `info`, `warn`; `child` if it has one): warnings at warn, the
   * native side's connection-level lines at debug, when the logger wants them. Default null: none
   * (`GOSSIPER_DEBUG=1` then writes the lines to standard error).
   */
  logger?: GossiperLogger | null;
  /** Most incoming connections served at once; at the cap a new one evicts the one idle longest. Default 256. */
  maxConnections?: number;
}

/** One peer as this node's failure detector sees it (`stats().peers`). */
export interface PeerStats {
  /** The peer's name, `"ip:port"`. */
  name: PeerName;
  /** `'left'` after the peer said it leaves; otherwise the failure detector's verdict. */
  status: 'alive' | 'failed' | 'left';
  /**
   * The heartbeat detector's suspicion; the peer is reported failed above `phiThreshold`. 0 for a
   * peer judged by probes.
   */
  phi: number;
  /**
   * How this node judges the peer: `'probes'` for a gossiper peer that answers probes,
   * `'heartbeats'` for node-gossip peers (and any peer while probes are off or not yet known).
   */
  judgedBy: 'probes' | 'heartbeats';
  /** Time since its heartbeat last advanced, ms; absent until heard once (and for this node). */
  lastHeardMsAgo?: number;
  /** Keys it holds, `__heartbeat__` included. */
  keys: number;
  /** The highest version among its keys. */
  maxVersion: number;
  /** Its incarnation: changes when the peer restarts. */
  generation: number;
}

/** What `stats()` returns: counters since the gossiper was made, and every peer. */
export interface GossiperStats {
  /** Gossip rounds run. */
  rounds: number;
  /**
   * How far this node's own rounds fell behind (an overloaded or suspended process), in ms, in all.
   * The failure detector does not count that time as the peers' silence.
   */
  stalledMs: number;
  /** Exchanges with a peer begun by this node. */
  exchangesStarted: number;
  /** Of those, started at once because the last exchange with the peer had to leave updates out (`catchUpExchanges`). */
  catchUps: number;
  /** Exchanges begun by this node that ran to the end (at most exchangesStarted). */
  exchangesCompleted: number;
  /** Exchanges begun by this node that ended early (timeout, refusal, closed connection). */
  exchangesFailed: number;
  /** Exchanges other peers started with this node that completed. */
  exchangesServed: number;
  /** Connections to a peer that could not be made. */
  connectFailures: number;
  /** Connections from peers accepted. */
  connectionsAccepted: number;
  /** Messages received. */
  messagesIn: number;
  /** Messages sent. */
  messagesOut: number;
  /** Bytes received. */
  bytesIn: number;
  /** Bytes sent. */
  bytesOut: number;
  /** Updates of a peer's key applied. */
  updatesApplied: number;
  /** Updates older than what this node holds (already seen through another peer). */
  updatesStale: number;
  /** Updates dropped by a state limit (key, value, keys or bytes per peer). */
  updatesRefused: number;
  /** Updates about this node from others, ignored. */
  updatesAboutSelf: number;
  /** Peer names that are not `host:port`, or beyond `maxPeers`. */
  peersRefused: number;
  /** Deleted keys forgotten after `tombstoneTtlMs`. */
  tombstonesCollected: number;
  /** Events emitted. */
  events: number;
  /** Datagrams (probes, acks, gossip) received from gossiper peers; their bytes count in bytesIn. */
  datagramsIn: number;
  /** Datagrams sent to gossiper peers; their bytes count in bytesOut. */
  datagramsOut: number;
  /** Peers this node suspected: a probe went unanswered, or another node said so. */
  suspicions: number;
  /** Suspicions of this node that it refuted by a newer heartbeat. */
  refutations: number;
  /** Repair exchanges begun because a peer's summary of the cluster's state differed from this node's. */
  repairs: number;
  /** Exchanges begun to fetch updates too large for a datagram. */
  pulls: number;
  /** Updates heard by datagram that would have skipped a version, fetched whole instead. */
  updatesGapped: number;
  /** Times this node found its own probe timers running late (an overloaded process) and held its judgement of peers for a probe period. */
  lags: number;
  /** Times this node heard from a peer again after hearing from none for several probe periods (cut off from the network, or its process stood still); it then drops the failures it concluded alone instead of telling them, and gives its suspects time to refute. */
  cutOffs: number;
  /** Connections closed early, by reason. */
  refused: Record<
    'malformed' | 'tooLarge' | 'tooDeep' | 'unexpected' | 'wrongCluster' | 'unauthenticated' | 'timeout' | 'connectionLimit' | 'closed',
    number
  >;
  /** Warnings by kind, counted every time (the `'warning'` event comes at most once a minute per peer). */
  warnings: Record<'wrongCluster' | 'wrongKey' | 'updateRefused' | 'seedUnresolved' | 'seedUnreachable', number>;
  /** Peers held alive, this node included. */
  peersLive: number;
  /** Peers failed or gone. */
  peersDead: number;
  /** Every known peer, this node included. */
  peers: PeerStats[];
}

export interface StartOptions {
  /**
   * Aborts the start: if it fires before the node is listening, the node stops again and the
   * promise rejects with an `AbortError` (`err.code === 'ABORT_ERR'`, `err.cause` the signal's
   * reason). Once listening, the signal is ignored.
   */
  signal?: AbortSignal;
}

/** Options of `setLocalState()`. */
export interface SetOptions {
  /**
   * Time to live, in milliseconds: an integer from 1 to 2592000000 (30 days). Every node
   * deletes the key this long from now, the owner included, even if the owner stopped or
   * died; a wrong type is a TypeError (`ERR_GOSSIPER_INVALID_TYPE`), out of range a
   * RangeError (`ERR_GOSSIPER_OUT_OF_RANGE`). Absent: the key lives until written again.
   */
  ttlMs?: number;
}

export interface StopOptions {
  /** Tell peers we leave first, so they report us failed within a round or two. Default false. */
  leave?: boolean;
  /**
   * Stops waiting: the promise rejects with an `AbortError` (`err.code === 'ABORT_ERR'`) while the
   * node goes on stopping in the background. Already aborted: rejects at once and the node is not
   * stopped.
   */
  signal?: AbortSignal;
}

/**
 * A member of a gossip cluster: its own key/value state spreads to every peer, theirs to it,
 * and a failure detector reports peers that die or come back.
 *
 * `S` types the state every peer holds, e.g. `Gossiper<{ role: string; load: number }>`;
 * without it any key may hold any {@link Value}.
 */
export declare class Gossiper<S extends StateOf<S> = Record<string, Value>> extends EventEmitter {
  /**
   * node-gossip's form: listen on `port` (0: the system picks one), contact `seeds`
   * (`"host:port"`) first, bind `ipToBind` (default: the IPv4 address the host name resolves to).
   * Throws a TypeError or RangeError with a `code` for invalid arguments.
   */
  constructor(port: number, seeds?: string[], ipToBind?: string);
  /** `new Gossiper({ port, seeds, address, ...options })`; see {@link GossiperOptions}. */
  constructor(options: GossiperOptions);

  /** `"ip:port"`, this node's name among its peers; set once started. */
  readonly peer_name: PeerName | undefined;
  /** The port given (0 until started if the system picks one: see `peer_name`). */
  readonly port: number;
  /** The seeds given, as `"host:port"`. */
  readonly seeds: string[];
  /** The bind address given, or null for the host name's address. */
  readonly address: string | null;
  /** Every option with its value in force (given, from the profile, or the default). */
  readonly options: Readonly<Required<Omit<GossiperOptions, 'port' | 'seeds' | 'address' | 'profile' | 'keys'>>> & {
    readonly keys: readonly Buffer[];
  };

  /**
   * Listens and starts gossiping; calls back once listening, with an Error if it cannot listen
   * (a port in use: `err.code === 'EADDRINUSE'`), as node-gossip.
   */
  start(callback: (err?: Error) => void): void;
  /**
   * Listens and starts gossiping; resolves once listening, rejects if it cannot listen
   * (`err.code === 'EADDRINUSE'`) or if `signal` aborts it first.
   */
  start(options?: StartOptions): Promise<void>;
  /**
   * Stops gossip, closes the listener and every connection; resolves when all is closed.
   * `start()` may be called again. With `leave: true` peers are told first.
   */
  stop(options?: StopOptions): Promise<void>;
  /** Tells the cluster this node leaves, then stops: `stop({ leave: true })`. */
  leave(): Promise<void>;
  /** `await using g = new Gossiper(...)`: leaves (`leave()`) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;

  /**
   * Sets a key of this node; it spreads to every peer. Throws a TypeError for a value msgpack
   * cannot carry and a RangeError beyond a limit; the state is then unchanged.
   * With `{ ttlMs }` the key is deleted everywhere that long from now (a `delete` event on
   * peers), even if this node is gone by then; setting it again replaces the deadline, and
   * setting it without `ttlMs` makes it permanent. See {@link SetOptions}.
   */
  setLocalState<K extends Key<S>>(key: K, value: S[K], options?: SetOptions): void;
  /** This node's value of `key`, or undefined. */
  getLocalState<K extends Key<S>>(key: K): S[K] | undefined;
  /** Removes a key of this node everywhere (a `delete` event on peers); returns whether it was set. */
  deleteLocalState(key: Key<S>): boolean;
  /** A peer's value of `key` (`'__heartbeat__'` included), or undefined. */
  peerValue<K extends Key<WithHeartbeat<S>>>(peer: PeerName, key: K): WithHeartbeat<S>[K] | undefined;
  /** A peer's keys, `'__heartbeat__'` included; `[]` for an unknown peer. */
  peerKeys(peer: PeerName): Array<Key<WithHeartbeat<S>>>;
  /** Every known peer's name, this node included, as node-gossip. */
  allPeers(): PeerName[];
  /** The peers the failure detector holds alive, this node included. */
  livePeers(): PeerName[];
  /** The peers reported failed or gone. */
  deadPeers(): PeerName[];
  /** Counters and per-peer failure detector state, read from the native side. */
  stats(): GossiperStats;
  /**
   * Replaces the encryption keys, running or not (key rotation: add the new key everywhere,
   * make it first, then drop the old one). The first seals, all open.
   */
  setKeys(keys: Array<Uint8Array | string>): void;

  /**
   * Adds a listener of `event`: `'update'` (peer, key, value), `'delete'` (peer, key),
   * `'new_peer'`, `'peer_alive'`, `'peer_failed'`, `'peer_left'`, `'peer_removed'` (peer). See {@link GossiperEvents}.
   */
  on<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** `on()`, for the same event's listeners. */
  addListener<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** `on()`, but the listener runs before those already added. */
  prependListener<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** `on()` for the next `event` only. */
  once<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** `once()`, but the listener runs before those already added. */
  prependOnceListener<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** Removes a listener added with `on()` or `once()`. */
  off<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** `off()`. */
  removeListener<E extends keyof GossiperEvents<S>>(event: E, listener: (...args: GossiperEvents<S>[E]) => void): this;
  /** Removes every listener, or every listener of `event`. */
  removeAllListeners(event?: keyof GossiperEvents<S>): this;
  /** The listeners of `event`. */
  listeners<E extends keyof GossiperEvents<S>>(event: E): Array<(...args: GossiperEvents<S>[E]) => void>;
  /** The listeners of `event`, `once()` wrappers included. */
  rawListeners<E extends keyof GossiperEvents<S>>(event: E): Array<(...args: GossiperEvents<S>[E]) => void>;
  /** How many listeners `event` has. */
  listenerCount(event: keyof GossiperEvents<S>): number;
  /** Calls `event`'s listeners, as the gossiper itself does. */
  emit<E extends keyof GossiperEvents<S>>(event: E, ...args: GossiperEvents<S>[E]): boolean;

  /** The key every peer rewrites once a round: `'__heartbeat__'`. */
  static readonly HEARTBEAT_KEY: '__heartbeat__';
  /** Every option: its kind, range, default and documentation. */
  static readonly OPTIONS: typeof OPTIONS;
  /** The option presets `'lan'` and `'local'`. */
  static readonly PROFILES: typeof PROFILES;
}

/** Every option: its kind, range, default and documentation (`lib/options.js`). */
export declare const OPTIONS: Record<string, { kind: string; default: unknown; doc: string }>;
/** The option presets: `'lan'` (node-gossip's timing) and `'local'` (200 ms rounds). */
export declare const PROFILES: Record<'lan' | 'local', Partial<GossiperOptions>>;
