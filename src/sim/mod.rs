//! A deterministic simulator: thousands of [`Node`]s over an in-memory
//! network, with virtual time and one seeded RNG, for tests and benchmarks.
//!
//! Everything is driven by a single event queue ordered by (time, sequence
//! number), so a run depends only on its [`SimConfig`] and on the calls made
//! on the [`Sim`]. The model:
//! - node `i` is called `10.a.b.c:9000` (its index in the last three bytes)
//!   and starts at a random moment within `start_spread_ms`; it then ticks
//!   every `gossip_interval_ms` with that phase;
//! - an exchange follows the real one: REQUEST → FIRST_RESPONSE →
//!   SECOND_RESPONSE, each message delivered after a latency drawn uniformly
//!   from `latency_ms`, through the real codec (`wire::decode`);
//! - a message is dropped with probability `loss`, and a dropped message
//!   aborts its exchange, as a TCP failure would; an exchange towards a dead
//!   or partitioned node fails at connect time; a message in flight is lost
//!   when either end dies, restarts, or is cut off by a partition;
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
//!
//! Cost: every node holds every other, about 100 bytes per (node, peer) pair
//! in the core plus 4 per detector sample (names are shared by all nodes,
//! see `Names`), so N nodes need about N² · 120 bytes with 4 samples per
//! peer (10 000 nodes: 12 GB; the default window of 100 samples adds 400
//! bytes a pair), and a round costs O(N · digest) hash look-ups.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::core::catch_up::CatchUpChain;
use crate::core::node::Peer;
use crate::core::node::{Names, StateError, HEARTBEAT_KEY, LEFT_KEY};
use crate::core::peer_state::Value;
use crate::core::stats::Refusal;
use crate::core::time::Millis;
use crate::core::{Config, Event, Node, PeerId};
use crate::wire::{self, Incoming};

#[cfg(test)]
mod tests;

/// Microseconds since the epoch at the sim's time zero (September 2020):
/// versions look like the runtime's and stay below 2^53.
pub const GENERATION_BASE: u64 = 1_600_000_000_000_000;

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub nodes: usize,
    pub seed: u64,
    /// The configuration of every node.
    pub config: Config,
    /// The first `seeds` nodes are every node's seeds.
    pub seeds: usize,
    /// Each node starts at a uniformly random time in `0..=start_spread_ms`.
    pub start_spread_ms: Millis,
    /// Probability that a message is dropped (aborting its exchange).
    pub loss: f64,
    /// One-way latency of a message, uniform in `min..=max`.
    pub latency_ms: (Millis, Millis),
    /// Keep the log of membership events (`membership_log`); the counts are
    /// kept either way. Off for very large runs, where a detector that flaps
    /// would log millions.
    pub log_membership: bool,
    /// Check liveness between rounds, as the runtime does
    /// (`Node::liveness_check_interval`). Off for very large runs, where
    /// every check scans every peer.
    pub liveness_checks: bool,
    /// Catch-up exchanges after one that had to leave updates out, one chain
    /// per node at a time, as the runtime does (`catchUpExchanges`).
    pub catch_up_exchanges: u32,
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
            liveness_checks: true,
            catch_up_exchanges: 8,
        }
    }
}

/// What a node is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created, its start is scheduled.
    Pending,
    Up,
    /// Called `leave()`: finishes the exchanges that announce it, no longer
    /// ticks, then stops.
    Leaving,
    /// Killed, or stopped after leaving.
    Down,
}

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
}

