//! Keys with a time to live (`set_local_expiring`), for leases and presence
//! flags: every holder of such a key deletes it on its own when its time is
//! up, so it goes everywhere on schedule even if its owner died meanwhile.
//!
//! - A holder keeps a deadline per (peer, key), for the version the key had
//!   when it got one, in the driver's clock. An update carries the time the
//!   key has left (milliseconds, see `wire::message`), and its receiver
//!   turns that into a deadline of its own: no clock sync is needed, and the
//!   time a message spends in transit only makes a copy live that much longer.
//! - When the deadline passes, a holder turns its copy into a tombstone at
//!   the same version: the key is gone (`Delete`), and what the holder
//!   gossips later tells peers that never saw the key that it is deleted. A
//!   holder cannot write a newer version of another peer's state; the owner
//!   does, at its own deadline: it deletes the key as `delete_local` does, a
//!   tombstone at a new version, which old node-gossip peers see as a null
//!   value and which supersedes any late copy.
//! - A deadline holds for one version. A newer write of the key (with a time
//!   to live or without), its deletion, or a new incarnation of its owner
//!   leave it without effect: that is checked when the deadline comes and
//!   when the key is sent, so no other write path has to know about it.
//! - Expiry runs on the core's timers (`poll_timeout`): none while stopped;
//!   what fell due meanwhile goes at the first timeout after a start.

use std::collections::BTreeSet;

use super::*;
use crate::core::peer_state::Entry;

/// The longest time to live a key may have: 30 days. It bounds how long a
/// deadline is kept for a key nobody writes again, and a hostile sender's
/// claim.
pub const MAX_TTL_MS: Millis = 30 * 24 * 60 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Deadline {
    /// Driver time the key expires at.
    at: Millis,
    /// The version of the key it applies to.
    version: u64,
}

/// The deadlines of one peer's keys.
#[derive(Clone, Debug, Default)]
pub(super) struct PeerDeadlines {
    /// The peer they were set for: a slot is reused once its peer is
    /// forgotten, and the next peer's keys have no deadlines of the last one.
    name: Arc<str>,
    keys: FxHashMap<Arc<str>, Deadline>,
}

impl PeerDeadlines {
    /// The time `entry` of `key` has left at `now`: `None` without a deadline
    /// for its version, `Some(0)` once due.
    fn left(&self, key: &str, entry: &Entry, now: Millis) -> Option<Millis> {
        let d = self.keys.get(key).filter(|d| d.version == entry.version)?;
        Some(d.at.saturating_sub(now))
    }
}

/// Every deadline a node holds, by peer and in the order they fall due.
#[derive(Clone, Debug, Default)]
pub(super) struct Expiries {
    /// The driver's time at the latest input, which the time left a key is
    /// sent with and a received deadline count from (the time the core is
    /// handed is the failure detector's clock, which a stall holds back).
    now: Millis,
    peers: FxHashMap<PeerId, PeerDeadlines>,
    due: BTreeSet<(Millis, PeerId, Arc<str>)>,
}

impl Expiries {
    /// An input came at driver time `now`.
    pub(super) fn saw(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    fn next(&self) -> Option<Millis> {
        self.due.first().map(|(at, _, _)| *at)
    }

    /// Sets the deadline of `key` of peer `id` (called `name`), replacing
    /// any it had.
    fn set(&mut self, id: PeerId, name: &Arc<str>, key: Arc<str>, deadline: Deadline) {
        let Expiries { peers, due, .. } = self;
        let peer = peers.entry(id).or_insert_with(|| PeerDeadlines {
            name: name.clone(),
            keys: FxHashMap::default(),
        });
        if *peer.name != **name {
            for (k, d) in peer.keys.drain() {
                due.remove(&(d.at, id, k));
            }
            peer.name = name.clone();
        }
        if let Some(old) = peer.keys.insert(key.clone(), deadline) {
            due.remove(&(old.at, id, key.clone()));
        }
        due.insert((deadline.at, id, key));
    }

    fn clear(&mut self, id: PeerId, key: &str) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Some((k, d)) = peer.keys.remove_entry(key) {
            self.due.remove(&(d.at, id, k));
        }
        if peer.keys.is_empty() {
            self.peers.remove(&id);
        }
    }

    /// The earliest deadline due at `now`, taken out.
    fn pop_due(&mut self, now: Millis) -> Option<(PeerId, Arc<str>, Arc<str>, Deadline)> {
        if self.next()? > now {
            return None;
        }
        let (_, id, key) = self.due.pop_first()?;
        let peer = self.peers.get_mut(&id)?;
        let deadline = peer.keys.remove(&key)?;
        let name = peer.name.clone();
        if peer.keys.is_empty() {
            self.peers.remove(&id);
        }
        Some((id, name, key, deadline))
    }
}

/// The update that sends `entry` of `key` of `peer`: as it is, with the time
/// it has left when it has a deadline (to a gossiper peer only: `v1`), or as
/// a deletion when its deadline has passed and its timer not yet fired.
pub(super) fn expiring_delta<'a>(
    peer: &'a str,
    key: &'a str,
    entry: &'a Entry,
    deadlines: Option<&PeerDeadlines>,
    now: Millis,
    v1: bool,
) -> Delta<'a> {
    let mut d = Delta {
        peer,
        key,
        value: entry.value.as_deref(),
        version: entry.version,
        ttl_ms: None,
    };
    if d.value.is_some() {
        match deadlines.and_then(|p| p.left(key, entry, now)) {
            Some(0) => d.value = None,
            left => d.ttl_ms = left.filter(|_| v1),
        }
    }
    d
}

