//! What the simulator counts: events by kind, membership changes, bytes per
//! round, and network-wide totals.

use crate::core::time::Millis;

/// Events a node emitted, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub new_peer: u64,
    pub update: u64,
    pub delete: u64,
    pub alive: u64,
    pub failed: u64,
    /// `Failed` about a peer that was up, had not left and was reachable
    /// from the observer when the event fired.
    pub false_failed: u64,
    /// `Left`: the peer announced its leave.
    pub left: u64,
    pub removed: u64,
    /// `Warning` events (misconfiguration; none in a healthy simulation).
    pub warnings: u64,
}

impl EventCounts {
    pub(super) fn add(&mut self, o: &EventCounts) {
        self.new_peer += o.new_peer;
        self.update += o.update;
        self.delete += o.delete;
        self.alive += o.alive;
        self.failed += o.failed;
        self.false_failed += o.false_failed;
        self.left += o.left;
        self.warnings += o.warnings;
        self.removed += o.removed;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipKind {
    Failed,
    Left,
    Alive,
    Removed,
}

/// A membership event, as logged by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub time: Millis,
    pub observer: usize,
    /// The sim node the event is about (`None` for a name no node has).
    pub subject: Option<usize>,
    pub kind: MembershipKind,
    /// For `Failed`: the subject was up, had not left and was reachable.
    pub false_alarm: bool,
}

/// Bytes sent during one round (one `gossip_interval_ms` of virtual time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundBytes {
    pub total: u64,
    /// The most any single node sent.
    pub max_node: u64,
    /// Nodes up at the end of the round.
    pub up: usize,
}

impl RoundBytes {
    pub fn per_node(&self) -> f64 {
        self.total as f64 / self.up.max(1) as f64
    }
}

/// Network-wide counters.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub exchanges_started: u64,
    pub exchanges_completed: u64,
    /// Of the exchanges started, catch-ups (`SimConfig::catch_up_exchanges`).
    pub catch_ups: u64,
    /// Exchanges whose target was dead, unknown or partitioned off.
    pub connect_failures: u64,
    /// Exchanges aborted by a message lost to `loss`.
    pub messages_lost: u64,
    /// Exchanges aborted because an end died/restarted or a partition cut it.
    pub messages_cut: u64,
    /// Messages that did not decode or that a node refused.
    pub refusals: u64,
    pub messages_sent: u64,
    pub bytes_sent: u64,
    /// Largest message seen, by kind (REQUEST, FIRST_RESPONSE, SECOND_RESPONSE).
    pub max_message: [usize; 3],
    /// Messages and bytes sent, by kind.
    pub messages_by_kind: [u64; 3],
    pub bytes_by_kind: [u64; 3],
    /// Datagrams (probes, acks, gossip) sent, their bytes, and those lost.
    pub datagrams_sent: u64,
    pub datagram_bytes: u64,
    pub datagrams_lost: u64,
    /// One entry per finished round.
    pub rounds: Vec<RoundBytes>,
}

impl Metrics {
    pub fn max_message_bytes(&self) -> usize {
        self.max_message.iter().copied().max().unwrap_or(0)
    }

    /// Mean size of a message of each kind.
    pub fn mean_message(&self) -> [f64; 3] {
        std::array::from_fn(|k| {
            self.bytes_by_kind[k] as f64 / self.messages_by_kind[k].max(1) as f64
        })
    }

    /// Mean bytes sent per up node per round over rounds `from..` (rounds
    /// with no node up are skipped).
    pub fn bytes_per_node_per_round(&self, from: usize) -> f64 {
        let rounds: Vec<&RoundBytes> = self.rounds.iter().skip(from).filter(|r| r.up > 0).collect();
        if rounds.is_empty() {
            return 0.0;
        }
        rounds.iter().map(|r| r.per_node()).sum::<f64>() / rounds.len() as f64
    }

    /// The most a single node sent in one round, over rounds `from..`.
    pub fn max_node_bytes_per_round(&self, from: usize) -> u64 {
        self.rounds
            .iter()
            .skip(from)
            .map(|r| r.max_node)
            .max()
            .unwrap_or(0)
    }
}
