//! Every tunable of a node, with its default and why. The JavaScript options
//! (README "Options") map one to one onto these fields.

use super::failure_detector::DetectorConfig;
use super::time::Millis;

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
    /// How long a deleted key's tombstone is kept so the deletion reaches
    /// every peer before it is collected.
    pub tombstone_ttl_ms: Millis,
    /// Our cluster's name; peers of another name are refused.
    pub cluster_name: Option<String>,

    /// Largest outgoing message (bytes): digests and updates that do not fit
    /// are sent over later rounds, oldest changes and least-served peers first.
    pub max_outgoing_message_bytes: usize,
    /// Largest incoming message accepted (bytes). Old node-gossip peers do not
    /// bound what they send, so this is larger than the outgoing budget.
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
            tombstone_ttl_ms: 24 * 60 * 60 * 1000,
            cluster_name: None,
            max_outgoing_message_bytes: 64 * 1024,
            max_message_bytes: 4 * 1024 * 1024,
            max_value_depth: 32,
            max_key_bytes: 1024,
            max_value_bytes: 32 * 1024,
            max_keys_per_peer: 1024,
            max_peer_state_bytes: 1024 * 1024,
            max_peers: 16 * 1024,
            observer: false,
        }
    }
}

impl Config {
    /// Checks relations between fields; the binding checks each field's range.
    pub fn validate(&self) -> Result<(), String> {
        let budget_needed = self.max_value_bytes + self.max_key_bytes + 1024;
        if self.max_outgoing_message_bytes < budget_needed {
            return Err(format!(
                "maxOutgoingMessageBytes ({}) must be at least maxValueBytes + maxKeyBytes + 1024 ({budget_needed}) so any single update fits in a message",
                self.max_outgoing_message_bytes
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

    /// Nesting the scanner allows: the message's own structure (map, updates
    /// array, update tuple) plus the deepest value.
    pub fn max_message_depth(&self) -> usize {
        self.max_value_depth + 4
    }
}
