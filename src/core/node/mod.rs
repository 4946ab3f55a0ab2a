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

use super::catch_up::CatchUpChain;
use super::config::Config;
use super::event::{Event, PeerId};
use super::failure_detector::{ring_len, FailureDetector, Sample};
use super::name_index::{name_hash, same_name, NameIndex};
use super::peer_name;
use super::peer_state::{heartbeat_key, PeerState, Value};
use super::stats::{Refusal, Stats};
use super::time::{Millis, RoundClock};
use crate::wire::message::{self, delta_size, digest_item_size, envelope_size, version_entry_size};
use crate::wire::write::str_size;
use crate::wire::{Delta, DigestItem, Ext, Request, Response};
use rings::Rings;

mod apply;
mod broadcast;
mod digest;
mod exchange;
mod incarnation;
mod liveness;
mod local;
mod peers;
mod reconcile;
mod rings;
mod schedule;
mod seeds;
mod summary;
mod swim;
mod targets;
mod ttl;
mod warnings;

pub use super::peer_state::{HEARTBEAT_KEY, LEFT_KEY};
use digest::*;
use exchange::Exchange;
pub use exchange::{ExchangeId, Failure, Reply, Transmit};
use incarnation::*;
pub use local::StateError;
use peers::*;
pub use peers::{Names, Peer, PROTO_LEGACY, PROTO_PROBES, PROTO_UNKNOWN};
pub use reconcile::SecondResponse;
use reconcile::*;
use schedule::Timers;
pub use schedule::{LIVENESS_CHECKS_PER_ROUND, PHASES, PUSH_BURST};
pub use swim::INDIRECT_PROBES;
pub use ttl::MAX_TTL_MS;
pub use warnings::{Warning, WARN_EVERY_MS};

/// Which updates applied are news to pass on (see `broadcast.rs`).
#[derive(Clone, Debug, Default)]
pub(super) enum Relay {
    /// From a datagram: all of them (infection).
    All,
    /// From an exchange with a peer: its own (the rest, others have).
    Owner(Arc<str>),
    #[default]
    None,
}

/// A peer's view for `stats()`.
#[derive(Clone, Debug)]
pub struct PeerReport {
    pub name: Arc<str>,
    pub alive: bool,
    pub left: bool,
    /// The heartbeat detector's phi; 0 for a peer judged by probes.
    pub phi: f64,
    /// Judged by probes (a gossiper peer), not by its heartbeats.
    pub probed: bool,
    pub last_heard_ms_ago: Option<Millis>,
    pub keys: usize,
    pub max_version: u64,
    pub generation: u64,
}

pub struct Node {
    config: Config,
    peers: Vec<Option<Peer>>,
    /// The detectors' samples, for the peers judged by heartbeats.
    rings: Rings,
    /// Per slot, its name's partition and digest entry size (`digest_info`);
    /// 0 for ourselves and empty slots. Read to plan a split digest, and to
    /// find the peers of a partition, without touching the peers.
    digest_info: Vec<u32>,
    /// The slice the next split digest starts at.
    digest_slice: usize,
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
    /// Exchanges running, by id.
    exchanges: FxHashMap<ExchangeId, Exchange>,
    next_exchange: ExchangeId,
    /// What the driver has to send (`poll_transmit`).
    transmits: std::collections::VecDeque<Transmit>,
    /// Bytes the driver's framing adds to each message.
    frame_overhead: usize,
    /// The chain of catch-up exchanges, one at a time.
    catch_up: CatchUpChain,
    timers: Timers,
    /// The seeds of this start.
    seeds: Vec<seeds::Seed>,
    /// The hash of all we hold (see `summary.rs`), per slot and in all.
    summary: u64,
    /// By slot, the peer's parts of the summary and the membership hash.
    summary_parts: Vec<(u64, u64)>,
    /// When it last changed (the round clock).
    summary_changed_at: Millis,
    /// The hash of the membership alone (see `summary.rs`).
    members: u64,
    /// When that last changed (the round clock).
    members_changed_at: Millis,
    /// Peers (ourselves aside) not known to speak probes.
    not_probed: usize,
    /// Peers that do not probe are live here: every node beats and gossips
    /// every round, as node-gossip does (see `schedule.rs`).
    legacy: bool,
    /// The driver time of the last input.
    last_real: Millis,
    swim: swim::Swim,
    bcast: broadcast::Broadcasts,
    /// What `apply` passes on.
    relay: Relay,
    /// The peer of the exchange being answered speaks probes (protocol 2).
    partner_probes: bool,
    /// When each warning was last reported, per peer.
    warned: FxHashMap<(Warning, Arc<str>), Millis>,
    /// The time peers are judged by (see `RoundClock`).
    clock: RoundClock,
    stats: Stats,
    /// Deadlines of keys with a time to live (`ttl`).
    expiries: ttl::Expiries,
}

