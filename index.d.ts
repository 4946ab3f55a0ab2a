// Type definitions for gossiper 1.0.
/// <reference types="node" />
import { EventEmitter } from 'events';

/** A peer's name: `"ip:port"`. */
export type PeerName = string;

/**
 * Any value msgpack can carry: strings, numbers, booleans, null, BigInt
 * (64-bit), Buffer/Uint8Array, Date, arrays and plain objects of these.
 * Functions, symbols, Map, Set, wider BigInts and cycles are refused.
 */
export type GossipValue = unknown;

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
  /** Forget a peer failed for this long (`'peer_removed'`); null keeps dead peers forever. Default null. */
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
  /** Most incoming connections served at once. Default 256. */
  maxConnections?: number;
}

export interface PeerStats {
  name: PeerName;
  status: 'alive' | 'failed' | 'left';
  phi: number;
  lastHeardMsAgo?: number;
  keys: number;
  maxVersion: number;
  generation: number;
}

export interface GossiperStats {
  rounds: number;
  /**
   * How far this node's own rounds fell behind (an overloaded or suspended process), in ms, in all.
   * The failure detector does not count that time as the peers' silence.
   */
  stalledMs: number;
  exchangesStarted: number;
  /** Of those, started at once because the last exchange with the peer had to leave updates out (`catchUpExchanges`). */
  catchUps: number;
  exchangesCompleted: number;
  exchangesFailed: number;
  connectFailures: number;
  connectionsAccepted: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  updatesApplied: number;
  updatesStale: number;
  updatesRefused: number;
  updatesAboutSelf: number;
  peersRefused: number;
  tombstonesCollected: number;
  events: number;
  /** Connections closed early, by reason. */
  refused: Record<
    'malformed' | 'tooLarge' | 'tooDeep' | 'unexpected' | 'wrongCluster' | 'unauthenticated' | 'timeout' | 'connectionLimit' | 'closed',
    number
  >;
  peersLive: number;
  peersDead: number;
  peers: PeerStats[];
}

export interface StopOptions {
  /** Tell peers we leave, so they report us failed at once. */
  leave?: boolean;
}

export declare class Gossiper extends EventEmitter {
  /** node-gossip's form. */
  constructor(port: number, seeds?: string[], ipToBind?: string);
  constructor(options: GossiperOptions);

  /** `"ip:port"`, set once started. */
  peer_name: PeerName | undefined;
  readonly port: number;
  readonly seeds: string[];
  readonly address: string | null;
  readonly options: Readonly<Required<Omit<GossiperOptions, 'port' | 'seeds' | 'address' | 'profile' | 'keys'>>> & {
    readonly keys: readonly Buffer[];
  };

  /** Calls back once listening (with an Error if it cannot listen). */
  start(callback: (err?: Error) => void): void;
  /** Resolves once listening. */
  start(): Promise<void>;
  /** Stops gossip, closes the listener and connections. */
  stop(options?: StopOptions): Promise<void>;
  /** `stop({ leave: true })`. */
  leave(): Promise<void>;

  setLocalState(key: string, value: GossipValue): void;
  getLocalState(key: string): GossipValue | undefined;
  /** Removes a key everywhere; returns whether it was set. */
  deleteLocalState(key: string): boolean;
  peerValue(peer: PeerName, key: string): GossipValue | undefined;
  peerKeys(peer: PeerName): string[];
  /** Every known peer, this node included. */
  allPeers(): PeerName[];
  livePeers(): PeerName[];
  deadPeers(): PeerName[];
  stats(): GossiperStats;
  /** Replaces the encryption keys (rotation): the first seals, all open. */
  setKeys(keys: Array<Uint8Array | string>): void;

  on(event: 'update', listener: (peer: PeerName, key: string, value: GossipValue) => void): this;
  on(event: 'delete', listener: (peer: PeerName, key: string) => void): this;
  on(event: 'new_peer' | 'peer_alive' | 'peer_failed' | 'peer_removed', listener: (peer: PeerName) => void): this;
  once(event: 'update', listener: (peer: PeerName, key: string, value: GossipValue) => void): this;
  once(event: 'delete', listener: (peer: PeerName, key: string) => void): this;
  once(event: 'new_peer' | 'peer_alive' | 'peer_failed' | 'peer_removed', listener: (peer: PeerName) => void): this;
  addListener(event: 'update', listener: (peer: PeerName, key: string, value: GossipValue) => void): this;
  addListener(event: 'delete', listener: (peer: PeerName, key: string) => void): this;
  addListener(event: 'new_peer' | 'peer_alive' | 'peer_failed' | 'peer_removed', listener: (peer: PeerName) => void): this;
  off(event: 'update', listener: (peer: PeerName, key: string, value: GossipValue) => void): this;
  off(event: 'delete', listener: (peer: PeerName, key: string) => void): this;
  off(event: 'new_peer' | 'peer_alive' | 'peer_failed' | 'peer_removed', listener: (peer: PeerName) => void): this;
  emit(event: 'update', peer: PeerName, key: string, value: GossipValue): boolean;
  emit(event: 'delete', peer: PeerName, key: string): boolean;
  emit(event: 'new_peer' | 'peer_alive' | 'peer_failed' | 'peer_removed', peer: PeerName): boolean;

  static readonly HEARTBEAT_KEY: '__heartbeat__';
}

export declare const OPTIONS: Record<string, { kind: string; default: unknown; doc: string }>;
export declare const PROFILES: Record<'lan' | 'local', Partial<GossiperOptions>>;
