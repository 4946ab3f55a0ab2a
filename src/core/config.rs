//! Every tunable of a node, with its default and why. The JavaScript options
//! (README "Options") map one to one onto these fields.

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gossip_interval_ms: 1000,
            fanout: 2,
            detector: DetectorConfig::default(),
            dead_peer_removal_ms: None,
            restart_grace_ms: 5_000,
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
        }
    }
}

impl Config {
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
