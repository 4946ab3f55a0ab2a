//! Failure detection between peers that speak probes (protocol 2): SWIM
//! (Das et al. 2002) with Lifeguard's local health (Dadgar et al. 2018), as
//! memberlist and foca do it, over datagrams.
//!
//! - Every probe period (half a gossip interval) a node probes one peer, in
//!   a shuffled round-robin order: a PING, answered by an ACK. Without an
//!   ack after `ack_timeout`, three other peers are asked to probe it too
//!   (PING_REQ) and relay their ack. Without any ack by the end of the
//!   period the peer is suspected.
//! - A suspicion is news (see `broadcast.rs`), and is also sent to the
//!   suspect itself, which refutes it by writing a newer heartbeat: any
//!   state of a peer newer than the suspected version clears it. One not
//!   refuted within `suspicion_timeout` (log10 N rounds, at least two) is a
//!   conviction (`Failed`), which is news too: every node reports it failed
//!   at once.
//! - Local health: a node that has to refute suspicions of itself, or
//!   misses acks, is probably the slow one; it waits longer for acks
//!   before it suspects anybody, and falls back as probes succeed.
//! - The cost is one probe and one ack per node and period, whatever the
//!   cluster's size; news rides on them. Probe and ack also carry the
//!   senders' summaries and membership hashes (`summary.rs`): when they
//!   differ, a repair exchange moves what is missing, paced so that news
//!   already on its way is not sent twice (`maybe_repair`).
//!
//! Peers that do not speak probes (node-gossip, older gossipers) are judged
//! by their heartbeats as before (`liveness.rs`), and are gossiped with on
//! every round (see `schedule.rs`).

use super::broadcast::{proto_flags, News, Queued};
use super::*;
use crate::wire::datagram::{self, Datagram, DatagramKind, Item, MAX_DATAGRAM_BYTES};

/// Peers asked to probe a peer that did not answer.
pub const INDIRECT_PROBES: usize = 3;

/// News queued beyond this much (a few datagrams' worth) is a backlog,
/// gossiped four times as often (`swim_timeout`).
const BACKLOG_NEWS: usize = 128;

/// Highest local health score (Lifeguard's awareness): timeouts stretch up
/// to `1 + MAX_HEALTH` times.
const MAX_HEALTH: u32 = 8;

/// Rounds after its start in which a node repairs every round.
const JOINING_ROUNDS: Millis = 10;
/// Repairs at the joining pace, at most.
const JOINING_REPAIRS: u32 = 3;

/// Rounds between repairs of a node whose summary keeps changing.
const BUSY_REPAIR_ROUNDS: Millis = 30;

/// A timer that fires later than this share of a probe period means the
/// node itself is behind.
const LATE_SHARE: Millis = 4;

/// ...and later than this, whatever the period: a loaded machine's timers
/// run a few milliseconds late all the time.
const LATE_MIN_MS: Millis = 100;

/// Round trips longer than this are taken for this (a probe period of
/// at most 20 s).
const MAX_RTT_MS: Millis = 5_000;

/// The round-trip estimate halves every this long without a longer
/// sample. By time, not by sample: a long round trip stretches the probe
/// period, which spaces the samples out, so a decay per sample would keep
/// a node probing slowly long after a spike (acks that waited behind a
/// loaded process, as a large cluster forms on one machine).
const RTT_HALF_LIFE_MS: Millis = 2_000;

/// Pulls of large updates waiting for a free slot, at most.
const MAX_PULLS: usize = 64;

/// Probe periods without a datagram from anyone after which a node takes
/// itself for cut off: every live peer would have acked a probe or probed
/// it meanwhile, so the silence is its own network's (or its own process
/// stood still), not its peers' deaths.
const CUT_OFF_PERIODS: Millis = 4;

#[derive(Clone, Debug, Default)]
pub(super) struct Swim {
    /// The probe order: peer slots, shuffled, walked round-robin.
    order: Vec<PeerId>,
    next: usize,
    seq: u64,
    probe: Option<Probe>,
    next_probe: Option<Millis>,
    /// News to send out in a gossip datagram.
    gossip_at: Option<Millis>,
    /// The last gossip datagrams sent.
    gossiped_at: Option<Millis>,
    relays: Vec<RelayedPing>,
    pub suspects: FxHashMap<PeerId, Suspicion>,
    health: u32,
    last_repair: Option<Millis>,
    started_at: Option<Millis>,
    /// Repairs run since the start, at the joining pace.
    joining_repairs: u32,
    running: Option<ExchangeId>,
    /// Large updates to fetch: (from whom, whose state).
    pulls: Vec<(Arc<str>, PeerId)>,
    /// Until then this node runs late and judges nobody.
    lagging_until: Millis,
    /// The round trip of a probe and its ack, as a maximum that decays
    /// with time (see `rtt`): probes wait for acks in proportion to it.
    rtt: Millis,
    /// When `rtt` was last measured.
    rtt_at: Millis,
    /// The last probes sent, (seq, when, to whom): an ack that comes after
    /// its probe's period still measures the round trip.
    sent: Vec<(u64, Millis, PeerId)>,
    /// When a datagram from any peer last arrived (the start, before any).
    heard_at: Millis,
}

#[derive(Clone, Debug)]
struct Probe {
    target: PeerId,
    name: Arc<str>,
    seq: u64,
    /// The target's version when probed: a suspicion is of that.
    version: u64,
    ack_by: Millis,
    acked: bool,
    indirect: bool,
}