impl Node {
    /// A node whose first write will carry version `generation` (seed it from
    /// `time::wall_clock_version()` so versions grow across restarts).
    pub fn new(config: Config, generation: u64, rng_seed: u64) -> Self {
        let mut me = Peer::new(Arc::from(""), 0);
        me.state.generation = generation.max(1);
        me.state.max_version = generation.max(1) - 1;
        Node {
            peers: vec![Some(me)],
            rings: Rings::new(ring_len(&config.detector)),
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
            exchanges: FxHashMap::default(),
            next_exchange: 0,
            transmits: std::collections::VecDeque::new(),
            frame_overhead: 0,
            catch_up: CatchUpChain::default(),
            timers: Timers::default(),
            warned: FxHashMap::default(),
            seeds: Vec::new(),
            summary: 0,
            summary_parts: vec![(0, 0)],
            summary_changed_at: 0,
            members: 0,
            members_changed_at: 0,
            not_probed: 0,
            legacy: false,
            last_real: 0,
            swim: swim::Swim::default(),
            bcast: broadcast::Broadcasts::default(),
            relay: Relay::None,
            partner_probes: false,
            clock: RoundClock::new(config.gossip_interval_ms),
            stats: Stats::default(),
            expiries: ttl::Expiries::default(),
            config,
        }
    }

    /// The node's counters, as they are now.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.stalled_ms = self.clock.held();
        s
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
        self.rings.reserve_slots(peers);
        let index_more = peers.saturating_sub(self.index.len());
        let slots = &self.peers;
        self.index.reserve(index_more, |id| slot_name(slots, id));
    }

    /// The detector's samples of slot `id` (none for a peer judged by probes).
    pub fn ring(&self, id: PeerId) -> &[Sample] {
        self.rings.get(id)
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

    pub fn name(&self) -> &Arc<str> {
        &self.me().name
    }

    pub fn me_id(&self) -> PeerId {
        self.me
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
        self.note_event(&e);
        self.events.push(e);
    }

    /// Names the node (known once it listens), registers the seeds and
    /// starts its timers. Called again after a stop, the state is kept.
    pub fn start(&mut self, name: &str, seeds: &[String], now: Millis) {
        let real = now;
        let now = self.observe_time(real);
        if &*self.me().name != name {
            if let Some(other) = self.lookup(name).filter(|&id| id != self.me) {
                // someone gossiped about our address before we took it
                self.free_slot(other);
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
        self.set_seeds(seeds);
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
        self.start_timers(real);
        // with pushes on, the first contact goes out at once, not at the
        // first round
        if self.config.push_on_change && !self.any_live_peer() {
            if let Some(addr) = self.try_seed() {
                self.open_exchange(addr, false);
            }
        }
        self.schedule_after_input(real);
    }

    /// Stops: no timers, no exchanges. The driver closes its connections;
    /// what they still bring is ignored.
    pub fn stop(&mut self) {
        self.started = false;
        self.last_check = None;
        self.exchanges.clear();
        self.transmits.clear();
        self.catch_up.end();
        self.stop_timers();
    }

    pub fn report(&self, now: Millis) -> Vec<PeerReport> {
        self.peers()
            .map(|(id, p)| PeerReport {
                name: p.name.clone(),
                alive: id == self.me || p.alive,
                left: p.left,
                phi: if p.proto == PROTO_PROBES {
                    0.0
                } else {
                    self.phi(id, now)
                },
                probed: p.proto == PROTO_PROBES,
                last_heard_ms_ago: p.last_heard().map(|t| now.saturating_sub(t)),
                keys: p.state.live_keys(),
                max_version: p.state.max_version,
                generation: p.state.generation,
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "../node_tests.rs"]
mod tests;
