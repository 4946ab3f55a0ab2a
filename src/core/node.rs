//! The sans-IO gossip node: node-gossip's Scuttlebutt exchange and phi
//! accrual failure detection, with gossiper's fixes and extensions.
//!
//! The runtime (or the simulator) drives it with explicit time:
//! - `tick(now)` once per round: heartbeat, liveness, clean-up; it returns
//!   the peers to start an exchange with, each opened by `request()`.
//! - an exchange is three messages: REQUEST (digest) → FIRST_RESPONSE
//!   (deltas + requests) → SECOND_RESPONSE (requested deltas); the
//!   `handle_*` methods consume one and produce the next, as bytes.
//! - `take_events()` drains what the application should hear.

use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};

use super::config::Config;
use super::event::{Event, PeerId};
use super::failure_detector::{ring_len, FailureDetector, Sample};
use super::name_index::{name_hash, same_name, NameIndex};
use super::peer_name;
use super::peer_state::{heartbeat_key, PeerState, Value};
use super::stats::{Refusal, Stats};
use super::time::Millis;
use crate::wire::message::{self, delta_size, digest_item_size, envelope_size, version_entry_size};
use crate::wire::write::str_size;
use crate::wire::{Delta, DigestItem, Ext, Request, Response};

/// The heartbeat key, an ordinary key whose value counts rounds (as node-gossip).
pub const HEARTBEAT_KEY: &str = "__heartbeat__";
/// Set by a peer that leaves the cluster on purpose; never shown as a key.
pub const LEFT_KEY: &str = "__left__";

const MSGPACK_TRUE: &[u8] = &[0xc3];
const NIL: &[u8] = &[0xc0];

/// A claim that we wrote versions this high is not believed: starting above
/// it would leave no room below 2^53 (JavaScript's exact integers), and every
/// version we ever wrote was seeded from the clock, far below it.
const REBIRTH_CEILING: u64 = 1 << 52;

/// How far above the highest version a peer saw of our last life a rebirth
/// starts: one second of the microsecond clock versions are seeded from. A
/// peer that names us saw our last life up to some version, but others may
/// have seen more of it; versions of ours they hold at or above our new
/// generation would make them refuse our rewrites at those versions.
const REBIRTH_MARGIN: u64 = 1_000_000;

/// Errors of the local write API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    KeyTooLong { len: usize, max: usize },
    ReservedKey(String),
    ValueTooLarge { len: usize, max: usize },
    TooManyKeys { max: usize },
    StateTooLarge { max: usize },
}

impl StateError {
    /// The stable `code` of the error JavaScript throws for it.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::KeyTooLong { .. } => "ERR_GOSSIPER_KEY_TOO_LONG",
            StateError::ReservedKey(_) => "ERR_GOSSIPER_RESERVED_KEY",
            StateError::ValueTooLarge { .. } => "ERR_GOSSIPER_VALUE_TOO_LARGE",
            StateError::TooManyKeys { .. } => "ERR_GOSSIPER_TOO_MANY_KEYS",
            StateError::StateTooLarge { .. } => "ERR_GOSSIPER_STATE_TOO_LARGE",
        }
    }
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::KeyTooLong { len, max } => {
                write!(f, "key is {len} bytes, over maxKeyBytes ({max})")
            }
            StateError::ReservedKey(k) => write!(f, "key '{k}' is reserved by gossiper"),
            StateError::ValueTooLarge { len, max } => {
                write!(
                    f,
                    "value encodes to {len} bytes, over maxValueBytes ({max})"
                )
            }
            StateError::TooManyKeys { max } => {
                write!(f, "this peer already holds maxKeysPerPeer ({max}) keys")
            }
            StateError::StateTooLarge { max } => {
                write!(
                    f,
                    "this write would take the local state over maxPeerStateBytes ({max})"
                )
            }
        }
    }
}

/// What a node holds about one peer: 88 bytes, plus its detector's ring in
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
    pub seed: bool,
    /// Its state advanced at least once. Every advance also (re)starts the
    /// detector's clock at the same moment, which is how `last_heard` is known.
    heard: bool,
}

impl Peer {
    /// This peer's line in a digest.
    fn digest_item(&self) -> DigestItem<'_> {
        DigestItem {
            peer: &self.name,
            version: self.state.max_version,
            generation: self.state.generation,
        }
    }

    fn new(name: Arc<str>, now: Millis) -> Self {
        let mut detector = FailureDetector::new();
        detector.expect_from(now);
        Peer {
            name,
            state: PeerState::new(),
            detector,
            alive: true,
            left: false,
            seed: false,
            heard: false,
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
struct NameSet {
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

/// Slots of the cache of heartbeat values (see `Node::heartbeat_value`).
const HEARTBEAT_VALUES: usize = 64;

/// After this many peers in a row whose next delta did not fit, a message is
/// taken as full: trying the rest of thousands of peers for the last few
/// bytes costs more than it brings.
const MAX_MISSES: usize = 64;

/// The initiator's answer to a FIRST_RESPONSE.
#[derive(Debug)]
pub struct SecondResponse {
    pub message: Vec<u8>,
    /// Either side left updates or requests out for lack of room: another
    /// exchange with the same peer at once would move more (catch-up).
    pub more: bool,
}

/// The name of an indexed slot (every indexed slot holds a peer).
fn slot_name(peers: &[Option<Peer>], id: PeerId) -> &str {
    peers[id as usize].as_ref().map_or("", |p| &p.name)
}

/// `a` and `b` alternately, then what is left of the longer.
fn interleave<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => {
                out.extend(x);
                out.extend(y);
            }
        }
    }
}

/// Slices of the name space, by the low bits of `name_hash`: a digest too
/// large for one message lists a run of consecutive slices, in slice order.
const SLICES: usize = 1024;

fn slice_of(hash: u64) -> usize {
    hash as usize & (SLICES - 1)
}

/// A slot's entry in `Node::digest_info`: the low 16 bits of its name's hash
/// and, above, an upper bound of the bytes its digest entry takes.
fn digest_info(name: &str) -> u32 {
    let size = str_size(name) + 2 * 9;
    ((size as u32) << 16) | (name_hash(name) as u32 & 0xffff)
}

fn info_size(info: u32) -> usize {
    (info >> 16) as usize
}

/// The names a digest covers: the requester knows no other name in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Covered {
    /// A complete digest: every name.
    All,
    /// Slices `first ..= first + span` (modulo `SLICES`).
    Slices { first: usize, span: usize },
}

impl Covered {
    fn contains(self, hash: u64) -> bool {
        match self {
            Covered::All => true,
            Covered::Slices { first, span } => (slice_of(hash) + SLICES - first) % SLICES <= span,
        }
    }
}

