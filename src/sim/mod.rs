//! A deterministic simulator: thousands of [`Node`]s over an in-memory
//! network, with virtual time and one seeded RNG, for tests and benchmarks.
//! It drives the very core the runtime drives, through the same contract:
//! it moves bytes (`network.rs`), fires the timers the cores ask for and
//! counts what they report. Every protocol decision is the core's, so what
//! the simulator shows is what ships.
//!
//! Everything is driven by a single event queue ordered by (time, sequence
//! number), so a run depends only on its [`SimConfig`] and on the calls made
//! on the [`Sim`]: a failing seed replays. The model:
//! - node `i` is called `10.a.b.c:9000` (its index in the last three bytes)
//!   and starts at a random moment within `start_spread_ms`; its core then
//!   schedules its own rounds, checks and pushes;
//! - the network (`network.rs`) delays, loses, partitions and cuts one way;
//! - a node can be made slow (`slow`): its timers then fire late, as in a
//!   process whose event loop stalls;
//! - generations are seeded from virtual time in microseconds plus
//!   [`GENERATION_BASE`], so versions grow across restarts as the wall clock
//!   makes them grow in the runtime.
//!
//! ```no_run
//! use gossiper::sim::{msgpack_str, Sim, SimConfig};
//! let mut sim = Sim::new(SimConfig::new(100, 42));
//! sim.run_rounds(10);
//! assert!(sim.all_know_all() && sim.converged());
//! sim.set(7, "color", &msgpack_str("blue")).unwrap();
//! sim.partition(&[&[0, 1, 2], &[3, 4, 5]]);
//! sim.kill(9);
//! let t = sim.run_until_cond(sim.now() + 30_000, 100, |s| s.failed_everywhere(9));
//! println!("{t:?} {:?} {:?}", sim.total_counts(), sim.metrics().max_message);
//! ```

mod metrics;
mod network;
mod queries;
pub mod scenario;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::core::node::{ExchangeId, Failure, Names, StateError, Transmit};
use crate::core::peer_state::Value;
use crate::core::time::Millis;
use crate::core::{Config, Event, Node, PeerId};
use crate::wire;
pub use metrics::{EventCounts, Membership, MembershipKind, Metrics, RoundBytes};
use network::{Conn, Msg};

#[cfg(test)]
mod tests;

/// Microseconds since the epoch at the sim's time zero (September 2020):
/// versions look like the runtime's and stay below 2^53.
pub const GENERATION_BASE: u64 = 1_600_000_000_000_000;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: usize,
    pub seed: u64,
    /// The configuration of every node: the shipping defaults unless a test
    /// says otherwise.
    pub config: Config,
    /// The first `seeds` nodes are every node's seeds.
    pub seeds: usize,
    /// Each node starts at a uniformly random time in `0..=start_spread_ms`.
    pub start_spread_ms: Millis,
    /// Probability that a message is lost (ending its exchange).
    pub loss: f64,
    /// One-way latency of a message, uniform in `min..=max`.
    pub latency_ms: (Millis, Millis),
    /// Keep the log of membership events (`membership_log`); the counts are
    /// kept either way. Off for very large runs, where a detector that flaps
    /// would log millions.
    pub log_membership: bool,
}

impl SimConfig {
    /// `nodes` nodes with the default configuration, 3 seeds, starts spread
    /// over one round, no loss, 1–10 ms latency.
    pub fn new(nodes: usize, seed: u64) -> Self {
        SimConfig {
            nodes,
            seed,
            config: Config::default(),
            seeds: 3,
            start_spread_ms: 1000,
            loss: 0.0,
            latency_ms: (1, 10),
            log_membership: true,
        }
    }
}

/// What a node is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created, its start is scheduled.
    Pending,
    Up,
    /// Called `leave()`: finishes the exchanges that announce it, then stops.
    Leaving,
    /// Killed, or stopped after leaving.
    Down,
}

struct SimNode {
    node: Node,
    name: Arc<str>,
    status: Status,
    /// Bumped at every restart: messages and timers of an older life are void.
    incarnation: u32,
    /// Announced its departure (`leave`).
    left: bool,
    counts: EventCounts,
    bytes_sent: u64,
    round_bytes: u64,
    /// The wake-up scheduled for its core, if any.
    wake: Option<Millis>,
    /// How late its timers fire (see `slow`).
    lag: Millis,
    /// How late it reads its input (see `slow`).
    input_lag: Millis,
    /// Catch-ups its core had started at the last drain.
    catch_ups: u64,
}