/// A PING we sent for another node's PING_REQ: its ACK goes back there.
#[derive(Clone, Debug)]
struct RelayedPing {
    seq: u64,
    requester: Arc<str>,
    their_seq: u64,
    until: Millis,
}

#[derive(Clone, Debug)]
pub(super) struct Suspicion {
    version: u64,
    since: Millis,
    deadline: Millis,
    /// Who suspects it, as far as we heard: the first, then independent
    /// confirmations, up to `CONFIRMATIONS`.
    by: Vec<PeerId>,
}

/// Suspecters after whom a suspicion's timeout is down to its least
/// (Lifeguard's k).
const CONFIRMATIONS: usize = 3;

/// A suspicion heard from one suspecter alone lasts this many times the
/// least timeout (Lifeguard's max/min ratio).
const LONEST_SUSPICION: Millis = 3;

impl Node {
    /// Half a round, or longer on a network whose round trips are long:
    /// a probe, its ack timeout and an indirect probe's two hops must fit.
    fn probe_period(&self) -> Millis {
        (self.config.gossip_interval_ms / 2)
            .max(4 * self.rtt())
            .max(10)
    }

    /// The round trip probes allow for now: the longest measured lately,
    /// decayed by its age.
    fn rtt(&self) -> Millis {
        let age = self.last_real.saturating_sub(self.swim.rtt_at);
        let decay = 0.5f64.powf(age as f64 / RTT_HALF_LIFE_MS as f64);
        (self.swim.rtt as f64 * decay) as Millis
    }

    /// An ack to our probe `seq` arrived at `now` from `from`: the round
    /// trip it took, if it came from the probed peer itself. An ack relayed
    /// by a helper of an indirect probe came after the ack timeout and two
    /// more round trips: taken for one, it would stretch the ack timeout,
    /// which stretches the next indirect ack, and the probes would slow
    /// down a little more with every lost ping.
    fn measure_rtt(&mut self, seq: u64, from: Option<PeerId>, now: Millis) {
        let probe = self
            .swim
            .sent
            .iter()
            .find(|&&(s, _, to)| s == seq && Some(to) == from);
        if let Some(&(_, at, _)) = probe {
            let sample = now.saturating_sub(at);
            self.swim.rtt = sample.max(self.rtt()).min(MAX_RTT_MS);
            self.swim.rtt_at = now;
        }
    }

    /// How long a probe waits for its ack before asking others to try.
    fn ack_timeout(&self) -> Millis {
        let p = self.probe_period();
        (p * 2 / 5 * Millis::from(1 + self.swim.health))
            .max(2 * self.rtt())
            .min(p * 4 / 5)
    }

    /// How long a suspect has to refute, once `suspecters` nodes suspect
    /// it (Lifeguard): at least log10 N rounds (two at least, longer while
    /// this node is unhealthy), reached once `CONFIRMATIONS` suspect it;
    /// `LONEST_SUSPICION` times that for a single suspecter, whose lossy
    /// link is the likelier cause. A dead node is soon suspected by many,
    /// since every node probes it in turn: its timeout shrinks fast.
    fn suspicion_timeout(&self, suspecters: usize) -> Millis {
        let n = (self.index.len() + 1) as f64;
        let rounds = n.log10().max(2.0);
        // a round, or two probe periods where round trips are long
        let round = self.config.gossip_interval_ms.max(2 * self.probe_period());
        let least = (rounds * round as f64) as Millis * Millis::from(1 + self.swim.health / 2);
        let most = least * LONEST_SUSPICION;
        // fewer may ever confirm in a small cluster
        let k = CONFIRMATIONS
            .min(self.swim.order.len().saturating_sub(1))
            .max(1);
        if suspecters >= k {
            return least;
        }
        let part = (suspecters.max(1) as f64).ln() / (k as f64).ln();
        most - ((most - least) as f64 * part) as Millis
    }

    fn gossip_tick(&self) -> Millis {
        (self.config.gossip_interval_ms / 5).max(5)
    }

    /// Whether this node probes (and takes datagrams).
    pub(super) fn probing(&self) -> bool {
        self.started && self.config.probes && !self.config.observer
    }

    /// Probes begin with the first round, at `first`, and fall on the
    /// rounds' grid of phases from then on (see `schedule.rs`): the nodes of
    /// one process wake together for probes and rounds alike.
    pub(super) fn swim_start(&mut self, now: Millis, first: Millis) {
        self.swim.probe = None;
        self.swim.relays.clear();
        self.swim.running = None;
        self.swim.pulls.clear();
        self.swim.started_at = Some(now);
        self.swim.joining_repairs = 0;
        self.swim.heard_at = now;
        self.swim.next_probe = self.probing().then_some(first);
        if !self.bcast.is_empty() {
            self.gossip_soon();
        }
    }

    pub(super) fn swim_stop(&mut self) {
        self.swim.next_probe = None;
        self.swim.gossip_at = None;
        self.swim.probe = None;
        self.swim.suspects.clear();
        self.swim.running = None;
        self.swim.pulls.clear();
    }