impl EventCounts {
    fn add(&mut self, o: &EventCounts) {
        self.new_peer += o.new_peer;
        self.update += o.update;
        self.delete += o.delete;
        self.alive += o.alive;
        self.failed += o.failed;
        self.false_failed += o.false_failed;
        self.left += o.left;
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

struct SimNode {
    node: Node,
    name: Arc<str>,
    status: Status,
    /// Bumped at every restart: messages and ticks of an older life are void.
    incarnation: u32,
    /// Announced its departure (`leave`).
    left: bool,
    counts: EventCounts,
    bytes_sent: u64,
    round_bytes: u64,
    catch_up: CatchUpChain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Request = 0,
    First = 1,
    Second = 2,
}

struct Msg {
    from: u32,
    from_inc: u32,
    to: u32,
    to_inc: u32,
    kind: Kind,
    bytes: Vec<u8>,
    /// The exchange belongs to its initiator's catch-up chain.
    chain: bool,
}

enum Action {
    Start { node: u32, inc: u32 },
    Tick { node: u32, inc: u32 },
    Check { node: u32, inc: u32 },
    Stop { node: u32, inc: u32 },
    Deliver(Msg),
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

/// Node `i`'s address.
pub fn node_name(i: usize) -> String {
    format!(
        "10.{}.{}.{}:9000",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

/// msgpack of a string (a value for `Sim::set`).
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
                catch_up: CatchUpChain::default(),
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
            Action::Tick { node, inc } => self.on_tick(node as usize, inc),
            Action::Check { node, inc } => self.on_check(node as usize, inc),
            Action::Stop { node, inc } => {
                if self.applies(node as usize, inc, Status::Leaving) {
                    self.nodes[node as usize].status = Status::Down;
                }
            }
            Action::Deliver(msg) => self.on_deliver(msg),
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
        self.schedule_round(i, inc);
    }

    fn on_tick(&mut self, i: usize, inc: u32) {
        let now = self.now;
        if !self.applies(i, inc, Status::Up) {
            return;
        }
        let n = &mut self.nodes[i];
        let targets = n.node.tick(now);
        self.drain(i);
        for target in targets {
            self.open(i, &target);
        }
        self.schedule_round(i, inc);
    }

    /// Schedules node `i`'s next tick, and its liveness checks until then.
    fn schedule_round(&mut self, i: usize, inc: u32) {
        let (now, interval) = (self.now, self.interval());
        let node = i as u32;
        if self.cfg.liveness_checks {
            let every = self.nodes[i].node.liveness_check_interval();
            for at in (now + every..now + interval).step_by(every as usize) {
                self.schedule(at, Action::Check { node, inc });
            }
        }
        self.schedule(now + interval, Action::Tick { node, inc });
    }

    fn on_check(&mut self, i: usize, inc: u32) {
        let now = self.now;
        if !self.applies(i, inc, Status::Up) {
            return;
        }
        let n = &mut self.nodes[i];
        n.node.check_liveness(now);
        self.drain(i);
    }

    /// Kills node `i`: it stops at once, messages to and from it are lost.
    pub fn kill(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.status = Status::Down;
        n.node.stop();
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
        n.catch_up.end();
        let inc = n.incarnation;
        self.failed_ids.retain(|(obs, _), _| *obs as usize != i);
        self.on_start(i, inc);
    }

    /// Node `i` leaves: it tells a few peers at once, stops ticking, and is
    /// down one gossip interval later.
    pub fn leave(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.status != Status::Up {
            return;
        }
        let targets = n.node.leave();
        n.status = Status::Leaving;
        n.left = true;
        let inc = n.incarnation;
        self.drain(i);
        for target in targets {
            self.open(i, &target);
        }
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
        let r = self.nodes[i].node.set_local(key, Value::from(value));
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

    // ---- network -------------------------------------------------------------

    /// Splits the network: each listed group can only reach itself; nodes in
    /// no group form one more group together.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        let rest = groups.len() as u32 + 1;
        self.group.iter_mut().for_each(|g| *g = rest);
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                self.group[i] = g as u32 + 1;
            }
        }
    }

    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    pub fn reachable(&self, a: usize, b: usize) -> bool {
        self.group[a] == self.group[b]
    }

    fn serving(&self, i: usize) -> bool {
        matches!(self.nodes[i].status, Status::Up | Status::Leaving)
    }

    /// Node `i` starts an exchange with `target`.
    fn open(&mut self, i: usize, target: &str) {
        self.open_exchange(i, target, false);
    }

    /// Starts an exchange; `chain`: one of `i`'s catch-up exchanges.
    fn open_exchange(&mut self, i: usize, target: &str, chain: bool) {
        self.metrics.exchanges_started += 1;
        let j = match self.index.get(target) {
            Some(&j) => j as usize,
            None => usize::MAX,
        };
        if j == usize::MAX || j == i || !self.serving(j) || !self.reachable(i, j) {
            self.metrics.connect_failures += 1;
            let s = &mut self.nodes[i].node.stats;
            s.connect_failures += 1;
            s.exchanges_failed += 1;
            if chain {
                self.nodes[i].catch_up.end();
            }
            return;
        }
        let bytes = self.nodes[i].node.request();
        self.send(i, j, Kind::Request, bytes, chain);
    }

    fn send(&mut self, from: usize, to: usize, kind: Kind, bytes: Vec<u8>, chain: bool) {
        let m = &mut self.metrics;
        m.messages_sent += 1;
        m.bytes_sent += bytes.len() as u64;
        let k = kind as usize;
        m.max_message[k] = m.max_message[k].max(bytes.len());
        m.messages_by_kind[k] += 1;
        m.bytes_by_kind[k] += bytes.len() as u64;
        let n = &mut self.nodes[from];
        n.bytes_sent += bytes.len() as u64;
        n.round_bytes += bytes.len() as u64;
        n.node.stats.messages_out += 1;
        n.node.stats.bytes_out += bytes.len() as u64;
        let msg = Msg {
            from: from as u32,
            from_inc: self.nodes[from].incarnation,
            to: to as u32,
            to_inc: self.nodes[to].incarnation,
            kind,
            bytes,
            chain,
        };
        if self.cfg.loss > 0.0 && self.rng.f64() < self.cfg.loss {
            self.metrics.messages_lost += 1;
            self.abort(from, to);
            self.end_chain(&msg);
            return;
        }
        let (lo, hi) = self.cfg.latency_ms;
        let at = self.now + self.rng.u64(lo..=hi);
        self.schedule(at, Action::Deliver(msg));
    }

    /// Both ends of a broken exchange count it failed.
    fn abort(&mut self, a: usize, b: usize) {
        for i in [a, b] {
            if self.serving(i) {
                self.nodes[i].node.stats.exchanges_failed += 1;
            }
        }
    }

    fn on_deliver(&mut self, msg: Msg) {
        let (from, to) = (msg.from as usize, msg.to as usize);
        let intact = self.nodes[from].incarnation == msg.from_inc
            && self.nodes[to].incarnation == msg.to_inc
            && self.serving(from)
            && self.serving(to)
            && self.reachable(from, to);
        if !intact {
            self.metrics.messages_cut += 1;
            self.abort(from, to);
            self.end_chain(&msg);
            return;
        }
        let now = self.now;
        let mut more = false;
        let result = {
            let node = &mut self.nodes[to].node;
            node.stats.messages_in += 1;
            node.stats.bytes_in += msg.bytes.len() as u64;
            match (wire::decode(&msg.bytes), msg.kind) {
                (Ok(Incoming::Request(req)), Kind::Request) => {
                    node.stats.connections_accepted += 1;
                    node.handle_request(&req, now).map(Some)
                }
                (Ok(Incoming::FirstResponse(resp)), Kind::First) => {
                    node.handle_first_response(&resp, now).map(|second| {
                        node.exchange_completed();
                        more = second.more;
                        Some(second.message)
                    })
                }
                (Ok(Incoming::SecondResponse(resp)), Kind::Second) => {
                    node.handle_second_response(&resp, now).map(|_| None)
                }
                (Ok(_), _) => Err(Refusal::Unexpected),
                (Err(_), _) => Err(Refusal::Malformed),
            }
        };
        self.drain(to);
        match result {
            Ok(Some(reply)) => {
                let kind = if msg.kind == Kind::Request {
                    Kind::First
                } else {
                    self.metrics.exchanges_completed += 1;
                    Kind::Second
                };
                self.send(to, from, kind, reply, msg.chain);
                if msg.kind == Kind::First {
                    self.catch_up(to, from, msg.chain, more);
                }
            }
            Ok(None) => {}
            Err(why) => {
                self.metrics.refusals += 1;
                self.nodes[to].node.stats.refuse(why);
                self.abort(from, to);
                self.end_chain(&msg);
            }
        }
    }

    /// After initiator `i`'s exchange with `j` (one of its chain's, or not):
    /// the next catch-up exchange while it left updates out, as the runtime.
    fn catch_up(&mut self, i: usize, j: usize, chain: bool, more: bool) {
        let n = &mut self.nodes[i];
        if n.catch_up.next(chain, more, self.cfg.catch_up_exchanges) {
            n.node.catch_up_started();
            self.metrics.catch_ups += 1;
            let target = self.nodes[j].name.clone();
            self.open_exchange(i, &target, true);
        }
    }

    /// A chain's exchange broke: the chain ends (for the life it belonged to).
    fn end_chain(&mut self, msg: &Msg) {
        if !msg.chain {
            return;
        }
        let (i, inc) = if msg.kind == Kind::First {
            (msg.to as usize, msg.to_inc)
        } else {
            (msg.from as usize, msg.from_inc)
        };
        if self.nodes[i].incarnation == inc {
            self.nodes[i].catch_up.end();
        }
    }

    // ---- events ----------------------------------------------------------------

    /// Counts node `i`'s pending events and logs membership changes.
    fn drain(&mut self, i: usize) {
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

    /// Whether observer `i` holds node `j` in its table and sees it alive.
    pub fn sees_alive(&self, i: usize, j: usize) -> Option<bool> {
        let node = &self.nodes[i].node;
        let id = node.lookup(&self.nodes[j].name)?;
        node.peer(id).map(|p| p.alive)
    }

    /// The peers node `i` holds that are nodes of the simulation, with their
    /// node index (its own slot included).
    fn held(&self, i: usize) -> impl Iterator<Item = (usize, &Peer)> {
        self.nodes[i].node.peers().filter_map(|(_, p)| {
            let j = self
                .by_name_ptr
                .get(&name_ptr(&p.name))
                .copied()
                .or_else(|| {
                    // a name that is not the shared copy (a node driven by hand)
                    self.index.get(&p.name).copied()
                })?;
            Some((j as usize, p))
        })
    }

    fn up_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.status == Status::Up).count()
    }