/// What a digest covers. A split digest lists the requester itself, then
/// the names of a run of slices in slice order; 32 or more names in slice
/// order are taken for one (a window of names in any other order is
/// sorted by chance with odds far below 2^-32). Anything else covers
/// nothing known.
fn digest_coverage(digest: &[DigestItem], hashes: &[u64], complete: bool) -> Option<Covered> {
    if complete {
        return Some(Covered::All);
    }
    if digest.len() < 33 {
        return None;
    }
    let first = slice_of(hashes[1]);
    let mut span = 0;
    for &h in &hashes[2..] {
        let at = (slice_of(h) + SLICES - first) % SLICES;
        if at < span {
            return None;
        }
        span = at;
    }
    Some(Covered::Slices { first, span })
}

/// The value of a heartbeat from `cache`: heartbeats are counters that every
/// peer advances about once a round, so the peers a node holds carry a few
/// dozen distinct values between them, and one copy of each serves them all.
fn heartbeat_value(cache: &mut [Option<Value>; HEARTBEAT_VALUES], bytes: &[u8]) -> Value {
    let Some(&last) = bytes.last().filter(|_| bytes.len() <= 9) else {
        return Arc::from(bytes);
    };
    let slot = &mut cache[last as usize % HEARTBEAT_VALUES];
    match slot {
        Some(v) if **v == *bytes => v.clone(),
        _ => {
            let v: Value = Arc::from(bytes);
            *slot = Some(v.clone());
            v
        }
    }
}

/// Keys a restarted peer held in its previous life, not yet set again.
#[derive(Clone, Debug)]
struct PendingDeletes {
    due: Millis,
    keys: Vec<Arc<str>>,
}

/// A peer's view for `stats()`.
#[derive(Clone, Debug)]
pub struct PeerReport {
    pub name: Arc<str>,
    pub alive: bool,
    pub left: bool,
    pub phi: f64,
    pub last_heard_ms_ago: Option<Millis>,
    pub keys: usize,
    pub max_version: u64,
    pub generation: u64,
}

pub struct Node {
    config: Config,
    peers: Vec<Option<Peer>>,
    /// The detectors' samples: `ring_len` slots per peer slot.
    rings: Vec<Sample>,
    /// Per slot, its name's partition and digest entry size (`digest_info`);
    /// 0 for ourselves and empty slots. Read to plan a split digest, and to
    /// find the peers of a partition, without touching the peers.
    digest_info: Vec<u32>,
    /// The slice the next split digest starts at.
    digest_slice: usize,
    ring_len: usize,
    free: Vec<PeerId>,
    /// Slots by name (hashed with `name_hash`; the names are the peers').
    index: NameIndex,
    /// When each failed peer was reported failed, kept only when failed peers
    /// are removed after a while (`dead_peer_removal_ms`).
    failed_at: FxHashMap<PeerId, Millis>,
    /// Where new peers' names come from when shared with other nodes.
    names: Option<Names>,
    /// Recent heartbeat values, shared by every peer that holds one of them.
    heartbeat_values: [Option<Value>; HEARTBEAT_VALUES],
    me: PeerId,
    /// Names forgotten after a long failure, with the version they had then,
    /// so stale gossip about them does not bring them back.
    removed: FxHashMap<Arc<str>, (u64, Millis)>,
    rng: fastrand::Rng,
    events: Vec<Event>,
    heartbeat: u64,
    /// The last liveness check, to notice a stall of our own.
    last_check: Option<Millis>,
    /// No peer is judged before this moment (one round after our own stall).
    judge_from: Millis,
    digest_cursor: usize,
    missing_cursor: usize,
    started: bool,
    /// Bytes of keys and values held for remote peers, all together
    /// (bounded by `max_state_bytes`).
    remote_bytes: usize,
    /// Keys of restarted peers' previous lives, reported deleted at `due`
    /// unless the new life sets them again first (`restart_grace_ms`).
    pending_deletes: FxHashMap<PeerId, PendingDeletes>,
    /// Failed peers whose state advanced in the message being applied.
    revived: Vec<PeerId>,
    pub stats: Stats,
}

/// Liveness checks per gossip round (see `Node::liveness_check_interval`).
pub const LIVENESS_CHECKS_PER_ROUND: Millis = 4;

impl Node {
    /// A node whose first write will carry version `generation` (seed it from
    /// `time::wall_clock_version()` so versions grow across restarts).
    pub fn new(config: Config, generation: u64, rng_seed: u64) -> Self {
        let mut me = Peer::new(Arc::from(""), 0);
        me.state.generation = generation.max(1);
        me.state.max_version = generation.max(1) - 1;
        let ring_len = ring_len(&config.detector);
        Node {
            config,
            peers: vec![Some(me)],
            rings: vec![0; ring_len],
            ring_len,
            digest_info: vec![0],
            digest_slice: 0,
            free: Vec::new(),
            index: NameIndex::default(),
            failed_at: FxHashMap::default(),
            names: None,
            heartbeat_values: std::array::from_fn(|_| None),
            me: 0,
            removed: FxHashMap::default(),
            rng: fastrand::Rng::with_seed(rng_seed),
            events: Vec::new(),
            heartbeat: 0,
            last_check: None,
            judge_from: 0,
            digest_cursor: 0,
            missing_cursor: 0,
            started: false,
            remote_bytes: 0,
            pending_deletes: FxHashMap::default(),
            revived: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the names of new peers from `names`, shared with other nodes.
    pub fn share_names(&mut self, names: &Names) {
        self.names = Some(names.clone());
    }

    /// Makes room for `peers` peers in all, at once (a simulator that knows
    /// how many there will be spares the tables' doubling).
    pub fn reserve_peers(&mut self, peers: usize) {
        let more = peers.saturating_sub(self.peers.len());
        self.peers.reserve_exact(more);
        self.digest_info.reserve_exact(more);
        self.rings.reserve_exact(more * self.ring_len);
        let index_more = peers.saturating_sub(self.index.len());
        let slots = &self.peers;
        self.index.reserve(index_more, |id| slot_name(slots, id));
    }

    /// The detector's samples of slot `id`.
    pub fn ring(&self, id: PeerId) -> &[Sample] {
        let at = id as usize * self.ring_len;
        &self.rings[at..at + self.ring_len]
    }

    /// Suspicion level of peer `id` at `now` (0 for ourselves or no peer).
    pub fn phi(&self, id: PeerId, now: Millis) -> f64 {
        match self.peer(id) {
            Some(p) if id != self.me => p.detector.phi(now, &self.config.detector, self.ring(id)),
            _ => 0.0,
        }
    }

    /// Mean inter-arrival time the detector of peer `id` assumes.
    pub fn detector_mean(&self, id: PeerId) -> Option<f64> {
        let p = self.peer(id)?;
        Some(p.detector.mean(&self.config.detector, self.ring(id)))
    }

    fn index_get_hashed(&self, name: &str, hash: u64) -> Option<PeerId> {
        let peers = &self.peers;
        self.index.get(name, hash, |id| slot_name(peers, id))
    }

    /// Indexes slot `id` under its peer's name.
    fn index_insert(&mut self, id: PeerId) {
        let peers = &self.peers;
        self.index
            .insert(id, slot_name(peers, id), |i| slot_name(peers, i));
    }

    /// Unindexes `name` (its slot must still hold it); returns the slot.
    fn index_remove(&mut self, name: &str) -> Option<PeerId> {
        let peers = &self.peers;
        self.index.remove(name, |id| slot_name(peers, id))
    }

    pub fn name(&self) -> &Arc<str> {
        &self.me().name
    }

    pub fn me_id(&self) -> PeerId {
        self.me
    }

    fn me(&self) -> &Peer {
        self.peers[self.me as usize].as_ref().expect("own slot")
    }

    fn me_mut(&mut self) -> &mut Peer {
        self.peers[self.me as usize].as_mut().expect("own slot")
    }

    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id as usize).and_then(Option::as_ref)
    }

    fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn lookup(&self, name: &str) -> Option<PeerId> {
        self.lookup_hashed(name, name_hash(name))
    }

    /// `lookup` with `name_hash(name)` already known.
    fn lookup_hashed(&self, name: &str, hash: u64) -> Option<PeerId> {
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

    pub fn generation(&self) -> u64 {
        self.me().state.generation
    }

    pub fn local_state(&self) -> &PeerState {
        &self.me().state
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn emit(&mut self, e: Event) {
        self.stats.events += 1;
        self.events.push(e);
    }

    // ---- life cycle ----------------------------------------------------

    /// Names the node (known once it listens) and registers the seeds.
    /// Called again after a stop, the state is kept.
    pub fn start(&mut self, name: &str, seeds: &[String], now: Millis) {
        if &*self.me().name != name {
            if let Some(other) = self.index_remove(name) {
                // someone gossiped about our address before we took it
                if let Some(p) = self.peers[other as usize].take() {
                    self.remote_bytes -= p.state.bytes();
                }
                self.pending_deletes.remove(&other);
                self.digest_info[other as usize] = 0;
                self.failed_at.remove(&other);
                self.free.push(other);
            }
            let old = self.me().name.clone();
            self.index_remove(&old);
            self.me_mut().name = self.new_name(name);
            if !name.is_empty() {
                self.index_insert(self.me);
            }
        }
        if self.me().state.value(LEFT_KEY).is_some() {
            // back after a leave: a new incarnation without the leave marker,
            // so peers drop the marker with the old generation
            let version = self.me().state.max_version + 1;
            self.me_mut().state.put(LEFT_KEY, None, version, now);
            let floor = self.me().state.max_version;
            self.rebirth(floor);
        }
        self.started = true;
        let me_name = self.me().name.clone();
        self.emit(Event::NewPeer {
            peer: self.me,
            name: me_name,
            me: true,
        });
        for seed in seeds {
            if seed.as_str() == &*self.me().name {
                continue;
            }
            if let Some(id) = self
                .lookup(seed)
                .or_else(|| self.register(seed, u64::MAX, now))
            {
                if let Some(p) = self.peer_mut(id) {
                    p.seed = true;
                }
            }
        }
        // Back after a stop: while stopped we heard nothing, and that silence
        // is ours. Live peers are judged from now on, as if just heard from;
        // one that died meanwhile is reported after the usual detection time.
        for (i, p) in self.peers.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if i as PeerId != self.me && p.alive && !p.left && p.detector.last_arrival().is_some() {
                p.detector.restart_at(Some(now));
            }
        }
        self.last_check = Some(now);
        self.beat();
    }

    pub fn stop(&mut self) {
        self.started = false;
        self.last_check = None;
    }

    fn beat(&mut self) {
        self.heartbeat += 1;
        let mut value = Vec::with_capacity(9);
        crate::wire::write::write_uint(&mut value, self.heartbeat);
        let value: Value = Arc::from(value);
        let version = self.me().state.max_version + 1;
        self.me_mut()
            .state
            .put(HEARTBEAT_KEY, Some(value.clone()), version, 0);
        self.emit(Event::Update {
            peer: self.me,
            key: heartbeat_key().clone(),
            value,
        });
    }

    /// One gossip round: heartbeat, liveness, clean-up. Returns the peers to
    /// start an exchange with.
    pub fn tick(&mut self, now: Millis) -> Vec<Arc<str>> {
        self.stats.rounds += 1;
        self.beat();
        self.check_liveness(now);
        self.remove_long_dead(now);
        self.collect_tombstones(now);
        let targets = self.choose_targets();
        self.names(&targets)
    }

    /// Time between liveness checks: a round's tick checks, and the runtime
    /// (`runtime::liveness`) checks this often in between, so that a peer is
    /// reported within a fraction of a round of its detector's verdict.
    pub fn liveness_check_interval(&self) -> Millis {
        (self.config.gossip_interval_ms / LIVENESS_CHECKS_PER_ROUND).max(1)
    }

    /// Reports peers whose detector's verdict changed (`Failed`, `Alive`),
    /// and restarted peers' old keys whose grace is over (`Delete`).
    pub fn check_liveness(&mut self, now: Millis) {
        if !self.started {
            return;
        }
        self.flush_pending_deletes(now);
        // After a stall of our own (suspended process, overloaded machine) the
        // silence is ours, not the peers': judge them again a round later.
        let stalled = self
            .last_check
            .is_some_and(|last| now.saturating_sub(last) > 3 * self.config.gossip_interval_ms);
        self.last_check = Some(now);
        if stalled {
            self.judge_from = now + self.config.gossip_interval_ms;
        }
        if now < self.judge_from {
            return;
        }
        let cfg = &self.config.detector;
        let removal = self.config.dead_peer_removal_ms.is_some();
        let w = self.ring_len;
        let mut changes = Vec::new();
        for ((i, slot), ring) in self
            .peers
            .iter_mut()
            .enumerate()
            .zip(self.rings.chunks_exact(w))
        {
            let Some(p) = slot else { continue };
            if i as PeerId == self.me || p.left {
                continue;
            }
            let suspected = p.detector.suspected(now, cfg, ring);
            if p.alive && suspected {
                p.alive = false;
                if removal {
                    self.failed_at.insert(i as PeerId, now);
                }
                changes.push(Event::Failed { peer: i as PeerId });
            } else if !p.alive && !suspected {
                p.alive = true;
                self.failed_at.remove(&(i as PeerId));
                changes.push(Event::Alive { peer: i as PeerId });
            }
        }
        for e in changes {
            self.emit(e);
        }
    }

    /// Defers the deletion of `keys`, which a restarted peer `id` held in its
    /// previous life, by `restart_grace_ms`.
    fn defer_deletes(&mut self, id: PeerId, keys: Vec<Arc<str>>, now: Millis) {
        if keys.is_empty() {
            return;
        }
        if self.config.restart_grace_ms == 0 {
            for key in keys {
                self.emit(Event::Delete { peer: id, key });
            }
            return;
        }
        let due = now + self.config.restart_grace_ms;
        let pending = self.pending_deletes.entry(id).or_insert(PendingDeletes {
            due,
            keys: Vec::new(),
        });
        pending.due = due;
        for key in keys {
            if !pending.keys.contains(&key) {
                pending.keys.push(key);
            }
        }
    }

    /// Whether `key` of peer `id` waits to be reported deleted; it no
    /// longer does once this returns.
    fn take_pending_delete(&mut self, id: PeerId, key: &str) -> bool {
        let Some(pending) = self.pending_deletes.get_mut(&id) else {
            return false;
        };
        let Some(i) = pending.keys.iter().position(|k| &**k == key) else {
            return false;
        };
        pending.keys.swap_remove(i);
        if pending.keys.is_empty() {
            self.pending_deletes.remove(&id);
        }
        true
    }

    /// Reports deleted the old keys whose grace is over and that the new
    /// life did not set again.
    fn flush_pending_deletes(&mut self, now: Millis) {
        if self.pending_deletes.is_empty() {
            return;
        }
        let mut due: Vec<PeerId> = self
            .pending_deletes
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(&id, _)| id)
            .collect();
        due.sort_unstable();
        for id in due {
            let Some(pending) = self.pending_deletes.remove(&id) else {
                continue;
            };
            for key in pending.keys {
                let set_again = self.peer(id).is_some_and(|p| p.state.value(&key).is_some());
                if !set_again {
                    self.emit(Event::Delete { peer: id, key });
                }
            }
        }
    }