/// The protocol's own keys never expire, whatever a sender claims.
fn reserved(key: &str) -> bool {
    key == HEARTBEAT_KEY || key == LEFT_KEY
}

impl Node {
    /// Writes a local key that every node deletes `ttl_ms` from now (at
    /// least 1 ms, at most `MAX_TTL_MS`: callers check the range): a
    /// `Delete` everywhere, and the owner's tombstone. Writing the key again
    /// replaces the deadline; `set_local` makes it permanent.
    pub fn set_local_expiring(
        &mut self,
        key: &str,
        value: Value,
        ttl_ms: Millis,
        now: Millis,
    ) -> Result<(), StateError> {
        self.set_local(key, value, now)?;
        self.expiries.saw(now);
        let Some(entry) = self.me().state.get(key) else {
            return Ok(());
        };
        let deadline = Deadline {
            at: now.saturating_add(ttl_ms.clamp(1, MAX_TTL_MS)),
            version: entry.version,
        };
        let key = self.me().state.key_arc(key);
        self.expiries.set(self.me, &own_name(), key, deadline);
        Ok(())
    }

    /// The time `key` of peer `id` has left as of the latest input, if it
    /// has a deadline (ourselves included).
    pub fn time_left(&self, id: PeerId, key: &str) -> Option<Millis> {
        let p = self.peer(id)?;
        let entry = p.state.get(key).filter(|e| e.value.is_some())?;
        self.deadlines_of(id, &p.name)?
            .left(key, entry, self.expiries.now)
    }

    /// The deadlines held for the keys of peer `id`, called `name`.
    pub(super) fn deadlines_of(&self, id: PeerId, name: &str) -> Option<&PeerDeadlines> {
        if self.expiries.peers.is_empty() {
            return None;
        }
        let p = self.expiries.peers.get(&id)?;
        (id == self.me || *p.name == *name).then_some(p)
    }

    pub(super) fn expiry_now(&self) -> Millis {
        self.expiries.now
    }

    /// When the next key expires, while started (see `poll_timeout`).
    pub(super) fn next_expiry(&self) -> Option<Millis> {
        self.expiries.next().filter(|_| self.started)
    }

    /// A delta was applied to `key` of peer `id`: its time to live, if it
    /// has one, becomes a deadline here; else it has none any more.
    pub(super) fn expiry_applied(&mut self, id: PeerId, key: &Arc<str>, d: &Delta, live: bool) {
        match d.ttl_ms.filter(|_| live && !reserved(key)) {
            Some(ms) => {
                let Some(name) = self.peer(id).map(|p| p.name.clone()) else {
                    return;
                };
                let deadline = Deadline {
                    at: self.expiries.now.saturating_add(ms.clamp(1, MAX_TTL_MS)),
                    version: d.version,
                };
                self.expiries.set(id, &name, key.clone(), deadline);
            }
            None if !self.expiries.peers.is_empty() => self.expiries.clear(id, key),
            None => {}
        }
    }

    /// Deletes the keys whose time is up at driver time `now`.
    pub(super) fn expire_due(&mut self, now: Millis) {
        self.expiries.saw(now);
        while let Some((id, name, key, deadline)) = self.expiries.pop_due(now) {
            self.expire(id, &name, key, deadline.version, now);
        }
    }

    fn expire(&mut self, id: PeerId, name: &str, key: Arc<str>, version: u64, now: Millis) {
        let judged = self.observe_time(now);
        let me = id == self.me;
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        let current = p
            .state
            .get(&key)
            .is_some_and(|e| e.version == version && e.value.is_some());
        if !current || (!me && *p.name != *name) {
            return; // written again, deleted, or another peer's slot now
        }
        if me {
            // the owner's deletion, as `delete_local` writes it
            let version = p.state.max_version + 1;
            p.state.put(&key, None, version, judged);
            self.note_write();
        } else {
            let before = p.state.bytes();
            p.state.put(&key, None, version, judged);
            self.remote_bytes = self.remote_bytes - before + p.state.bytes();
        }
        self.emit(Event::Delete { peer: id, key });
    }

    /// Before a new incarnation of ours: drops our deadlines that no longer
    /// apply, so that `renumber_own_deadlines`, which sees only the new
    /// versions, moves the others alone.
    pub(super) fn prune_own_deadlines(&mut self) {
        let me = self.me;
        let Some(own) = self.expiries.peers.get(&me) else {
            return;
        };
        let state = &self.me().state;
        let stale: Vec<Arc<str>> = own
            .keys
            .iter()
            .filter(|(key, d)| {
                !state
                    .get(key)
                    .is_some_and(|e| e.value.is_some() && e.version == d.version)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            self.expiries.clear(me, &key);
        }
    }

    /// Our live keys were written again at new versions (a new incarnation,
    /// which keeps every live key): their deadlines follow them.
    pub(super) fn renumber_own_deadlines(&mut self) {
        let me = self.me;
        let Some(own) = self.expiries.peers.get_mut(&me) else {
            return;
        };
        let state = &self.peers[me as usize].as_ref().expect("own slot").state;
        for (key, d) in own.keys.iter_mut() {
            if let Some(e) = state.get(key) {
                d.version = e.version;
            }
        }
    }
}

/// The name our own deadlines are kept under: ours changes at start (it is
/// empty before), and our slot is never reused, so it is not compared.
fn own_name() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    EMPTY.clone()
}

#[cfg(test)]
#[path = "../ttl_tests.rs"]
mod tests;
