//! What the core reports to the application, in the order it happened.

use std::sync::Arc;

use super::node::Warning;
use super::peer_state::Value;

/// Index of a peer in the node's table; reused after a peer is removed, with
/// a `NewPeer` telling the new owner of the slot.
pub type PeerId = u32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A peer entered the table (also sent for ourselves at start, with `me`).
    NewPeer {
        peer: PeerId,
        name: Arc<str>,
        me: bool,
    },
    /// A key was written; for ourselves only the heartbeat is reported.
    Update {
        peer: PeerId,
        key: Arc<str>,
        value: Value,
    },
    /// A live key disappeared (deleted, dropped when its owner restarted, or
    /// expired); for ourselves only an expiry is reported.
    Delete {
        peer: PeerId,
        key: Arc<str>,
    },
    Alive {
        peer: PeerId,
    },
    /// The peer's failure detector convicted it (it crashed, or cannot be
    /// reached).
    Failed {
        peer: PeerId,
    },
    /// The peer announced that it leaves (`leave()`): reported instead of
    /// `Failed`, so an application can tell a planned leave from a crash.
    Left {
        peer: PeerId,
    },
    /// The peer was forgotten after being failed for too long.
    Removed {
        peer: PeerId,
    },
    /// Something is misconfigured (see `Warning`); `peer` is a peer name or
    /// an address, `message` says what in words.
    Warning {
        warning: Warning,
        peer: Arc<str>,
        message: Arc<str>,
    },
}