enum Action {
    Start {
        node: u32,
        inc: u32,
    },
    Wake {
        node: u32,
        inc: u32,
        at: Millis,
    },
    Stop {
        node: u32,
        inc: u32,
    },
    Fail {
        node: u32,
        inc: u32,
        exchange: ExchangeId,
        failure: Failure,
    },
    Deliver(Msg),
    /// A datagram arrives at node `to` (in life `inc`) from node `from`.
    Datagram {
        to: u32,
        inc: u32,
        from: u32,
        bytes: Vec<u8>,
    },
}

struct Scheduled {
    time: Millis,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    // reversed: BinaryHeap is a max-heap and we want the earliest first
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

pub struct Sim {
    cfg: SimConfig,
    nodes: Vec<SimNode>,
    /// Peer names, shared by all the nodes' tables.
    names: Names,
    /// Node index by the address of its shared name, to read a node's peer
    /// table in one pass instead of a look-up per node.
    by_name_ptr: FxHashMap<usize, u32>,
    index: HashMap<Arc<str>, u32>,
    seeds: Vec<String>,
    /// Partition group of each node; messages only flow within a group.
    group: Vec<u32>,
    /// Links cut one way, (from, to).
    cuts: FxHashSet<(u32, u32)>,
    conns: FxHashMap<u64, Conn>,
    next_conn: u64,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    now: Millis,
    round: u64,
    rng: fastrand::Rng,
    metrics: Metrics,
    log: Vec<Membership>,
    /// (observer, peer id) → subject, for peers an observer holds as failed,
    /// so a later `Removed` (whose slot is already empty) can be resolved.
    failed_ids: HashMap<(u32, PeerId), u32>,
}

/// The name of node `i`.
pub fn node_name(i: usize) -> String {
    format!(
        "10.{}.{}.{}:9000",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

/// msgpack of a string.
pub fn msgpack_str(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 5);
    wire::write::write_str(&mut out, s);
    out
}

/// msgpack of an unsigned integer.
pub fn msgpack_uint(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    wire::write::write_uint(&mut out, n);
    out
}

fn name_ptr(name: &Arc<str>) -> usize {
    Arc::as_ptr(name) as *const u8 as usize
}

fn read_uint(bytes: &[u8]) -> Option<u64> {
    rmp::decode::read_int(&mut &bytes[..]).ok()
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Self {
        assert!(cfg.nodes <= 1 << 24, "names hold 24 bits of index");
        assert!(cfg.latency_ms.0 <= cfg.latency_ms.1);
        assert!(cfg.config.gossip_interval_ms > 0);
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let seeds: Vec<String> = (0..cfg.seeds.min(cfg.nodes)).map(node_name).collect();
        let mut sim = Sim {
            nodes: Vec::with_capacity(cfg.nodes),
            names: Names::new(),
            by_name_ptr: FxHashMap::default(),
            index: HashMap::with_capacity(cfg.nodes),
            seeds,
            group: vec![0; cfg.nodes],
            cuts: FxHashSet::default(),
            conns: FxHashMap::default(),
            next_conn: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            round: 0,
            metrics: Metrics::default(),
            log: Vec::new(),
            failed_ids: HashMap::new(),
            rng: fastrand::Rng::with_seed(rng.u64(..)),
            cfg,
        };
        for i in 0..sim.cfg.nodes {
            let name: Arc<str> = sim.names.intern(&node_name(i));
            let node = sim.new_node(sim.cfg.config.clone(), GENERATION_BASE, rng.u64(..));
            sim.index.insert(name.clone(), i as u32);
            sim.by_name_ptr.insert(name_ptr(&name), i as u32);
            sim.nodes.push(SimNode {
                node,
                name,
                status: Status::Pending,
                incarnation: 0,
                left: false,
                counts: EventCounts::default(),
                bytes_sent: 0,
                round_bytes: 0,
                wake: None,
                lag: 0,
                input_lag: 0,
                catch_ups: 0,
            });
            let at = rng.u64(0..=sim.cfg.start_spread_ms);
            sim.schedule(
                at,
                Action::Start {
                    node: i as u32,
                    inc: 0,
                },
            );
        }
        sim
    }

    /// A node that shares the simulator's names and has room for every node.
    fn new_node(&self, config: Config, generation: u64, seed: u64) -> Node {
        let mut node = Node::new(config, generation, seed);
        node.share_names(&self.names);
        node.reserve_peers(self.cfg.nodes);
        node
    }

    // ---- clock -------------------------------------------------------------

    pub fn now(&self) -> Millis {
        self.now
    }

    pub fn interval(&self) -> Millis {
        self.cfg.config.gossip_interval_ms
    }

    /// Rounds finished so far (virtual time / gossip interval).
    pub fn rounds(&self) -> u64 {
        self.round
    }

    fn schedule(&mut self, time: Millis, action: Action) {
        self.seq += 1;
        self.queue.push(Scheduled {
            time,
            seq: self.seq,
            action,
        });
    }

    /// Moves the clock to `t`, closing the rounds it passes.
    fn advance(&mut self, t: Millis) {
        debug_assert!(t >= self.now);
        let interval = self.interval();
        while t / interval > self.round {
            let mut r = RoundBytes::default();
            for n in &mut self.nodes {
                r.total += n.round_bytes;
                r.max_node = r.max_node.max(n.round_bytes);
                r.up += usize::from(n.status == Status::Up);
                n.round_bytes = 0;
            }
            self.metrics.rounds.push(r);
            self.round += 1;
        }
        self.now = t;
    }

    /// Processes the next scheduled action; false when nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(s) = self.queue.pop() else {
            return false;
        };
        self.advance(s.time);
        match s.action {
            Action::Start { node, inc } => self.on_start(node as usize, inc),
            Action::Wake { node, inc, at } => self.on_wake(node as usize, inc, at),
            Action::Stop { node, inc } => {
                let i = node as usize;
                if self.applies(i, inc, Status::Leaving) {
                    self.nodes[i].status = Status::Down;
                    self.nodes[i].node.stop();
                }
            }
            Action::Fail {
                node,
                inc,
                exchange,
                failure,
            } => {
                let i = node as usize;
                if self.nodes[i].incarnation == inc && self.serving(i) {
                    let now = self.now;
                    self.nodes[i]
                        .node
                        .handle_exchange_failure(exchange, failure, now);
                    self.drain(i);
                }
            }
            Action::Deliver(msg) => self.deliver(msg),
            Action::Datagram {
                to,
                inc,
                from,
                bytes,
            } => self.deliver_datagram(to as usize, inc, from as usize, &bytes),
        }
        true
    }

