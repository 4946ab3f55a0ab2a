//! The peer table: each known peer's slot (its state, detector and flags),
//! the name index over the slots, and the names shared between nodes.

use super::*;

/// What a node holds about one peer (kept small: a simulator holds N² of
/// them; `peer_is_small` checks the size), plus its detector's ring in
/// the node's table of rings and its slot in the name index (the name itself
/// may be shared, see `Names`). When the peer failed is kept apart, for the
/// few that are.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: Arc<str>,
    pub state: PeerState,
    pub detector: FailureDetector,
    pub alive: bool,
    /// The peer announced it left; it stays failed until it restarts.
    pub left: bool,
    /// Its state advanced at least once. Every advance also (re)starts the
    /// detector's clock at the same moment, which is how `last_heard` is known.
    pub(super) heard: bool,
    /// What it speaks, as far as we know (`PROTO_*`).
    pub proto: u8,
}

/// A peer we know nothing of the protocol of yet.
pub const PROTO_UNKNOWN: u8 = 0;
/// node-gossip, or a gossiper before probes: judged by its heartbeats, and
/// it judges us by ours.
pub const PROTO_LEGACY: u8 = 1;
/// It probes and is probed (SWIM), and takes datagrams.
pub const PROTO_PROBES: u8 = 2;

impl Peer {
    /// This peer's line in a digest.
    pub(super) fn digest_item(&self) -> DigestItem<'_> {
        DigestItem {
            peer: &self.name,
            version: self.state.max_version,
            generation: self.state.generation,
        }
    }

    pub(super) fn new(name: Arc<str>, now: Millis) -> Self {
        let mut detector = FailureDetector::new();
        detector.expect_from(now);
        Peer {
            name,
            state: PeerState::new(),
            detector,
            alive: true,
            left: false,
            heard: false,
            proto: PROTO_UNKNOWN,
        }
    }

    /// Local time its state last advanced.
    pub fn last_heard(&self) -> Option<Millis> {
        self.heard.then(|| self.detector.last_started())
    }
}

/// Peer names shared by several nodes of one process (the simulator's
/// thousands): each node that knows a peer holds the same `Arc<str>` instead
/// of a copy. Names no node holds any more are dropped as the table grows.
#[derive(Clone, Debug, Default)]
pub struct Names(Arc<Mutex<NameSet>>);

#[derive(Debug, Default)]
pub(super) struct NameSet {
    names: FxHashSet<Arc<str>>,
    /// Size after the last clean-up.
    kept: usize,
}

impl Names {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of `name`.
    pub fn intern(&self, name: &str) -> Arc<str> {
        let mut set = self.0.lock();
        if let Some(n) = set.names.get(name) {
            return n.clone();
        }
        if set.names.len() >= 2 * set.kept + 1024 {
            set.names.retain(|n| Arc::strong_count(n) > 1);
            set.kept = set.names.len();
        }
        let n: Arc<str> = Arc::from(name);
        set.names.insert(n.clone());
        n
    }

    pub fn len(&self) -> usize {
        self.0.lock().names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The name of an indexed slot (every indexed slot holds a peer).
pub(super) fn slot_name(peers: &[Option<Peer>], id: PeerId) -> &str {
    peers[id as usize].as_ref().map_or("", |p| &p.name)
}

impl Node {
    pub(super) fn index_get_hashed(&self, name: &str, hash: u64) -> Option<PeerId> {
        let peers = &self.peers;
        self.index.get(name, hash, |id| slot_name(peers, id))
    }

    /// Indexes slot `id` under its peer's name.
    pub(super) fn index_insert(&mut self, id: PeerId) {
        let peers = &self.peers;
        self.index
            .insert(id, slot_name(peers, id), |i| slot_name(peers, i));
    }

    /// Unindexes `name` (its slot must still hold it); returns the slot.
    pub(super) fn index_remove(&mut self, name: &str) -> Option<PeerId> {
        let peers = &self.peers;
        self.index.remove(name, |id| slot_name(peers, id))
    }

    pub(super) fn me(&self) -> &Peer {
        self.peers[self.me as usize].as_ref().expect("own slot")
    }

    pub(super) fn me_mut(&mut self) -> &mut Peer {
        self.peers[self.me as usize].as_mut().expect("own slot")
    }

    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id as usize).and_then(Option::as_ref)
    }

    pub fn lookup(&self, name: &str) -> Option<PeerId> {
        self.lookup_hashed(name, name_hash(name))
    }

    /// `lookup` with `name_hash(name)` already known.
    pub(super) fn lookup_hashed(&self, name: &str, hash: u64) -> Option<PeerId> {
        // we are indexed under our name once named, except under ""
        self.index_get_hashed(name, hash)
            .or_else(|| (self.started && name == &*self.me().name).then_some(self.me))
    }

    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i as PeerId, p)))
    }

    /// Peers known, ourselves included.
    pub fn known(&self) -> usize {
        self.index.len()
    }

    /// Adds a peer heard of for the first time. `version` is what the source
    /// claims it holds, to tell a peer that really came back from stale gossip
    /// about a removed one.
    pub(super) fn register(&mut self, name: &str, version: u64, now: Millis) -> Option<PeerId> {
        if !peer_name::is_valid(name) || self.index.len() >= self.config.max_peers {
            self.stats.peers_refused += 1;
            return None;
        }
        if let Some((seen, _)) = self.removed.get(name) {
            if version <= *seen {
                return None;
            }
        }
        self.removed.remove(name);
        let name = self.new_name(name);
        let info = digest_info(&name);
        let peer = Peer::new(name.clone(), now);
        let id = match self.free.pop() {
            Some(id) => {
                self.peers[id as usize] = Some(peer);
                self.digest_info[id as usize] = info;
                id
            }
            None => {
                self.peers.push(Some(peer));
                self.digest_info.push(info);
                self.summary_parts.push((0, 0));
                (self.peers.len() - 1) as PeerId
            }
        };
        self.index_insert(id);
        self.not_probed += 1;
        self.touch(id);
        self.emit(Event::NewPeer {
            peer: id,
            name,
            me: false,
        });
        Some(id)
    }

    /// Empties slot `id` (the peer is forgotten) and returns what it held.
    pub(super) fn free_slot(&mut self, id: PeerId) -> Option<Peer> {
        if id == self.me {
            return None;
        }
        let name = self.peer(id)?.name.clone();
        self.index_remove(&name);
        self.digest_info[id as usize] = 0;
        let p = self.peers[id as usize].take()?;
        self.remote_bytes -= p.state.bytes();
        if p.proto != PROTO_PROBES {
            self.not_probed -= 1;
        }
        self.failed_at.remove(&id);
        self.pending_deletes.remove(&id);
        self.swim.suspects.remove(&id);
        self.rings.release(id);
        self.touch(id);
        self.free.push(id);
        Some(p)
    }

    /// Our copy of a peer's name: the shared one, or a new one.
    pub(super) fn new_name(&self, name: &str) -> Arc<str> {
        match &self.names {
            Some(names) => names.intern(name),
            None => Arc::from(name),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A node holds one per peer it knows, and the simulator N²: a field
    /// that grows it is a cost at scale, to be chosen knowingly.
    #[test]
    fn peer_is_small() {
        assert!(
            std::mem::size_of::<super::Peer>() <= 96,
            "{}",
            std::mem::size_of::<super::Peer>()
        );
    }
}