    /// How many nodes other than `i` that are up `i` holds and `f` accepts.
    fn count_held(&self, i: usize, mut f: impl FnMut(usize, &Peer) -> bool) -> usize {
        self.held(i)
            .filter(|&(j, p)| j != i && self.is_up(j) && f(j, p))
            .count()
    }

    /// Node `i` knows every other node that is up.
    pub fn knows_all(&self, i: usize) -> bool {
        let others = self.up_count() - usize::from(self.is_up(i));
        self.count_held(i, |_, _| true) == others
    }

    /// Some node has not started yet: the cluster cannot have formed.
    pub fn starting(&self) -> bool {
        self.nodes.iter().any(|n| n.status == Status::Pending)
    }

    /// Every node has started, and every one that is up knows every other
    /// one that is up.
    pub fn all_know_all(&self) -> bool {
        !self.starting() && (0..self.nodes.len()).all(|i| !self.is_up(i) || self.knows_all(i))
    }

    /// Every node has started, and every one that is up holds every other
    /// one that is up as alive.
    pub fn all_alive(&self) -> bool {
        if self.starting() {
            return false;
        }
        let others = self.up_count().saturating_sub(1);
        self.up()
            .into_iter()
            .all(|i| self.count_held(i, |_, p| p.alive) == others)
    }