    /// Runs every action scheduled up to and including `t`; the clock ends at `t`.
    pub fn run_until(&mut self, t: Millis) {
        while self.queue.peek().is_some_and(|s| s.time <= t) {
            self.step();
        }
        if t > self.now {
            self.advance(t);
        }
    }

    pub fn run_for(&mut self, ms: Millis) {
        self.run_until(self.now + ms);
    }

    pub fn run_rounds(&mut self, rounds: u64) {
        self.run_for(rounds * self.interval());
    }

    /// Runs until `cond` holds, checking every `every_ms` of virtual time,
    /// but not past `deadline`. Returns the time it first held.
    pub fn run_until_cond(
        &mut self,
        deadline: Millis,
        every_ms: Millis,
        mut cond: impl FnMut(&Sim) -> bool,
    ) -> Option<Millis> {
        let every = every_ms.max(1);
        loop {
            if cond(self) {
                return Some(self.now);
            }
            if self.now >= deadline {
                return None;
            }
            let next = (self.now + every).min(deadline);
            self.run_until(next);
        }
    }

    // ---- node life ---------------------------------------------------------

    /// Whether an action scheduled for node `i`'s incarnation `inc` while it
    /// was in `status` still applies (it has not restarted or moved on).
    fn applies(&self, i: usize, inc: u32, status: Status) -> bool {
        let n = &self.nodes[i];
        n.incarnation == inc && n.status == status
    }

    fn on_start(&mut self, i: usize, inc: u32) {
        let now = self.now;
        if !self.applies(i, inc, Status::Pending) {
            return;
        }
        let n = &mut self.nodes[i];
        n.status = Status::Up;
        let name = n.name.clone();
        n.node.start(&name, &self.seeds, now);
        self.drain(i);
    }

    /// The core asked to be woken at `at`.
    fn on_wake(&mut self, i: usize, inc: u32, at: Millis) {
        let n = &mut self.nodes[i];
        if n.incarnation != inc || n.wake != Some(at) {
            return; // superseded by an earlier wake-up, or an older life's
        }
        n.wake = None;
        if !matches!(n.status, Status::Up | Status::Leaving) {
            return;
        }
        let now = self.now;
        n.node.handle_timeout(now);
        self.drain(i);
    }