    /// News waits at most a millisecond to go out.
    pub(super) fn gossip_soon(&mut self) {
        if !self.probing() {
            return;
        }
        // at once; but with a backlog (a large cluster forming, when every
        // datagram brings news, and pushing each at once would multiply
        // datagrams by the fanout at every hop) not more often than four
        // times a gossip tick, and 20 times a second whatever the rounds
        let spacing = if self.bcast.len() > BACKLOG_NEWS {
            (self.gossip_tick() / 4).clamp(1, 50)
        } else {
            1
        };
        let at = (self.last_real + 1).max(self.swim.gossiped_at.map_or(0, |t| t + spacing));
        self.swim.gossip_at = Some(self.swim.gossip_at.map_or(at, |g| g.min(at)));
    }

    /// The next time anything of the probes is due.
    pub(super) fn swim_deadline(&self) -> Option<Millis> {
        let s = &self.swim;
        let ack = s
            .probe
            .as_ref()
            .filter(|p| !p.acked && !p.indirect)
            .map(|p| p.ack_by);
        let suspect = s.suspects.values().map(|x| x.deadline).min();
        [s.next_probe, ack, suspect, s.gossip_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs what of the probes is due at `now` (driver time).
    pub(super) fn swim_timeout(&mut self, now: Millis) {
        if !self.probing() {
            return;
        }
        let judged = self.clock.last();
        // Woken late, this node is the slow one (an overloaded process or
        // machine): the acks it missed and the refutations it has not read
        // yet may sit in its own queue. It judges nobody until it keeps up.
        let period = self.probe_period();
        if let Some(due) = self.swim_deadline().filter(|&d| d <= now) {
            if now - due > (period / LATE_SHARE).max(LATE_MIN_MS) {
                self.swim.lagging_until = now + period;
                self.swim.health = (self.swim.health + 1).min(MAX_HEALTH);
                self.stats.lags += 1;
            }
        }
        let lagging = now < self.swim.lagging_until;
        // convictions (a lagging node gives the suspect another period)
        let due: Vec<(PeerId, u64, bool)> = self
            .swim
            .suspects
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(&id, s)| (id, s.version, self.swim.heard_at > s.since))
            .collect();
        for (id, version, heard) in due {
            // at most as long again as the suspicion's own time: a node
            // that stays behind still reports the dead, later
            let grace = self
                .swim
                .suspects
                .get(&id)
                .map_or(0, |s| self.suspicion_timeout(s.by.len()));
            match self.swim.suspects.get_mut(&id) {
                Some(s) if lagging && now < s.since + 2 * grace => s.deadline = now + period,
                // heard from nobody since the suspicion began: this node
                // may be the one cut off, so the verdict stays its own
                _ => self.convict_as(id, version, judged, heard),
            }
        }
        // the probe's ack is late: ask others
        if let Some(p) = self.swim.probe.as_mut() {
            if !p.acked && !p.indirect && p.ack_by <= now {
                p.indirect = true;
                let (target, name, seq) = (p.target, p.name.clone(), p.seq);
                let helpers = self.sample_probing(INDIRECT_PROBES, Some(target));
                for h in helpers {
                    self.send_datagram(h, DatagramKind::PingReq, seq, Some(name.clone()));
                }
            }
        }
        // the period ends: judge the probe, start the next
        if self.swim.next_probe.is_some_and(|t| t <= now) {
            if let Some(p) = self.swim.probe.take() {
                if !p.acked {
                    if !lagging {
                        let me = self.me;
                        self.suspect(p.target, p.version, me, now);
                    }
                    self.swim.health = (self.swim.health + 1).min(MAX_HEALTH);
                }
            }
            self.swim.relays.retain(|r| r.until > now);
            // on the grid, unless a whole period late
            let due = self.swim.next_probe.unwrap_or(now);
            self.swim.next_probe = Some(if now >= due + period {
                now + period
            } else {
                due + period
            });
            self.probe_next(now);
        }
        if self.swim.gossip_at.is_some_and(|t| t <= now) {
            self.swim.gossip_at = None;
            if !self.bcast.is_empty() {
                self.swim.gossiped_at = Some(now);
                let fanout = self.config.fanout.max(3);
                for to in self.sample_probing(fanout, None) {
                    self.send_datagram(to, DatagramKind::Gossip, 0, None);
                }
                if !self.bcast.is_empty() {
                    // a backlog (a large cluster forming) drains four times
                    // as fast: the same datagrams, sooner
                    let tick = if self.bcast.len() > BACKLOG_NEWS {
                        (self.gossip_tick() / 4).max(1)
                    } else {
                        self.gossip_tick()
                    };
                    self.swim.gossip_at = Some(now + tick);
                }
            }
        }
    }

    /// Whether `id` can be probed: a live or suspected peer that speaks
    /// probes and has not left.
    fn probeable(&self, id: PeerId) -> bool {
        id != self.me
            && self
                .peer(id)
                .is_some_and(|p| p.proto == PROTO_PROBES && p.alive && !p.left)
    }

    /// Adds `id` to the probe order at a random place.
    pub(super) fn add_to_probes(&mut self, id: PeerId) {
        let order = &mut self.swim.order;
        order.push(id);
        let last = order.len() - 1;
        let j = self.rng.usize(..order.len());
        order.swap(last, j);
    }

    fn probe_next(&mut self, now: Millis) {
        let n = self.swim.order.len();
        let mut target = None;
        for _ in 0..n {
            if self.swim.next >= self.swim.order.len() {
                // a new lap, in a new order, without the gone
                let mut order = std::mem::take(&mut self.swim.order);
                order.retain(|&id| self.peer(id).is_some_and(|p| p.proto == PROTO_PROBES));
                order.sort_unstable();
                order.dedup();
                self.rng.shuffle(&mut order);
                self.swim.order = order;
                self.swim.next = 0;
                if self.swim.order.is_empty() {
                    break;
                }
            }
            let id = self.swim.order[self.swim.next];
            self.swim.next += 1;
            if self.probeable(id) {
                target = Some(id);
                break;
            }
        }
        let Some(id) = target else { return };
        let (name, version) = {
            let p = self.peer(id).expect("probeable");
            (p.name.clone(), p.state.max_version)
        };
        self.swim.seq += 1;
        let seq = self.swim.seq;
        if self.swim.sent.len() >= 4 {
            self.swim.sent.remove(0);
        }
        self.swim.sent.push((seq, now, id));
        self.swim.probe = Some(Probe {
            target: id,
            name: name.clone(),
            seq,
            version,
            ack_by: now + self.ack_timeout(),
            acked: false,
            indirect: false,
        });
        // the buddy system: a suspect hears of its suspicion in the probe
        let first = self
            .swim
            .suspects
            .get(&id)
            .map(|s| Queued::liveness(News::Suspect, id, s.version, s.by[0]));
        self.send_datagram_with(name.clone(), DatagramKind::Ping, seq, Some(name), first);
    }

    /// `n` live peers that speak probes, at random, by name (not `except`).
    ///
    /// Drawn from the probe order, which holds every peer that probes: a
    /// few draws find them in a large cluster, where a scan of the peer
    /// table for every gossip datagram and indirect probe is O(N). A small
    /// or mostly failed cluster, where draws keep missing, is scanned.
    pub(super) fn sample_probing(&mut self, n: usize, except: Option<PeerId>) -> Vec<Arc<str>> {
        let wanted = |node: &Node, id: PeerId| {
            id != node.me
                && Some(id) != except
                && node
                    .peer(id)
                    .is_some_and(|p| p.proto == PROTO_PROBES && p.alive && !p.left)
        };
        let len = self.swim.order.len();
        let mut ids: Vec<PeerId> = Vec::with_capacity(n);
        if len > 4 * n {
            for _ in 0..8 * n {
                if ids.len() == n {
                    break;
                }
                let id = self.swim.order[self.rng.usize(..len)];
                if !ids.contains(&id) && wanted(self, id) {
                    ids.push(id);
                }
            }
        }
        if ids.len() < n {
            ids = self
                .peers()
                .map(|(id, _)| id)
                .filter(|&id| wanted(self, id))
                .collect();
            let n = n.min(ids.len());
            for i in 0..n {
                let j = self.rng.usize(i..ids.len());
                ids.swap(i, j);
            }
            ids.truncate(n);
        }
        self.names(&ids)
    }

    /// `by` suspects `id` as of `version` (our probe went unanswered, or
    /// another node said so): a new suspicion, or one more suspecter of
    /// one we hold, is told to everyone.
    pub(super) fn suspect(&mut self, id: PeerId, version: u64, by: PeerId, now: Millis) {
        if self.doubt(id, version, by, now) {
            self.broadcast_suspicion(id, version, by);
        }
    }

    /// `by` suspects `id` as of `version`: held here, and told to `id` if
    /// new, so that it refutes if it lives. Returns whether it is news (a
    /// new suspicion, or a new suspecter of one held).
    ///
    /// Alone, this is how a conviction heard in an exchange's down list is
    /// taken: the sender may sit across a partition that just healed,
    /// where `id` was unreachable but not dead.
    pub(super) fn doubt(&mut self, id: PeerId, version: u64, by: PeerId, now: Millis) -> bool {
        let Some(p) = self.peer(id) else { return false };
        if id == self.me || !p.alive || p.left || p.state.max_version > version {
            return false;
        }
        let name = p.name.clone();
        if let Some(s) = self.swim.suspects.get(&id) {
            if s.version > version
                || (s.version == version && (s.by.contains(&by) || s.by.len() >= CONFIRMATIONS))
            {
                return false;
            }
            if s.version == version {
                let (since, count) = (s.since, s.by.len() + 1);
                let deadline = since + self.suspicion_timeout(count);
                let s = self.swim.suspects.get_mut(&id).expect("held");
                s.by.push(by);
                s.deadline = s.deadline.min(deadline);
                return true;
            }
        }
        let deadline = now + self.suspicion_timeout(1);
        let suspicion = Suspicion {
            version,
            since: now,
            deadline,
            by: vec![by],
        };
        self.swim.suspects.insert(id, suspicion);
        self.stats.suspicions += 1;
        // it hears of it at once, to refute it
        let first = Queued::liveness(News::Suspect, id, version, by);
        self.send_datagram_with(name, DatagramKind::Gossip, 0, None, Some(first));
        true
    }

    /// `id` is failed, as of `version`: reported, and told to all.
    pub(super) fn convict(&mut self, id: PeerId, version: u64, now: Millis) {
        self.convict_as(id, version, now, true);
    }

    /// `convict`, told to the others only if `tell`.
    fn convict_as(&mut self, id: PeerId, version: u64, now: Millis, tell: bool) {
        self.swim.suspects.remove(&id);
        let removal = self.config.dead_peer_removal_ms.is_some();
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        if id == self.me || !p.alive || p.left || p.state.max_version > version {
            return;
        }
        p.alive = false;
        if removal {
            self.failed_at.insert(id, now);
        }
        self.emit(Event::Failed { peer: id });
        self.touch(id);
        if tell {
            self.broadcast(News::Dead, id, version, None);
        }
    }

    /// A datagram arrived at `now`. After a silence of `CUT_OFF_PERIODS`
    /// this node was cut off (or stood still): what it concluded alone is
    /// not evidence. The convictions it queued are dropped, and its
    /// suspicions start over, so that the suspects hear of them and refute
    /// before any becomes a conviction told to all.
    fn heard(&mut self, now: Millis) {
        let silence = now.saturating_sub(self.swim.heard_at);
        if silence > CUT_OFF_PERIODS * self.probe_period() {
            self.bcast.drop_convictions();
            self.renew_suspicions(now);
            self.stats.cut_offs += 1;
        }
        self.swim.heard_at = self.swim.heard_at.max(now);
    }

    /// Every suspicion held starts over at `now`, with its full time, and
    /// is told to its suspect again: what was sent while cut off was lost.
    fn renew_suspicions(&mut self, now: Millis) {
        let ids: Vec<PeerId> = self.swim.suspects.keys().copied().collect();
        for id in ids {
            let (count, version, by) = {
                let s = &self.swim.suspects[&id];
                (s.by.len(), s.version, s.by[0])
            };
            let timeout = self.suspicion_timeout(count);
            let s = self.swim.suspects.get_mut(&id).expect("held");
            s.since = now;
            s.deadline = now + timeout;
            if let Some(name) = self.peer(id).map(|p| p.name.clone()) {
                let first = Queued::liveness(News::Suspect, id, version, by);
                self.send_datagram_with(name, DatagramKind::Gossip, 0, None, Some(first));
            }
        }
    }

    /// Someone suspects or convicts us as of `version`: a newer heartbeat
    /// says we are alive (once per claim; a claim older than our state only
    /// needs our newer state to reach it).
    pub(super) fn refute(&mut self, version: u64) {
        let mine = self.me().state.max_version;
        if version >= mine {
            self.beat();
            self.stats.refutations += 1;
            self.swim.health = (self.swim.health + 1).min(MAX_HEALTH);
        } else {
            let me = self.me;
            self.broadcast(News::Notice, me, mine, None);
        }
    }

    /// A peer held failed may be alive on the other side of a partition
    /// that healed: each round, a peer slot drawn at random is told it was
    /// convicted if it holds one, which it refutes if it hears. That is a
    /// knock with probability dead / known a round, as node-gossip's
    /// dead / (live + 1) for its gossip to the dead, without a scan of the
    /// whole table every round.
    pub(super) fn knock_on_the_dead(&mut self) {
        if self.peers.is_empty() {
            return;
        }
        let id = self.rng.usize(..self.peers.len()) as PeerId;
        let Some(p) = self.peer(id) else { return };
        if id == self.me || p.proto != PROTO_PROBES || p.left || p.alive {
            return;
        }
        // told to it alone: where it lives on at that version, the others
        // must not take the conviction up
        let (name, version) = (p.name.clone(), p.state.max_version);
        let me = self.me;
        let first = Queued::liveness(News::Dead, id, version, me);
        self.send_datagram_with(name, DatagramKind::Gossip, 0, None, Some(first));
    }

    /// Marks `id` as speaking probes (it sent us a datagram, or a peer
    /// that knows says so).
    pub(super) fn speaks_probes(&mut self, id: PeerId) {
        let me = self.me;
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        if id == me || p.proto == PROTO_PROBES {
            return;
        }
        p.proto = PROTO_PROBES;
        // its heartbeats may stop: the detector no longer judges it
        p.detector.restart_at(None);
        self.rings.release(id);
        self.not_probed -= 1;
        self.add_to_probes(id);
    }

    /// Marks `id` as judged by heartbeats (an old peer, or a gossiper
    /// before probes).
    pub(super) fn speaks_legacy(&mut self, id: PeerId) {
        if let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) {
            if p.proto == PROTO_UNKNOWN {
                p.proto = PROTO_LEGACY;
            }
        }
    }