    fn remove_long_dead(&mut self, now: Millis) {
        let keep_removed = self
            .config
            .tombstone_ttl_ms
            .max(self.config.dead_peer_removal_ms.unwrap_or(0));
        self.removed
            .retain(|_, (_, at)| now.saturating_sub(*at) < keep_removed);
        let Some(after) = self.config.dead_peer_removal_ms else {
            return;
        };
        let mut expired: Vec<PeerId> = self
            .failed_at
            .iter()
            .filter(|&(&id, &t)| id != self.me && now.saturating_sub(t) >= after)
            .map(|(&id, _)| id)
            .collect();
        expired.sort_unstable();
        for id in expired {
            self.failed_at.remove(&id);
            self.pending_deletes.remove(&id);
            if let Some(name) = self.peer(id).map(|p| p.name.clone()) {
                self.index_remove(&name);
            }
            self.digest_info[id as usize] = 0;
            if let Some(p) = self.peers[id as usize].take() {
                self.remote_bytes -= p.state.bytes();
                self.removed
                    .insert(p.name.clone(), (p.state.max_version, now));
                self.free.push(id);
                self.emit(Event::Removed { peer: id });
            }
        }
    }

    fn collect_tombstones(&mut self, now: Millis) {
        let cutoff = now.saturating_sub(self.config.tombstone_ttl_ms);
        if cutoff == 0 {
            return;
        }
        let mut collected = 0;
        for (i, p) in self.peers.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if p.state.tombstones() > 0 {
                let before = p.state.bytes();
                collected += p.state.collect_tombstones(cutoff) as u64;
                if i as PeerId != self.me {
                    self.remote_bytes -= before - p.state.bytes();
                }
            }
        }
        self.stats.tombstones_collected += collected;
    }

    /// node-gossip's choice, from Cassandra: live peers at random (now
    /// `fanout` of them), a dead one with probability dead/(live+1), and a
    /// seed when too few peers are live or, rarely, at random — so a node
    /// whose peers all failed, or a healed partition, finds its way back.
    fn choose_targets(&mut self) -> Vec<PeerId> {
        let mut live = Vec::new();
        let mut dead = Vec::new();
        let mut seeds = Vec::new();
        for (id, p) in self.peers() {
            if id == self.me || p.left {
                continue;
            }
            if p.alive {
                live.push(id);
            } else {
                dead.push(id);
            }
            if p.seed {
                seeds.push(id);
            }
        }
        let mut targets: Vec<PeerId> = Vec::new();
        let n = self.config.fanout.min(live.len());
        for i in 0..n {
            let j = self.rng.usize(i..live.len());
            live.swap(i, j);
            targets.push(live[i]);
        }
        if !dead.is_empty() && self.rng.f64() < dead.len() as f64 / (live.len() as f64 + 1.0) {
            targets.push(dead[self.rng.usize(..dead.len())]);
        }
        if !seeds.is_empty() && !targets.iter().any(|t| seeds.contains(t)) {
            let contact_seed = live.is_empty()
                || live.len() < seeds.len()
                || self.rng.f64() < seeds.len() as f64 / (live.len() + dead.len()) as f64;
            if contact_seed {
                targets.push(seeds[self.rng.usize(..seeds.len())]);
            }
        }
        targets.dedup();
        self.stats.exchanges_started += targets.len() as u64;
        targets
    }

    /// A catch-up exchange starts (see `core::catch_up`): one more exchange
    /// started, as a round's are counted above.
    pub fn catch_up_started(&mut self) {
        self.stats.catch_ups += 1;
        self.stats.exchanges_started += 1;
    }

    pub fn names(&self, ids: &[PeerId]) -> Vec<Arc<str>> {
        ids.iter()
            .filter_map(|id| self.peer(*id).map(|p| p.name.clone()))
            .collect()
    }

    // ---- local writes --------------------------------------------------

    fn check_key(&self, key: &str) -> Result<(), StateError> {
        if key.len() > self.config.max_key_bytes {
            return Err(StateError::KeyTooLong {
                len: key.len(),
                max: self.config.max_key_bytes,
            });
        }
        if key == HEARTBEAT_KEY || key == LEFT_KEY {
            return Err(StateError::ReservedKey(key.to_string()));
        }
        Ok(())
    }

    pub fn set_local(&mut self, key: &str, value: Value) -> Result<(), StateError> {
        self.check_key(key)?;
        let max = &self.config;
        if value.len() > max.max_value_bytes {
            return Err(StateError::ValueTooLarge {
                len: value.len(),
                max: max.max_value_bytes,
            });
        }
        let state = &self.me().state;
        let old = state.get(key);
        let is_new_key = old.and_then(|e| e.value.as_ref()).is_none();
        if is_new_key && state.live_keys() >= max.max_keys_per_peer {
            return Err(StateError::TooManyKeys {
                max: max.max_keys_per_peer,
            });
        }
        let old_bytes = old.map_or(0, |e| key.len() + e.value.as_ref().map_or(0, |v| v.len()));
        if state.bytes() - old_bytes + key.len() + value.len() > max.max_peer_state_bytes {
            return Err(StateError::StateTooLarge {
                max: max.max_peer_state_bytes,
            });
        }
        let version = state.max_version + 1;
        self.me_mut().state.put(key, Some(value), version, 0);
        Ok(())
    }

    /// Deletes a local key; false if it was not set.
    pub fn delete_local(&mut self, key: &str, now: Millis) -> Result<bool, StateError> {
        self.check_key(key)?;
        if self.me().state.value(key).is_none() {
            return Ok(false);
        }
        let version = self.me().state.max_version + 1;
        self.me_mut().state.put(key, None, version, now);
        Ok(true)
    }

    /// Announces that this node leaves; returns the peers to tell at once.
    pub fn leave(&mut self) -> Vec<Arc<str>> {
        let version = self.me().state.max_version + 1;
        self.me_mut()
            .state
            .put(LEFT_KEY, Some(Arc::from(MSGPACK_TRUE)), version, 0);
        let mut live: Vec<PeerId> = self
            .peers()
            .filter(|(id, p)| *id != self.me && p.alive && !p.left)
            .map(|(id, _)| id)
            .collect();
        self.rng.shuffle(&mut live);
        live.truncate(self.config.fanout.max(3));
        self.names(&live)
    }

    /// Starts a new incarnation above `floor`: every live key is written again
    /// so peers that saw versions up to `floor` accept them.
    fn rebirth(&mut self, floor: u64) {
        let me = self.me_mut();
        let mut live: Vec<(Arc<str>, Value, u64)> = me
            .state
            .deltas_after(0)
            .filter_map(|(k, e)| e.value.clone().map(|v| (k.clone(), v, e.version)))
            .collect();
        live.sort_by_key(|(_, _, v)| *v);
        // `floor` is what one peer saw of our last life; others may have seen
        // a few more of its versions, which would shadow our first rewrites
        let generation = floor + 1 + REBIRTH_MARGIN;
        me.state = PeerState::new();
        me.state.generation = generation;
        me.state.max_version = generation - 1;
        for (key, value, _) in live {
            let version = me.state.max_version + 1;
            me.state.put(&key, Some(value), version, 0);
        }
    }

    // ---- peers ----------------------------------------------------------

    /// Adds a peer heard of for the first time. `version` is what the source
    /// claims it holds, to tell a peer that really came back from stale gossip
    /// about a removed one.
    fn register(&mut self, name: &str, version: u64, now: Millis) -> Option<PeerId> {
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
                self.rings.resize(self.peers.len() * self.ring_len, 0);
                (self.peers.len() - 1) as PeerId
            }
        };
        self.index_insert(id);
        self.emit(Event::NewPeer {
            peer: id,
            name,
            me: false,
        });
        Some(id)
    }

    /// Our copy of a peer's name: the shared one, or a new one.
    fn new_name(&self, name: &str) -> Arc<str> {
        match &self.names {
            Some(names) => names.intern(name),
            None => Arc::from(name),
        }
    }

    /// A newer incarnation of the peer exists: what it wrote before is gone,
    /// unless it writes it again within the grace (see `defer_deletes`).
    fn observe_generation(&mut self, id: PeerId, generation: u64, now: Millis) {
        let dropped = self.drop_old_incarnation(id, generation);
        self.defer_deletes(id, dropped, now);
    }

    /// A newer incarnation of the peer exists: forgets what the old one wrote
    /// and returns the keys that were live (for `delete` events; the caller
    /// may hold them back until it knows which keys the new one set again).
    fn drop_old_incarnation(&mut self, id: PeerId, generation: u64) -> Vec<Arc<str>> {
        if id == self.me || generation == 0 {
            return Vec::new();
        }
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return Vec::new();
        };
        if generation <= p.state.generation {
            return Vec::new();
        }
        p.state.generation = generation;
        let before = p.state.bytes();
        let dropped = p.state.drop_before(generation);
        self.remote_bytes -= before - p.state.bytes();
        let was_left = p.left;
        p.left = p.state.value(LEFT_KEY).is_some();
        if was_left && !p.left {
            // back from a leave: judge it afresh from its next arrival
            p.detector.restart_at(None);
        }
        dropped
            .into_iter()
            .filter(|k| &**k != LEFT_KEY && &**k != HEARTBEAT_KEY)
            .collect()
    }

    fn cluster_ok(&self, ext: &Ext) -> bool {
        ext.cluster == self.config.cluster_name.as_deref()
    }

    fn ext(&self, complete: bool) -> Ext<'_> {
        Ext {
            protocol: message::PROTOCOL,
            cluster: self.config.cluster_name.as_deref(),
            complete,
            more: false,
        }
    }

    // ---- the exchange -----------------------------------------------------

    /// REQUEST: our digest, every peer we know with its highest version.
    ///
    /// When it does not all fit, the peers are split by the low bits of their
    /// names' hashes into the fewest (a power of two) partitions that each
    /// fit, and each REQUEST lists ourselves and one partition, in turn: every
    /// peer is named once every so many requests, and the peer that answers
    /// can tell from the names which partition it got (`digest_partition`),
    /// so that every peer of that partition missing from the digest is one
    /// the requester does not know, which it sends first.
    pub fn request(&mut self) -> Vec<u8> {
        let observer = self.config.observer;
        let mine_size = {
            let me = self.me();
            digest_item_size(&me.digest_item())
        };
        let mut budget = self
            .config
            .max_outgoing_message_bytes
            .saturating_sub(envelope_size(&self.ext(false)));
        // an observer never names itself, so nobody learns of it
        if !observer {
            budget = budget.saturating_sub(mine_size);
        }
        let bound: usize = self.digest_info.iter().map(|&i| info_size(i)).sum();
        let slots_listed = (bound > budget).then(|| self.next_slices(budget));
        let ext = self.ext(false);
        let slots = self.peers.len();
        let mut items: Vec<DigestItem> = Vec::new();
        if !observer {
            let me = self.me();
            items.push(me.digest_item());
        }
        if let Some(listed) = slots_listed {
            for i in listed {
                let Some(p) = &self.peers[i] else { continue };
                let item = p.digest_item();
                let size = digest_item_size(&item);
                if size > budget {
                    break; // only when one slice alone is too large
                }
                budget -= size;
                items.push(item);
            }
            let ext = Ext {
                complete: false,
                ..ext
            };
            let mut out = Vec::with_capacity(self.config.max_outgoing_message_bytes - budget);
            message::encode_request(&mut out, &items, &ext);
            return out;
        }
        let start = self.digest_cursor % slots.max(1);
        let mut taken = 0;
        let mut complete = true;
        for step in 0..slots {
            let i = (start + step) % slots;
            let Some(p) = &self.peers[i] else { continue };
            if i as PeerId == self.me {
                continue;
            }
            let item = p.digest_item();
            let size = digest_item_size(&item);
            if size > budget {
                complete = false;
                break;
            }
            budget -= size;
            items.push(item);
            taken = step + 1;
        }
        let ext = Ext { complete, ..ext };
        let mut out = Vec::with_capacity(self.config.max_outgoing_message_bytes - budget);
        message::encode_request(&mut out, &items, &ext);
        let next = (start + taken) % slots.max(1);
        self.digest_cursor = next;
        out
    }

    /// The slots the next split digest lists: the names of as many
    /// consecutive slices as fit in `budget` bytes, from where the last one
    /// ended, in slice order.
    fn next_slices(&mut self, budget: usize) -> Vec<usize> {
        let mut sums = vec![0usize; SLICES];
        for &info in &self.digest_info {
            sums[info as usize & (SLICES - 1)] += info_size(info);
        }
        let start = self.digest_slice % SLICES;
        let (mut count, mut used) = (0, 0);
        while count < SLICES {
            let size = sums[(start + count) % SLICES];
            if used + size > budget {
                break;
            }
            used += size;
            count += 1;
        }
        let count = count.max(1);
        self.digest_slice = (start + count) % SLICES;
        let mut listed: Vec<(usize, usize)> = self
            .digest_info
            .iter()
            .enumerate()
            .filter(|&(_, &info)| info != 0)
            .map(|(i, &info)| ((info as usize % SLICES + SLICES - start) % SLICES, i))
            .filter(|&(at, _)| at < count)
            .collect();
        listed.sort_unstable();
        listed.into_iter().map(|(_, i)| i).collect()
    }

    /// Answers a REQUEST with FIRST_RESPONSE: deltas for peers we know
    /// better, requests for peers they know better, and — for v1 peers —
    /// state of peers their digest did not name (fast join).
    pub fn handle_request(&mut self, req: &Request, now: Millis) -> Result<Vec<u8>, Refusal> {
        if !self.cluster_ok(&req.ext) {
            return Err(Refusal::WrongCluster);
        }
        let v1 = req.ext.is_v1();
        let mut mentioned = vec![false; self.peers.len()];
        let mut wants: Vec<(PeerId, u64)> = Vec::new();
        let mut requests: Vec<(PeerId, u64, u64)> = Vec::new();
        let hashes: Vec<u64> = req.digest.iter().map(|i| name_hash(i.peer)).collect();
        for (item, &hash) in req.digest.iter().zip(&hashes) {
            let id = match self.lookup_hashed(item.peer, hash) {
                Some(id) => id,
                None => {
                    if let Some(id) = self.register(item.peer, item.version, now) {
                        if mentioned.len() <= id as usize {
                            mentioned.resize(id as usize + 1, false);
                        }
                        mentioned[id as usize] = true;
                        requests.push((id, 0, item.version));
                    }
                    continue;
                }
            };
            if mentioned.get(id as usize).copied().unwrap_or(true) {
                continue; // a name listed twice
            }
            mentioned[id as usize] = true;
            if id == self.me {
                let mine = &self.me().state;
                // someone saw versions of ours we no longer have, or holds an
                // incarnation of ours newer than this one as the floor of
                // what it accepts from us (our clock went back across a
                // restart): start above them
                let floor = item.version.max(item.generation);
                if (item.version > mine.max_version || item.generation > mine.generation)
                    && floor < REBIRTH_CEILING
                {
                    self.rebirth(floor.max(mine.max_version));
                }
            } else if v1 && item.generation <= item.version {
                // a generation implies versions at least that high
                self.observe_generation(id, item.generation, now);
            }
            let ours = self.peer(id).map_or(0, |p| p.state.max_version);
            if ours > item.version {
                wants.push((id, item.version));
            } else if ours < item.version && id != self.me {
                requests.push((id, ours, item.version));
            }
        }
        self.sort_deltas_first(&mut wants, v1);
        self.sort_stalest_first(&mut requests, |&(_, ours, theirs)| {
            theirs.saturating_sub(ours)
        });
        let requests: Vec<(PeerId, u64)> =
            requests.iter().map(|&(id, ours, _)| (id, ours)).collect();
        if !v1 {
            let ext = self.ext(false);
            let definite = wants.len();
            return Ok(self
                .build_response(Some(&requests), wants.into_iter(), definite, v1, ext)
                .0);
        }
        // Peers the requester did not name: those of the partition its digest
        // covers (all, for a complete digest) it does not know, and their
        // state goes out alongside what it named; the others it may know,
        // and their state fills what room is left, in a rotating order.
        let n = self.peers.len();
        let unnamed = |i: usize| !mentioned.get(i).copied().unwrap_or(false);
        let covered = digest_coverage(&req.digest, &hashes, req.ext.complete);
        let me_hash = name_hash(&self.me().name);
        let slot_hash = |i: usize| {
            if i == self.me as usize {
                me_hash
            } else {
                u64::from(self.digest_info[i] & 0xffff)
            }
        };
        let occupied = |i: usize| i == self.me as usize || self.digest_info[i] != 0;
        let in_partition = |i: usize| covered.is_some_and(|c| c.contains(slot_hash(i)));
        let mut unknown: Vec<(PeerId, u64)> = (0..n)
            .filter(|&i| occupied(i) && unnamed(i) && in_partition(i))
            .map(|i| (i as PeerId, 0))
            .collect();
        self.rng.shuffle(&mut unknown);
        let wants = interleave(unknown, wants);
        let start = self.missing_cursor % n.max(1);
        let reached = std::cell::Cell::new(0);
        let rest = (0..n)
            .inspect(|step| reached.set(step + 1))
            .map(|step| (start + step) % n)
            .filter(|&i| occupied(i) && unnamed(i) && !in_partition(i))
            .map(|i| (i as PeerId, 0));
        let ext = self.ext(false);
        // only what the requester surely lacks counts as left out
        let definite = wants.len();
        let (out, _) = self.build_response(
            Some(&requests),
            wants.into_iter().chain(rest),
            definite,
            v1,
            ext,
        );
        self.missing_cursor = start + reached.get();
        Ok(out)
    }

    /// node-gossip sends the peers with the most deltas first, which an old
    /// peer gets. A v1 peer gets the peers with several deltas first in
    /// random order: a node catching up with several peers at once then gets
    /// different peers' updates from each, not the same ones from all (in a
    /// burst this halved the duplicates). Among peers with one delta (a
    /// heartbeat, a single write), the ones the other side holds the oldest
    /// version of go first, then at random: under a tight budget, a peer
    /// left out grows older and comes first later, so none is always last.
    fn sort_deltas_first(&mut self, wants: &mut [(PeerId, u64)], v1: bool) {
        self.rng.shuffle(wants);
        let mut counted: Vec<((usize, u64), (PeerId, u64))> = wants
            .iter()
            .map(|&(id, after)| {
                let key = self.peer(id).map_or((0, 0), |p| {
                    let behind = p.state.max_version.saturating_sub(after);
                    if !v1 {
                        (p.state.count_after(after), behind)
                    } else if p.state.deltas_after(after).nth(1).is_some() {
                        (2, 0)
                    } else {
                        (1, behind)
                    }
                });
                (key, (id, after))
            })
            .collect();
        counted.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (slot, (_, w)) in wants.iter_mut().zip(counted) {
            *slot = w;
        }
    }

    /// Orders what we ask for, or what we were asked for, most versions
    /// behind first (ties at random), so that when it does not all fit the
    /// stalest state goes first: `behind` gives each entry's gap.
    fn sort_stalest_first<T>(&mut self, list: &mut [T], behind: impl Fn(&T) -> u64) {
        self.rng.shuffle(list);
        list.sort_by_key(|t| std::cmp::Reverse(behind(t)));
    }

    /// Fills a response up to the outgoing budget: requests first (they are
    /// small and let the other side catch us up), then whole or partial
    /// version-ordered runs of deltas, peer by peer. Also says whether
    /// anything was left out for lack of room (and says so in the message):
    /// a request, or updates of the first `definite` wants; the wants after
    /// them only fill the room left (peers the other side may well know).
    fn build_response(
        &self,
        requests: Option<&[(PeerId, u64)]>,
        wants: impl Iterator<Item = (PeerId, u64)>,
        definite: usize,
        v1: bool,
        ext: Ext,
    ) -> (Vec<u8>, bool) {
        let target = self
            .config
            .max_outgoing_message_bytes
            .saturating_sub(envelope_size(&ext));
        let mut budget = target;
        let mut left_out = false;
        let mut request_entries: Vec<(&str, u64)> = Vec::new();
        if let Some(requests) = requests {
            for &(id, version) in requests {
                let Some(p) = self.peer(id) else { continue };
                let size = version_entry_size(&p.name, version);
                if size > budget {
                    left_out = true;
                    break;
                }
                budget -= size;
                request_entries.push((&p.name, version));
            }
        }
        let mut updates: Vec<Delta> = Vec::with_capacity((budget / 40).min(4096));
        let mut generations: Vec<(&str, u64)> = Vec::new();
        let mut misses = 0;
        // an update larger than the whole batching target goes alone, in a
        // message up to the hard ceiling: the bytes it takes beyond the target
        let mut oversize = 0;
        let ceiling = self
            .config
            .max_message_bytes
            .saturating_sub(envelope_size(&ext));
        'peers: for (n, (id, after)) in wants.enumerate() {
            let Some(p) = self.peer(id) else { continue };
            if budget < 16 || misses >= MAX_MISSES {
                left_out |= n < definite;
                break;
            }
            let mut sent_any = false;
            let gen_size = if v1 && p.state.generation != 0 {
                version_entry_size(&p.name, p.state.generation)
            } else {
                0
            };
            for (key, entry) in p.state.deltas_after(after) {
                let d = Delta {
                    peer: &p.name,
                    key,
                    value: entry.value.as_deref(),
                    version: entry.version,
                };
                let size = delta_size(&d) + if sent_any { 0 } else { gen_size };
                if size > budget {
                    // too large for any message of the target size
                    let alone = updates.is_empty()
                        && size > target
                        && size <= ceiling.saturating_sub(target - budget);
                    if !alone {
                        misses += usize::from(!sent_any);
                        left_out |= n < definite;
                        continue 'peers;
                    }
                    // the message is full with it
                    oversize = size - budget;
                    budget = size;
                }
                misses = 0;
                budget -= size;
                if !sent_any && gen_size > 0 {
                    generations.push((&p.name, p.state.generation));
                }
                sent_any = true;
                updates.push(d);
            }
        }
        let mut out =
            Vec::with_capacity(self.config.max_outgoing_message_bytes - budget + oversize);
        let requests = requests.map(|_| request_entries.as_slice());
        let ext = Ext {
            more: left_out,
            ..ext
        };
        message::encode_response(&mut out, requests, &updates, &generations, &ext);
        (out, left_out)
    }

    /// At the initiator: applies FIRST_RESPONSE and answers SECOND_RESPONSE
    /// with what was requested.
    pub fn handle_first_response(
        &mut self,
        resp: &Response,
        now: Millis,
    ) -> Result<SecondResponse, Refusal> {
        if !self.cluster_ok(&resp.ext) {
            return Err(Refusal::WrongCluster);
        }
        self.apply(resp, now);
        let mut wants: Vec<(PeerId, u64)> = resp
            .requests
            .iter()
            .filter_map(|(name, version)| self.lookup(name).map(|id| (id, *version)))
            .collect();
        let ours = |&(id, after): &(PeerId, u64)| {
            self.peer(id)
                .map_or(0, |p| p.state.max_version.saturating_sub(after))
        };
        let mut keyed: Vec<(u64, (PeerId, u64))> = wants.iter().map(|w| (ours(w), *w)).collect();
        self.sort_stalest_first(&mut keyed, |k| k.0);
        wants.clear();
        wants.extend(keyed.into_iter().map(|(_, w)| w));
        let v1 = resp.ext.is_v1();
        let ext = self.ext(false);
        let definite = wants.len();
        let (message, left_out) = self.build_response(None, wants.into_iter(), definite, v1, ext);
        Ok(SecondResponse {
            message,
            more: left_out || (v1 && resp.ext.more),
        })
    }

    /// At the receiver: applies SECOND_RESPONSE; the exchange is over.
    pub fn handle_second_response(&mut self, resp: &Response, now: Millis) -> Result<(), Refusal> {
        if !self.cluster_ok(&resp.ext) {
            return Err(Refusal::WrongCluster);
        }
        self.apply(resp, now);
        self.stats.exchanges_completed += 1;
        Ok(())
    }

    /// Marks the end of an exchange we started.
    pub fn exchange_completed(&mut self) {
        self.stats.exchanges_completed += 1;
    }

    fn apply(&mut self, resp: &Response, now: Millis) {
        let me_name = self.me().name.clone();
        // keys of old incarnations; reported deleted after the updates, unless
        // the new incarnation set them again in this same message
        let mut dropped: Vec<(PeerId, Arc<str>)> = Vec::new();
        // a generation is believed only with updates of that incarnation;
        // with each peer's newest version, its slot once looked up
        let mut newest: FxHashMap<&str, (u64, Option<PeerId>)> = FxHashMap::default();
        newest.reserve(resp.generations.len());
        // a peer's deltas come in runs: one map update per run
        let mut run: Option<(&str, u64)> = None;
        for d in resp.updates.iter().map(Some).chain([None]) {
            match (&mut run, d) {
                (Some((name, v)), Some(d)) if same_name(name, d.peer) => *v = (*v).max(d.version),
                _ => {
                    if let Some((name, v)) = run.take() {
                        let max = &mut newest.entry(name).or_insert((0, None)).0;
                        *max = (*max).max(v);
                    }
                    run = d.map(|d| (d.peer, d.version));
                }
            }
        }
        for &(name, generation) in &resp.generations {
            let Some((version, _)) = newest.get(name).copied() else {
                continue;
            };
            if version < generation {
                continue;
            }
            if let Some(id) = self.lookup(name) {
                if let Some(e) = newest.get_mut(name) {
                    e.1 = Some(id);
                }
                let keys = self.drop_old_incarnation(id, generation);
                dropped.extend(keys.into_iter().map(|k| (id, k)));
            }
        }
        let plausible = |name: &str, g: u64| newest.get(name).is_some_and(|&(v, _)| v >= g);
        let mut advanced: Vec<PeerId> = Vec::new();
        let from_old_peer = !resp.ext.is_v1();
        let mut held_back: Vec<PeerId> = Vec::new();
        let mut new_peer_gens: Option<FxHashMap<&str, u64>> = None;
        // the slot of the previous delta's peer: the next is usually the same
        let mut last: Option<(&str, PeerId)> = None;
        for d in &resp.updates {
            if same_name(d.peer, &me_name) {
                self.stats.updates_about_self += 1;
                continue;
            }
            let same = last
                .filter(|&(name, _)| same_name(name, d.peer))
                .map(|(_, id)| id);
            let known = || newest.get(d.peer).and_then(|&(_, id)| id);
            let id = match same.or_else(known).or_else(|| self.lookup(d.peer)) {
                Some(id) => id,
                None => {
                    // judged by the newest version of the peer in the message:
                    // by this delta's, a peer removed at version v came back at
                    // its first delta above v, with the ones before it skipped
                    // for good
                    let version = newest.get(d.peer).map_or(d.version, |&(v, _)| v);
                    let Some(id) = self.register(d.peer, version, now) else {
                        continue;
                    };
                    // indexed once: a scan per new peer is quadratic in the message
                    let gens = new_peer_gens.get_or_insert_with(|| {
                        resp.generations
                            .iter()
                            .copied()
                            .collect::<FxHashMap<&str, u64>>()
                    });
                    if let Some(&g) = gens.get(d.peer).filter(|&&g| plausible(d.peer, g)) {
                        self.observe_generation(id, g, now);
                    }
                    id
                }
            };
            last = Some((d.peer, id));
            // An old node-gossip relay forwards a gossiper peer's deletion as a
            // plain nil, indistinguishable from a null value. Take nothing more
            // of that peer from this message; its own (or any gossiper peer's)
            // next exchange brings the entry with its deletion flag.
            if held_back.contains(&id) {
                continue;
            }
            let gossiper_peer = self.peer(id).is_some_and(|p| p.state.generation != 0);
            if from_old_peer && gossiper_peer && d.value == Some(NIL) {
                held_back.push(id);
                continue;
            }
            if self.apply_delta(id, d, now) && advanced.last() != Some(&id) {
                advanced.push(id);
            }
        }
        advanced.sort_unstable();
        advanced.dedup();
        let revived = std::mem::take(&mut self.revived);
        let cfg = &self.config.detector;
        let w = self.ring_len;
        for id in advanced {
            let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
                continue;
            };
            p.heard = true;
            if p.alive && !revived.contains(&id) {
                let at = id as usize * w;
                p.detector.arrival(now, cfg, &mut self.rings[at..at + w]);
            } else {
                // do not let the silence of a failure skew its statistics
                p.detector.restart_at(Some(now));
            }
        }
        // keys of an old incarnation that this message did not set again
        let mut by_peer: Vec<(PeerId, Vec<Arc<str>>)> = Vec::new();
        for (id, key) in dropped {
            if self.peer(id).is_some_and(|p| p.state.value(&key).is_some()) {
                continue;
            }
            match by_peer.last_mut() {
                Some((last, keys)) if *last == id => keys.push(key),
                _ => by_peer.push((id, vec![key])),
            }
        }
        for (id, keys) in by_peer {
            self.defer_deletes(id, keys, now);
        }
    }

    /// Applies one delta if it is newer than what we hold. Returns whether
    /// the peer's state advanced.
    fn apply_delta(&mut self, id: PeerId, d: &Delta, now: Millis) -> bool {
        let cfg = &self.config;
        let (max_key, max_value, max_keys, max_bytes, max_all) = (
            cfg.max_key_bytes,
            cfg.max_value_bytes,
            cfg.max_keys_per_peer,
            cfg.max_peer_state_bytes,
            cfg.max_state_bytes,
        );
        let all_bytes = self.remote_bytes;
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return false;
        };
        if d.version <= p.state.max_version || d.version < p.state.generation {
            self.stats.updates_stale += 1;
            return false;
        }
        let value_len = d.value.map_or(0, <[u8]>::len);
        let old = p.state.get(d.key);
        let old_bytes = old.map_or(0, |e| d.key.len() + e.value.as_ref().map_or(0, |v| v.len()));
        let is_new_live = d.value.is_some() && old.and_then(|e| e.value.as_ref()).is_none();
        // the protocol's own keys are exempt from maxKeyBytes, which may be
        // set shorter than they are
        let reserved = d.key == HEARTBEAT_KEY || d.key == LEFT_KEY;
        let refused = (d.key.len() > max_key && !reserved)
            || value_len > max_value
            || (is_new_live && p.state.live_keys() >= max_keys)
            || p.state.bytes() - old_bytes + d.key.len() + value_len > max_bytes
            || (all_bytes - old_bytes + d.key.len() + value_len > max_all
                && d.key.len() + value_len > old_bytes);
        if refused {
            // skip it for good: asking again would bring the same bytes
            p.state.max_version = d.version;
            self.stats.updates_refused += 1;
            return true;
        }
        let value: Option<Value> = match d.value {
            Some(bytes) if d.key == HEARTBEAT_KEY => {
                Some(heartbeat_value(&mut self.heartbeat_values, bytes))
            }
            v => v.map(Arc::from),
        };
        let before = p.state.bytes();
        let (key, previous) = p.state.put_shared(d.key, value.clone(), d.version, now);
        self.remote_bytes = self.remote_bytes - before + p.state.bytes();
        self.stats.updates_applied += 1;
        // news from a failed peer: it is alive, and says so before its news
        let revive = !p.alive && !p.left && d.key != LEFT_KEY;
        if revive {
            p.alive = true;
            self.failed_at.remove(&id);
            self.revived.push(id);
            self.emit(Event::Alive { peer: id });
        }
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return true;
        };
        let event = if d.key == LEFT_KEY {
            let newly_left = value.is_some() && !p.left;
            p.left |= value.is_some();
            if newly_left {
                if p.alive && self.config.dead_peer_removal_ms.is_some() {
                    self.failed_at.insert(id, now);
                }
                p.alive = false;
                Some(Event::Left { peer: id })
            } else {
                None
            }
        } else {
            let was_pending = self.take_pending_delete(id, &key);
            match value {
                Some(value) => Some(Event::Update {
                    peer: id,
                    key,
                    value,
                }),
                None if was_pending || previous.is_some_and(|e| e.value.is_some()) => {
                    Some(Event::Delete { peer: id, key })
                }
                None => None,
            }
        };
        if let Some(e) = event {
            self.emit(e);
        }
        true
    }

    // ---- inspection -------------------------------------------------------

    pub fn report(&self, now: Millis) -> Vec<PeerReport> {
        self.peers()
            .map(|(id, p)| PeerReport {
                name: p.name.clone(),
                alive: id == self.me || p.alive,
                left: p.left,
                phi: self.phi(id, now),
                last_heard_ms_ago: p.last_heard().map(|t| now.saturating_sub(t)),
                keys: p.state.live_keys(),
                max_version: p.state.max_version,
                generation: p.state.generation,
            })
            .collect()
    }

    /// Peers not failed, ourselves included (node-gossip's `livePeers`).
    pub fn live_count(&self) -> usize {
        self.peers()
            .filter(|(id, p)| *id == self.me || p.alive)
            .count()
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