    /// Makes node `i`'s timers fire `lag` ms late from now on, as in a
    /// process whose event loop is busy (0: on time again).
    pub fn slow(&mut self, i: usize, lag: Millis) {
        self.nodes[i].lag = lag;
        self.nodes[i].input_lag = lag;
    }

    /// Makes node `i`'s timers alone fire `lag` ms late: its rounds and
    /// probes run late, what it receives is answered on time (gossiper's
    /// runtime thread, when the application's event loop is what is busy,
    /// is the other case: `slow`).
    pub fn slow_timers(&mut self, i: usize, lag: Millis) {
        self.nodes[i].lag = lag;
        self.nodes[i].input_lag = 0;
    }

    /// Kills node `i`: it stops at once, messages to and from it are lost.
    pub fn kill(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.status = Status::Down;
        n.node.stop();
        n.wake = None;
    }

    /// The generation a process started now takes: the virtual clock in
    /// microseconds, as the runtime's wall clock.
    pub fn clock_generation(&self) -> u64 {
        GENERATION_BASE + self.now * 1000
    }

    /// Starts a new process on node `i`'s name now (killing the running one
    /// if any): a fresh `Node` whose generation comes from the clock.
    pub fn restart(&mut self, i: usize) {
        self.restart_with(i, self.cfg.config.clone(), self.clock_generation());
    }

    /// `restart` with another configuration and a chosen generation (one
    /// below the last life's versions plays a clock that went back).
    pub fn restart_with(&mut self, i: usize, config: Config, generation: u64) {
        let seed = self.rng.u64(..);
        let node = self.new_node(config, generation, seed);
        let n = &mut self.nodes[i];
        n.node = node;
        n.incarnation += 1;
        n.status = Status::Pending;
        n.left = false;
        n.wake = None;
        n.catch_ups = 0;
        let inc = n.incarnation;
        self.failed_ids.retain(|(obs, _), _| *obs as usize != i);
        self.on_start(i, inc);
    }

