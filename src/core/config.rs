//! Every tunable of a node, with its default and why, defined here once.
//! Profiles set them for a kind of network (`Config::lan`, the default, and
//! `Config::local`); the JavaScript options (README "Options") map one to one
//! onto these fields, and take their defaults from here through the binding.

use super::failure_detector::DetectorConfig;
use super::time::Millis;

/// Room around one update in a message of its own: the envelope (type,
/// protocol, cluster name of up to 255 bytes, flags), the peer's name and
/// generation, the version and the msgpack headers, with margin.
pub const UPDATE_ENVELOPE_BYTES: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Time between gossip rounds and heartbeats (node-gossip: 1000 ms).
    pub gossip_interval_ms: Millis,
    /// Live peers contacted per round. node-gossip contacts one; two halves
    /// the rounds a change needs to reach everyone for twice the exchanges.
    pub fanout: usize,
    pub detector: DetectorConfig,
    /// A peer failed for longer than this is forgotten (`peer_removed`).
    /// `None` keeps dead peers forever, as node-gossip does.
    pub dead_peer_removal_ms: Option<Millis>,
    /// When a peer restarts, the keys of its previous life that its new
    /// life has not set again are reported deleted this long after the
    /// restart was noticed: a restarted process usually sets the same keys
    /// again within moments, and a delete followed by the same update is
    /// the flapping service discovery uses gossip to avoid.
    pub restart_grace_ms: Millis,
    /// How long a deleted key's tombstone is kept so the deletion reaches
    /// every peer before it is collected.
    pub tombstone_ttl_ms: Millis,
    /// Our cluster's name; peers of another name are refused.
    pub cluster_name: Option<String>,

    /// What an outgoing message is filled up to (bytes): a batching target,
    /// not a cap on any one update. Digests and updates beyond it go in
    /// catch-up exchanges or later rounds, oldest changes and least-served
    /// peers first; an update larger than it travels alone in its own message.
    pub max_outgoing_message_bytes: usize,
    /// Largest message accepted (bytes); also the hard ceiling of what is
    /// sent. Old node-gossip peers do not bound what they send, and one
    /// update may be as large as `max_value_bytes`, so this must hold the
    /// largest update with its envelope.
    pub max_message_bytes: usize,
    /// Deepest nesting accepted inside a value.
    pub max_value_depth: usize,
    /// Longest key (bytes).
    pub max_key_bytes: usize,
    /// Largest encoded value (bytes).
    pub max_value_bytes: usize,
    /// Most keys one peer may hold.
    pub max_keys_per_peer: usize,
    /// Most bytes of keys and values one peer may hold.
    pub max_peer_state_bytes: usize,
    /// Most bytes of keys and values all remote peers may hold together:
    /// with `max_peers` peers of `max_peer_state_bytes` each, a hostile
    /// source could otherwise claim far more memory than any real cluster.
    pub max_state_bytes: usize,
    /// Most peers tracked; names beyond it are ignored.
    pub max_peers: usize,
    /// A read-only member (monitoring tools): it learns the cluster but never
    /// names itself in a digest, so peers never learn of it.
    pub observer: bool,

    /// Push news (a local write; a key, deletion or peer new to this node)
    /// at once to `fanout` live peers instead of waiting for the next round:
    /// a write then crosses the cluster in network hops. The pushes draw on a
    /// budget (`PUSH_BURST`, refilled one per round), so a node where writes
    /// never stop costs at most one more exchange per round.
    pub push_on_change: bool,
    /// When an exchange had to leave updates out for lack of room, up to this
    /// many more exchanges with the same peer start at once, one after
    /// another, so a large state moves in one go rather than one message per
    /// round. 0 waits for the next round, as node-gossip does.
    pub catch_up_exchanges: u32,

    /// Every node beats its heartbeat and gossips every round, as node-gossip
    /// does, even when every peer speaks probes: `update` events for
    /// `__heartbeat__` come once a round from every peer, at O(N) cost per
    /// node. Off, a cluster of gossiper peers beats only when a node
    /// refutes a suspicion, and probes judge liveness (it is on by itself
    /// while any node-gossip peer is live).
    pub heartbeat_rounds: bool,
    /// Probe peers that speak probes (SWIM over datagrams, protocol 2) and
    /// gossip with them by datagram. Off, the node speaks as gossiper 1.0
    /// did (TCP only, heartbeats every round, judged by them): for networks
    /// that carry no UDP between nodes.
    pub probes: bool,

    /// Time allowed for each message of an exchange to arrive in full.
    pub read_timeout_ms: Millis,
    /// Time allowed to connect to a peer.
    pub connect_timeout_ms: Millis,
    /// Most incoming connections served at once; a new one evicts the one
    /// that waited longest without completing a message.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::lan()
    }
}