    /// Every up node other than `j` holds `j` as failed (or has forgotten it).
    pub fn failed_everywhere(&self, j: usize) -> bool {
        (0..self.nodes.len())
            .filter(|&i| i != j && self.is_up(i))
            .all(|i| self.sees_alive(i, j) != Some(true))
    }

    /// Every up node other than `owner` holds `key` of `owner` with exactly
    /// the owner's value and version (or, if the owner has no such live key,
    /// holds none either).
    pub fn value_everywhere(&self, owner: usize, key: &str) -> bool {
        let own = self.nodes[owner].node.local_state().get(key);
        let own = own.filter(|e| e.value.is_some());
        let name = &self.nodes[owner].name;
        (0..self.nodes.len())
            .filter(|&i| i != owner && self.is_up(i))
            .all(|i| {
                let node = &self.nodes[i].node;
                let Some(p) = node.lookup(name).and_then(|id| node.peer(id)) else {
                    return false;
                };
                let view = p.state.get(key).filter(|e| e.value.is_some());
                match (own, view) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.value == b.value && a.version == b.version,
                    _ => false,
                }
            })
    }

    /// Every node has started, and every one that is up knows every other
    /// one that is up, with its generation, and holds every one of its keys exactly as the owner does
    /// (same live keys, values and versions, deleted keys absent). The
    /// heartbeat, which its owner bumps every round, only has to be present:
    /// how far behind it is is measured by `heartbeat_lag`.
    pub fn converged(&self) -> bool {
        if self.starting() {
            return false;
        }
        type Keys<'a> = Vec<(&'a Arc<str>, &'a Value, u64)>;
        let owners: Vec<Option<Keys>> = (0..self.nodes.len())
            .map(|j| {
                self.is_up(j).then(|| {
                    let state = self.nodes[j].node.local_state();
                    state
                        .deltas_after(0)
                        .filter(|(k, _)| &***k != HEARTBEAT_KEY)
                        .filter_map(|(k, e)| e.value.as_ref().map(|v| (k, v, e.version)))
                        .collect()
                })
            })
            .collect();
        let others = self.up_count().saturating_sub(1);
        self.up().into_iter().all(|i| {
            let matching = self.count_held(i, |j, view| {
                let Some(keys) = &owners[j] else {
                    return false;
                };
                let owner = self.nodes[j].node.local_state();
                let view = &view.state;
                view.generation == owner.generation
                    && view.live_keys() == owner.live_keys()
                    && view.value(HEARTBEAT_KEY).is_some()
                    && view.value(LEFT_KEY).is_none()
                    && keys.iter().all(|(k, v, version)| {
                        view.get(k)
                            .is_some_and(|e| e.version == *version && e.value.as_ref() == Some(*v))
                    })
            });
            matching == others
        })
    }

    /// Each node's own heartbeat count now (0 for one never started).
    pub fn heartbeats(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| {
                n.node
                    .local_state()
                    .value(HEARTBEAT_KEY)
                    .and_then(|v| read_uint(v))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Every up node holds, of every other up node, a heartbeat at least as
    /// recent as `beats` (taken by `heartbeats()`): the heartbeats that were
    /// the latest then have reached everyone (or been overtaken).
    pub fn heartbeats_reached(&self, beats: &[u64]) -> bool {
        let others = self.up_count().saturating_sub(1);
        self.up().into_iter().all(|i| {
            let fresh = self.count_held(i, |j, p| {
                let seen = p.state.value(HEARTBEAT_KEY).and_then(|v| read_uint(v));
                seen.unwrap_or(0) >= beats[j]
            });
            fresh == others
        })
    }

    /// How many rounds the heartbeats that up nodes hold of each other lag
    /// behind their owners': (max, mean) over all ordered pairs. A pair where
    /// the observer holds no heartbeat counts as the owner's whole count.
    pub fn heartbeat_lag(&self) -> (u64, f64) {
        let beat = |state: &crate::core::peer_state::PeerState| {
            state
                .value(HEARTBEAT_KEY)
                .and_then(|v| read_uint(v))
                .unwrap_or(0)
        };
        let up = self.up();
        let beats: Vec<u64> = (0..self.nodes.len())
            .map(|j| beat(self.nodes[j].node.local_state()))
            .collect();
        let (mut max, mut sum, mut pairs) = (0u64, 0u64, 0u64);
        let mut seen = vec![0u64; self.nodes.len()];
        for &i in &up {
            seen.iter_mut().for_each(|s| *s = 0);
            for (j, p) in self.held(i) {
                seen[j] = beat(&p.state);
            }
            for &j in &up {
                if i == j {
                    continue;
                }
                let lag = beats[j].saturating_sub(seen[j]);
                max = max.max(lag);
                sum += lag;
                pairs += 1;
            }
        }
        (max, sum as f64 / pairs.max(1) as f64)
    }
}