    /// Node `i` leaves: its core tells a few peers at once; it stops one
    /// gossip interval later.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        let n = &mut self.nodes[i];
        if n.status != Status::Up {
            return;
        }
        n.node.leave(now);
        n.status = Status::Leaving;
        n.left = true;
        let inc = n.incarnation;
        self.drain(i);
        let at = self.now + self.interval();
        self.schedule(
            at,
            Action::Stop {
                node: i as u32,
                inc,
            },
        );
    }

    /// Node `i` writes `key` (msgpack bytes).
    pub fn set(&mut self, i: usize, key: &str, value: &[u8]) -> Result<(), StateError> {
        let now = self.now;
        let r = self.nodes[i].node.set_local(key, Value::from(value), now);
        self.drain(i);
        r
    }

    /// Node `i` writes `key` to live `ttl_ms` from now (see
    /// `Node::set_local_expiring`): every node deletes it then.
    pub fn set_expiring(
        &mut self,
        i: usize,
        key: &str,
        value: &[u8],
        ttl_ms: Millis,
    ) -> Result<(), StateError> {
        let now = self.now;
        let r = self.nodes[i]
            .node
            .set_local_expiring(key, Value::from(value), ttl_ms, now);
        self.drain(i);
        r
    }

    /// Node `i` deletes `key`; false if it was not set.
    pub fn delete(&mut self, i: usize, key: &str) -> Result<bool, StateError> {
        let now = self.now;
        let r = self.nodes[i].node.delete_local(key, now);
        self.drain(i);
        r
    }

    // ---- after every input -----------------------------------------------------

    /// Carries out what node `i`'s core produced: its connections, its
    /// next wake-up, and its events (counted, membership changes logged).
    fn drain(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].node.poll_transmit() {
            match t {
                Transmit::Connect {
                    exchange,
                    to,
                    message,
                } => self.connect(i, exchange, &to, message),
                // the simulator's nodes are named by address: a name is
                // its own only address, or does not resolve
                Transmit::Resolve { seed, name } => {
                    let now = self.now;
                    let result = match self.index.contains_key(&*name) {
                        true => Ok(vec![name.to_string()]),
                        false => Err("no such host".to_string()),
                    };
                    self.nodes[i].node.handle_resolved(seed, result, now);
                }
                Transmit::Datagram { to, bytes } => self.send_datagram(i, &to, bytes),
            }
        }
        let n = &mut self.nodes[i];
        let catch_ups = n.node.stats().catch_ups;
        self.metrics.catch_ups += catch_ups - n.catch_ups;
        n.catch_ups = catch_ups;
        if let Some(at) = n.node.poll_timeout() {
            if n.wake.is_none_or(|w| at < w) {
                n.wake = Some(at);
                let inc = n.incarnation;
                let fire = at.max(self.now) + n.lag;
                self.schedule(
                    fire,
                    Action::Wake {
                        node: i as u32,
                        inc,
                        at,
                    },
                );
            }
        }
        self.count_events(i);
    }

    /// Counts node `i`'s pending events and logs membership changes.
    fn count_events(&mut self, i: usize) {
        let events = self.nodes[i].node.take_events();
        if events.is_empty() {
            return;
        }
        let mut counts = self.nodes[i].counts;
        for e in events {
            match e {
                Event::NewPeer { .. } => counts.new_peer += 1,
                Event::Update { .. } => counts.update += 1,
                Event::Delete { .. } => counts.delete += 1,
                Event::Warning { .. } => counts.warnings += 1,
                Event::Failed { peer } => {
                    counts.failed += 1;
                    let subject = self.subject(i, peer);
                    // only a node that removes failed peers reports `Removed`
                    let removes = self.nodes[i].node.config().dead_peer_removal_ms.is_some();
                    if let Some(s) = subject.filter(|_| removes) {
                        self.failed_ids.insert((i as u32, peer), s as u32);
                    }
                    let false_alarm = subject.is_some_and(|s| {
                        let n = &self.nodes[s];
                        n.status == Status::Up && !n.left && self.reachable(i, s)
                    });
                    counts.false_failed += u64::from(false_alarm);
                    self.log_membership(i, subject, MembershipKind::Failed, false_alarm);
                }
                Event::Left { peer } => {
                    counts.left += 1;
                    let subject = self.subject(i, peer);
                    let removes = self.nodes[i].node.config().dead_peer_removal_ms.is_some();
                    if let Some(s) = subject.filter(|_| removes) {
                        self.failed_ids.insert((i as u32, peer), s as u32);
                    }
                    self.log_membership(i, subject, MembershipKind::Left, false);
                }
                Event::Alive { peer } => {
                    counts.alive += 1;
                    self.failed_ids.remove(&(i as u32, peer));
                    let subject = self.subject(i, peer);
                    self.log_membership(i, subject, MembershipKind::Alive, false);
                }
                Event::Removed { peer } => {
                    counts.removed += 1;
                    let subject = self
                        .failed_ids
                        .remove(&(i as u32, peer))
                        .map(|s| s as usize);
                    self.log_membership(i, subject, MembershipKind::Removed, false);
                }
            }
        }
        self.nodes[i].counts = counts;
    }

    fn subject(&self, observer: usize, peer: PeerId) -> Option<usize> {
        let p = self.nodes[observer].node.peer(peer)?;
        let j = self.by_name_ptr.get(&name_ptr(&p.name));
        j.or_else(|| self.index.get(&p.name)).map(|&j| j as usize)
    }

    fn log_membership(
        &mut self,
        observer: usize,
        subject: Option<usize>,
        kind: MembershipKind,
        false_alarm: bool,
    ) {
        if !self.cfg.log_membership {
            return;
        }
        self.log.push(Membership {
            time: self.now,
            observer,
            subject,
            kind,
            false_alarm,
        });
    }

    // ---- queries ---------------------------------------------------------------

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i].node
    }

    /// Direct access, to drive a node by hand (events it emits are counted
    /// at its next drain).
    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i].node
    }

    pub fn name(&self, i: usize) -> &Arc<str> {
        &self.nodes[i].name
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).map(|&i| i as usize)
    }

    pub fn status(&self, i: usize) -> Status {
        self.nodes[i].status
    }

    /// Running and not leaving.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].status == Status::Up
    }

    /// Nodes that are up.
    pub fn up(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.is_up(i)).collect()
    }

    pub fn counts(&self, i: usize) -> &EventCounts {
        &self.nodes[i].counts
    }

    /// Events of all nodes, added up.
    pub fn total_counts(&self) -> EventCounts {
        let mut total = EventCounts::default();
        for n in &self.nodes {
            total.add(&n.counts);
        }
        total
    }

    /// Bytes node `i` sent since the start.
    pub fn bytes_sent(&self, i: usize) -> u64 {
        self.nodes[i].bytes_sent
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Failed, Alive and Removed events in the order they fired.
    pub fn membership_log(&self) -> &[Membership] {
        &self.log
    }

    /// `Failed` events about nodes that were up and reachable.
    pub fn false_failures(&self) -> u64 {
        self.total_counts().false_failed
    }
}