impl Config {
    /// For a LAN or a data centre: node-gossip's one-second rounds.
    pub fn lan() -> Self {
        Config {
            gossip_interval_ms: 1000,
            fanout: 2,
            detector: DetectorConfig::default(),
            // node-gossip keeps dead peers forever; with port 0 or
            // containers every restart is a new name, and churn piles them
            // up. An hour outlasts any outage worth remembering a peer
            // through (it comes back as `new_peer` after that).
            dead_peer_removal_ms: Some(60 * 60 * 1000),
            restart_grace_ms: 0,
            tombstone_ttl_ms: 24 * 60 * 60 * 1000,
            cluster_name: None,
            max_outgoing_message_bytes: 64 * 1024,
            max_message_bytes: 4 * 1024 * 1024,
            max_value_depth: 32,
            max_key_bytes: 1024,
            // node-gossip has no limit: apps store config blobs of hundreds
            // of kilobytes, so a value of a mebibyte and its encoding fit
            max_value_bytes: 2 * 1024 * 1024,
            max_keys_per_peer: 1024,
            max_peer_state_bytes: 8 * 1024 * 1024,
            max_state_bytes: 512 * 1024 * 1024,
            max_peers: 16 * 1024,
            observer: false,
            push_on_change: true,
            catch_up_exchanges: 8,
            heartbeat_rounds: false,
            probes: true,
            read_timeout_ms: 5000,
            connect_timeout_ms: 2000,
            max_connections: 256,
        }
        .with_interval(1000)
    }

    /// For nodes on one host or a fast local network (tests, development):
    /// rounds five times as often, shorter timeouts.
    pub fn local() -> Self {
        Config {
            read_timeout_ms: 2000,
            connect_timeout_ms: 1000,
            ..Config::lan()
        }
        .with_interval(200)
    }

    /// A profile by its name (`lan`, `local`).
    pub fn profile(name: &str) -> Option<Self> {
        match name {
            "lan" => Some(Config::lan()),
            "local" => Some(Config::local()),
            _ => None,
        }
    }

    /// Sets the round interval and the defaults that scale with it, so that
    /// detection and grace times keep their meaning in rounds: the detector
    /// assumes three quarters of a round before a peer's second heartbeat,
    /// a deviation of at least a quarter round, a pause of two rounds; a
    /// restarted peer has five rounds to set its keys again.
    pub fn with_interval(mut self, interval_ms: Millis) -> Self {
        let ms = interval_ms as f64;
        self.gossip_interval_ms = interval_ms;
        self.detector.initial_interval_ms = 0.75 * ms;
        self.detector.min_std_dev_ms = 0.25 * ms;
        self.detector.acceptable_pause_ms = 2.0 * ms;
        self.restart_grace_ms = 5 * interval_ms;
        self
    }

    /// Checks relations between fields; the binding checks each field's range.
    pub fn validate(&self) -> Result<(), String> {
        let largest_update = self.largest_update_bytes();
        if self.max_message_bytes < largest_update {
            return Err(format!(
                "maxMessageBytes ({}) must be at least maxValueBytes + maxKeyBytes + {UPDATE_ENVELOPE_BYTES} ({largest_update}) so the largest update fits in a message",
                self.max_message_bytes
            ));
        }
        if self.max_message_bytes < self.max_outgoing_message_bytes {
            return Err(format!(
                "maxMessageBytes ({}) must be at least maxOutgoingMessageBytes ({})",
                self.max_message_bytes, self.max_outgoing_message_bytes
            ));
        }
        if self.fanout == 0 {
            return Err("fanout must be at least 1".into());
        }
        Ok(())
    }

    /// The largest single update a message may have to carry, with the
    /// message around it (see `UPDATE_ENVELOPE_BYTES`).
    pub fn largest_update_bytes(&self) -> usize {
        self.max_value_bytes + self.max_key_bytes + UPDATE_ENVELOPE_BYTES
    }

    /// Nesting the scanner allows: the message's own structure (map, updates
    /// array, update tuple) plus the deepest value.
    pub fn max_message_depth(&self) -> usize {
        self.max_value_depth + 4
    }
}
