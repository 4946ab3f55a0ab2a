//! Counters a node keeps about itself; read by `stats()` in JavaScript.

/// Why a connection was closed early or a message refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Bytes that are not a valid message, or a message of the wrong shape.
    Malformed,
    /// A message larger than `max_message_bytes`.
    TooLarge,
    /// Nesting deeper than allowed.
    TooDeep,
    /// A message of a type that does not fit the exchange.
    Unexpected,
    /// A peer of another cluster (name mismatch).
    WrongCluster,
    /// A sealed message that no key opens, or plain text where keys are set.
    Unauthenticated,
    /// Silence longer than the read timeout, or an exchange over its deadline.
    Timeout,
    /// Too many connections at once.
    ConnectionLimit,
    /// The remote end closed or reset the connection mid-exchange.
    Closed,
}

impl Refusal {
    pub const ALL: [Refusal; 9] = [
        Refusal::Malformed,
        Refusal::TooLarge,
        Refusal::TooDeep,
        Refusal::Unexpected,
        Refusal::WrongCluster,
        Refusal::Unauthenticated,
        Refusal::Timeout,
        Refusal::ConnectionLimit,
        Refusal::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "tooLarge",
            Refusal::TooDeep => "tooDeep",
            Refusal::Unexpected => "unexpected",
            Refusal::WrongCluster => "wrongCluster",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Timeout => "timeout",
            Refusal::ConnectionLimit => "connectionLimit",
            Refusal::Closed => "closed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rounds: u64,
    /// How far the node's own rounds fell behind, in all (ms).
    pub stalled_ms: u64,
    /// Exchanges this node started (rounds, pushes, catch-ups, a leave).
    pub exchanges_started: u64,
    /// Of those, exchanges started at once after one that had to leave
    /// updates out for lack of room (catch-up).
    pub catch_ups: u64,
    /// Exchanges this node started that completed.
    pub exchanges_completed: u64,
    /// Exchanges this node started that ended early.
    pub exchanges_failed: u64,
    /// Exchanges other peers started with this node that completed.
    pub exchanges_served: u64,
    pub connect_failures: u64,
    pub connections_accepted: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub updates_applied: u64,
    /// Updates older than what we hold (already seen through another peer).
    pub updates_stale: u64,
    /// Updates dropped by a state limit (key, value, keys or bytes per peer).
    pub updates_refused: u64,
    /// Updates about ourselves from others, ignored.
    pub updates_about_self: u64,
    /// Peer names that are not `host:port`, or beyond `max_peers`.
    pub peers_refused: u64,
    pub events: u64,
    pub tombstones_collected: u64,
    /// Datagrams (probes, acks, gossip) sent and received; their bytes are
    /// in `bytes_out` and `bytes_in` with the exchanges'.
    pub datagrams_out: u64,
    pub datagrams_in: u64,
    /// Peers this node suspected (a probe went unanswered, or it heard so).
    pub suspicions: u64,
    /// Suspicions of this node it refuted.
    pub refutations: u64,
    /// Repair exchanges started on a summary that differed.
    pub repairs: u64,
    /// Exchanges started to fetch an update too large for a datagram.
    pub pulls: u64,
    /// Deltas of datagrams not applied: they left a gap in what we held of
    /// their peer, whose state was fetched instead.
    pub updates_gapped: u64,
    /// Times this node found its probe timers running late (its own
    /// overload) and held its judgement of peers for a probe period.
    pub lags: u64,
    /// Times this node heard from a peer again after hearing from none
    /// for several probe periods (cut off, or stood still), and dropped
    /// what it had concluded alone.
    pub cut_offs: u64,
    pub refused: [u64; 9],
    /// Warnings by kind (`node::Warning`), counted every time.
    pub warnings: [u64; 5],
}

impl Stats {
    pub fn refuse(&mut self, why: Refusal) {
        self.refused[why as usize] += 1;
    }

    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why as usize]
    }
}