    /// `id` itself told us it does not probe (its own exchange): it is
    /// judged by heartbeats from now on, even if it probed before. A peer
    /// restarted with `probes: false`, or rolled back to node-gossip or an
    /// older gossiper on the same address, would otherwise be probed
    /// unanswered and failed while it beats.
    pub(super) fn speaks_legacy_itself(&mut self, id: PeerId, now: Millis) {
        if id == self.me {
            return;
        }
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        match p.proto {
            PROTO_PROBES => {
                self.stops_probing(id, PROTO_LEGACY);
                // judged from now: the silence of its restart is no sample
                if let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) {
                    p.detector.restart_at(Some(now));
                }
                self.legacy = true;
            }
            PROTO_UNKNOWN => p.proto = PROTO_LEGACY,
            _ => {}
        }
    }

    /// `id`, which probed, is now of protocol `proto` (legacy, or unknown
    /// until it says): judged by heartbeats, with no samples of the probes
    /// era, and no longer suspected by probes.
    pub(super) fn stops_probing(&mut self, id: PeerId, proto: u8) {
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        if p.proto != PROTO_PROBES {
            return;
        }
        p.proto = proto;
        p.detector.forget_samples();
        self.not_probed += 1;
        self.swim.suspects.remove(&id);
    }

    /// Takes the flags another node sent about `id`, unless it sent them
    /// with a generation of `id` older than the one we hold: flags of a
    /// life before its restart, which may have spoken another protocol.
    pub(super) fn take_flags_of_life(&mut self, id: PeerId, flags: u64, generation: Option<u64>) {
        let current = self.peer(id).map_or(0, |p| p.state.generation);
        if generation.is_none_or(|g| g >= current) {
            self.take_flags(id, flags);
        }
    }

    /// Takes the flags a peer that knows sent about `id`.
    pub(super) fn take_flags(&mut self, id: PeerId, flags: u64) {
        if flags & 1 != 0 {
            self.speaks_probes(id);
        } else if flags & 2 != 0 {
            self.speaks_legacy(id);
        }
    }

    /// A datagram `bytes` arrived from `from` (its source address).
    pub fn handle_datagram(
        &mut self,
        from: &str,
        bytes: &[u8],
        now: Millis,
    ) -> Result<(), Refusal> {
        let judged = self.observe_time(now);
        if !self.probing() {
            return Err(Refusal::Closed);
        }
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += (bytes.len() + self.frame_overhead) as u64;
        let d = match datagram::decode(bytes) {
            Ok(d) => d,
            Err(_) => {
                self.stats.refuse(Refusal::Malformed);
                return Err(Refusal::Malformed);
            }
        };
        if d.cluster != self.config.cluster_name.as_deref() {
            self.stats.refuse(Refusal::WrongCluster);
            let ours = self.config.cluster_name.as_deref().unwrap_or("none");
            let text =
                format!("{from} is of another cluster than ours ('{ours}'): clusterName differs");
            self.warn(Warning::WrongCluster, from, text, judged);
            return Err(Refusal::WrongCluster);
        }
        if same_name(d.from, &self.me().name) {
            return Err(Refusal::Unexpected);
        }
        let sender_name: Arc<str> = Arc::from(d.from);
        let sender = match self.lookup(d.from) {
            Some(id) => Some(id),
            None => self.register(d.from, 0, judged),
        };
        if let Some(id) = sender {
            self.speaks_probes(id);
        }
        self.heard(now);
        self.take_items(&d.items, &sender_name, judged);
        let me_name = self.me().name.clone();
        match d.kind {
            DatagramKind::Ping => {
                if d.about.is_some_and(|a| same_name(a, &me_name)) {
                    self.send_datagram(
                        sender_name.clone(),
                        DatagramKind::Ack,
                        d.seq,
                        Some(me_name),
                    );
                    self.compare_summaries(&d, sender_name, now, judged);
                }
            }
            DatagramKind::Ack => {
                let ours =
                    self.swim.probe.as_mut().filter(|p| {
                        p.seq == d.seq && d.about.is_some_and(|a| same_name(a, &p.name))
                    });
                if let Some(p) = ours {
                    p.acked = true;
                    self.swim.health = self.swim.health.saturating_sub(1);
                    self.measure_rtt(d.seq, sender, now);
                } else if let Some(i) = self.swim.relays.iter().position(|r| r.seq == d.seq) {
                    let r = self.swim.relays.swap_remove(i);
                    let about = d.about.map(Arc::<str>::from);
                    self.send_datagram(r.requester, DatagramKind::Ack, r.their_seq, about);
                } else {
                    // an ack to an earlier probe, come too late
                    self.measure_rtt(d.seq, sender, now);
                }
                self.compare_summaries(&d, sender_name, now, judged);
            }
            DatagramKind::PingReq => {
                if let Some(target) = d.about.filter(|a| !same_name(a, &me_name)) {
                    self.swim.seq += 1;
                    let seq = self.swim.seq;
                    self.swim.relays.push(RelayedPing {
                        seq,
                        requester: sender_name,
                        their_seq: d.seq,
                        until: now + self.probe_period(),
                    });
                    let target: Arc<str> = Arc::from(target);
                    self.send_datagram(target.clone(), DatagramKind::Ping, seq, Some(target));
                }
            }
            DatagramKind::Gossip => {}
        }
        self.schedule_after_input(now);
        Ok(())
    }

    /// Applies the news of a datagram from `sender`.
    fn take_items(&mut self, items: &[Item], sender: &Arc<str>, now: Millis) {
        let me = self.me().name.clone();
        let mut deltas: Vec<crate::wire::Delta> = Vec::new();
        let mut generations: Vec<(&str, u64)> = Vec::new();
        let mut flags: Vec<(&str, u64)> = Vec::new();
        for item in items {
            match *item {
                Item::Suspect { peer, version, by } => {
                    if same_name(peer, &me) {
                        self.refute(version);
                        continue;
                    }
                    let Some(id) = self.lookup(peer) else {
                        continue;
                    };
                    // a suspecter we do not know yet is taken for the sender
                    let Some(by) = self.lookup(by).or_else(|| self.lookup(sender)) else {
                        continue;
                    };
                    self.suspect(id, version, by, self.last_real);
                }
                Item::Dead { peer, version } => {
                    if same_name(peer, &me) {
                        self.refute(version);
                        continue;
                    }
                    let Some(id) = self.lookup(peer) else {
                        continue;
                    };
                    self.convict(id, version, now);
                }
                Item::Notice {
                    peer,
                    version,
                    generation,
                    flags: f,
                } => {
                    if same_name(peer, &me) {
                        continue;
                    }
                    let id = match self.lookup(peer) {
                        Some(id) => Some(id),
                        None => self.register(peer, version, now),
                    };
                    let Some(id) = id else { continue };
                    self.take_flags_of_life(id, f, Some(generation));
                    if generation != 0 && generation <= version {
                        self.observe_generation(id, generation, now);
                    }
                    match self.peer(id).map(|p| p.state.max_version) {
                        Some(v) if v < version => self.want_pull(sender.clone(), id),
                        Some(v) if v == version => self.bcast.heard_again(id),
                        _ => {}
                    }
                }
                Item::Delta {
                    peer,
                    version,
                    generation,
                    flags: f,
                    key,
                    value,
                    ttl_ms,
                } => {
                    deltas.push(crate::wire::Delta {
                        peer,
                        key,
                        value,
                        version,
                        ttl_ms,
                    });
                    if generation != 0 {
                        generations.push((peer, generation));
                    }
                    flags.push((peer, f));
                }
            }
        }
        if deltas.is_empty() {
            return;
        }
        self.keep_contiguous(&mut deltas, &generations, sender, now);
        if deltas.is_empty() {
            return;
        }
        let cluster = self.config.cluster_name.clone();
        let resp = Response {
            requests: Vec::new(),
            updates: deltas,
            generations,
            flags,
            down: Vec::new(),
            ext: Ext {
                protocol: message::PROTOCOL,
                cluster: cluster.as_deref(),
                complete: false,
                more: false,
            },
        };
        self.relay = Relay::All;
        self.apply(&resp, now);
        self.relay = Relay::None;
    }

    /// Keeps the deltas that continue what we hold of their peers.
    ///
    /// A peer's state is known up to its highest version (Scuttlebutt's
    /// watermark), so a delta applied past a version we never saw would
    /// hide that version from every later exchange. Deltas travel by many
    /// paths and may overtake each other: one that leaves a gap is not
    /// applied, and the peer's state is fetched from the sender instead,
    /// which holds everything up to it.
    fn keep_contiguous(
        &mut self,
        deltas: &mut Vec<crate::wire::Delta>,
        generations: &[(&str, u64)],
        sender: &Arc<str>,
        now: Millis,
    ) {
        deltas.sort_by(|a, b| a.peer.cmp(b.peer).then(a.version.cmp(&b.version)));
        // the peer of the run of deltas being read: its slot, and the
        // highest version held of it (or continued by this datagram)
        let mut floor: Option<(&str, Option<PeerId>, u64)> = None;
        let mut gaps: Vec<(&str, u64)> = Vec::new();
        let mut keep = vec![true; deltas.len()];
        for (i, d) in deltas.iter().enumerate() {
            let (id, held) = match floor {
                Some((peer, id, v)) if peer == d.peer => (id, v),
                _ => {
                    if gaps.last().is_some_and(|&(p, _)| p == d.peer) {
                        keep[i] = false;
                        continue;
                    }
                    let id = self.lookup(d.peer);
                    let (mine, current) = id
                        .and_then(|id| self.peer(id))
                        .map_or((0, 0), |p| (p.state.max_version, p.state.generation));
                    // a new incarnation's versions start at its generation
                    let generation = generations
                        .iter()
                        .find(|(p, _)| *p == d.peer)
                        .map_or(0, |&(_, g)| g);
                    let held = if generation != 0 && generation <= d.version {
                        mine.max(generation - 1)
                    } else {
                        mine
                    };
                    if generation > current && generation <= d.version {
                        // a new incarnation: `apply` sorts out the old one
                        (id, held)
                    } else {
                        // what we hold already is dropped here: it is most
                        // of what a datagram brings, every piece of news
                        // arriving about as often as it is sent
                        if let Some(id) = id.filter(|_| d.version <= mine) {
                            if d.version == mine {
                                self.bcast.heard_again(id);
                            }
                            self.stats.updates_stale += 1;
                            keep[i] = false;
                            floor = Some((d.peer, Some(id), held));
                            continue;
                        }
                        (id, held)
                    }
                }
            };
            if d.version > held + 1 {
                keep[i] = false;
                gaps.push((d.peer, d.version));
                floor = None;
                continue;
            }
            floor = Some((d.peer, id, held.max(d.version)));
        }
        let mut i = 0;
        deltas.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        for (peer, version) in gaps {
            let id = match self.lookup(peer) {
                Some(id) => Some(id),
                None => self.register(peer, version, now),
            };
            if let Some(id) = id {
                self.stats.updates_gapped += 1;
                self.want_pull(sender.clone(), id);
            }
        }
    }

    /// A probe or its ack brought its sender's summaries: a repair if they
    /// differ from ours. Both ends compare, so that how often a node
    /// notices a difference does not hang on its own probes alone, which
    /// slow down where round trips are long (a machine loaded by a large
    /// cluster forming).
    fn compare_summaries(&mut self, d: &Datagram, sender: Arc<str>, now: Millis, judged: Millis) {
        if d.summary != self.summary {
            let members_differ = d.members != self.members;
            self.maybe_repair(sender, now, judged, members_differ);
        }
    }

    /// A summary that differs from ours: a repair exchange with its sender,
    /// at most one at a time, paced. While the summary changes (news in
    /// flight) the difference is likely on its way already, so a busy node
    /// repairs only every `BUSY_REPAIR_ROUNDS`; a quiet one after two
    /// rounds; one that joined lately every round, since news that spread
    /// before it arrived will not come again. A membership that differs
    /// (`members_differ`) while ours has settled is a peer that one of us
    /// missed, which no news in flight brings (it was news once, and
    /// stopped): that is repaired after two rounds however busy the
    /// versions are. While a large cluster forms, every node's membership
    /// changes all the time, and only the settled ones repair.
    fn maybe_repair(&mut self, with: Arc<str>, now: Millis, judged: Millis, members_differ: bool) {
        if self.legacy || self.swim.running.is_some() {
            return;
        }
        let interval = self.config.gossip_interval_ms;
        let since = |t: Option<Millis>| t.map_or(Millis::MAX, |t| now.saturating_sub(t));
        let since_repair = since(self.swim.last_repair);
        // a few: what spread before we came does not come again, what
        // spreads since does (a whole cluster starting at once would
        // otherwise move every node's full digest every round)
        let joining = since(self.swim.started_at) < JOINING_ROUNDS * interval
            && self.swim.joining_repairs < JOINING_REPAIRS;
        let settled = |changed_at: Millis| judged >= changed_at + 2 * self.probe_period();
        let quiet = settled(self.summary_changed_at)
            || (members_differ && settled(self.members_changed_at));
        let due = if joining {
            since_repair >= interval
        } else if quiet {
            since_repair >= 2 * interval
        } else {
            since_repair >= BUSY_REPAIR_ROUNDS * interval
        };
        if !due {
            return;
        }
        self.swim.last_repair = Some(now);
        self.swim.joining_repairs += u32::from(joining);
        self.stats.repairs += 1;
        let id = self.open_exchange(with, false);
        self.swim.running = Some(id);
    }

    /// We lack a peer's large update that `from` has: fetch it over TCP.
    fn want_pull(&mut self, from: Arc<str>, id: PeerId) {
        if self.swim.running.is_none() {
            self.start_pull(from, vec![id]);
        } else if self.swim.pulls.len() < MAX_PULLS
            && !self.swim.pulls.iter().any(|(_, p)| *p == id)
        {
            self.swim.pulls.push((from, id));
        }
    }

    fn start_pull(&mut self, from: Arc<str>, ids: Vec<PeerId>) {
        self.stats.pulls += 1;
        let message = self.request_for(&ids);
        let id = self.open_with(from, false, message);
        self.swim.running = Some(id);
    }

    /// A repair or pull exchange `id` ended: the next pull may start.
    pub(super) fn swim_exchange_ended(&mut self, id: ExchangeId) {
        if self.swim.running != Some(id) {
            return;
        }
        self.swim.running = None;
        if let Some((from, _)) = self.swim.pulls.first().cloned() {
            let mut ids = Vec::new();
            self.swim.pulls.retain(|(f, p)| {
                if *f == from {
                    ids.push(*p);
                    false
                } else {
                    true
                }
            });
            let lacking: Vec<PeerId> = ids
                .into_iter()
                .filter(|&p| self.peer(p).is_some())
                .collect();
            if !lacking.is_empty() {
                self.start_pull(from, lacking);
            }
        }
    }

    /// A state of `id` newer than a suspicion of it clears the suspicion.
    pub(super) fn heard_of(&mut self, id: PeerId) {
        if let Some(s) = self.swim.suspects.get(&id) {
            if self
                .peer(id)
                .is_some_and(|p| p.state.max_version > s.version)
            {
                self.swim.suspects.remove(&id);
            }
        }
    }

    /// Sends a datagram of `kind` to `to`, with as much news as fits.
    pub(super) fn send_datagram(
        &mut self,
        to: Arc<str>,
        kind: DatagramKind,
        seq: u64,
        about: Option<Arc<str>>,
    ) {
        self.send_datagram_with(to, kind, seq, about, None);
    }

    /// `send_datagram`, with `first` ahead of the queued news: news meant
    /// for the receiver alone (what we believe of it, which it refutes).
    fn send_datagram_with(
        &mut self,
        to: Arc<str>,
        kind: DatagramKind,
        seq: u64,
        about: Option<Arc<str>>,
        first: Option<Queued>,
    ) {
        let from = self.me().name.clone();
        let cluster = self.config.cluster_name.clone();
        let header = datagram::header_size(&from, cluster.as_deref(), about.as_deref());
        let budget = MAX_DATAGRAM_BYTES.saturating_sub(header + self.frame_overhead + 4);
        let items = self.take_news(budget, first);
        let mut bytes = Vec::with_capacity(header + items.len());
        datagram::encode_parts(
            &mut bytes,
            kind,
            &from,
            cluster.as_deref(),
            seq,
            (self.summary, self.members),
            about.as_deref(),
            &items,
        );
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += (bytes.len() + self.frame_overhead) as u64;
        self.transmits.push_back(Transmit::Datagram { to, bytes });
    }

    /// Whether this node gossips and beats every round because a peer
    /// judges by heartbeats (or it is configured so): see `schedule.rs`.
    pub fn in_legacy_mode(&self) -> bool {
        self.legacy
    }

    /// News waiting to be sent (all of its transmissions not done yet).
    pub fn news_queued(&self) -> usize {
        self.bcast.len()
    }

    /// The flags of peer `id` as we send them.
    pub(super) fn flags_of(&self, id: PeerId) -> u64 {
        if id == self.me {
            return if self.config.probes && !self.config.observer {
                1
            } else {
                2
            };
        }
        self.peer(id).map_or(0, proto_flags)
    }
}

#[cfg(test)]
#[path = "../swim_tests.rs"]
mod tests;
