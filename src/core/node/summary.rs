//! The summary: one 64-bit hash of everything a node holds of every peer
//! (its name, generation, highest version, and whether it is held failed).
//! Two nodes whose summaries agree hold the same versions of the same
//! peers, so a probe and its answer, which carry their senders' summaries,
//! tell in eight bytes whether anything is missing on either side; only
//! then does a repair exchange move the O(N) digest (Scuttlebutt's
//! anti-entropy, paced). It is kept up to date peer by peer: the hash is
//! the XOR of each peer's part, and a change replaces one part.
//!
//! A second hash, of the membership alone (names, generations, failed or
//! not), rides beside it. Versions differ for a while after every write
//! anywhere, so a busy cluster's summaries rarely agree and their repair
//! waits for the news already on its way; a peer missing from a node's
//! view is not on its way, and a node whose membership has settled
//! repairs that at once (see `maybe_repair`).

use super::*;

/// splitmix64's finaliser: every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A peer's part of the summary.
fn part(p: &Peer) -> u64 {
    mix(name_hash(&p.name)
        ^ p.state.max_version.rotate_left(17)
        ^ p.state.generation.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ u64::from(!p.alive || p.left))
}

/// A peer's part of the membership hash: as `part`, without its version.
fn member_part(p: &Peer) -> u64 {
    mix(name_hash(&p.name).rotate_left(29)
        ^ p.state.generation.wrapping_mul(0xd6e8_feb8_6659_fd93)
        ^ u64::from(!p.alive || p.left))
}

impl Node {
    /// Peer `id`'s state or liveness may have changed: its part is redone.
    pub(super) fn touch(&mut self, id: PeerId) {
        let i = id as usize;
        let peer = self.peers.get(i).and_then(Option::as_ref);
        let (new, new_member) = peer.map_or((0, 0), |p| (part(p), member_part(p)));
        if i >= self.summary_parts.len() {
            self.summary_parts.resize(i + 1, (0, 0));
        }
        let (old, old_member) = std::mem::replace(&mut self.summary_parts[i], (new, new_member));
        if old != new {
            self.summary ^= old ^ new;
            self.summary_changed_at = self.clock.last();
        }
        if old_member != new_member {
            self.members ^= old_member ^ new_member;
            self.members_changed_at = self.clock.last();
        }
    }

    /// The summary now.
    pub fn summary(&self) -> u64 {
        self.summary
    }

    /// The membership hash now.
    pub fn members_hash(&self) -> u64 {
        self.members
    }

    /// The summary computed from scratch, to check the kept one.
    #[cfg(all(test, feature = "sim"))]
    pub(crate) fn summary_recomputed(&self) -> u64 {
        self.peers().fold(0, |acc, (_, p)| acc ^ part(p))
    }

    /// The membership hash computed from scratch.
    #[cfg(all(test, feature = "sim"))]
    pub(crate) fn members_recomputed(&self) -> u64 {
        self.peers().fold(0, |acc, (_, p)| acc ^ member_part(p))
    }
}
