//! When things happen. The core keeps every timer: rounds on a grid of
//! phases, liveness checks between rounds, and pushes of news within their
//! budget. Its driver asks `poll_timeout()` when to wake it and calls
//! `handle_timeout(now)` then; nothing else about time is the driver's.
//!
//! Times here are the driver's clock (`now` as given). The failure detector
//! judges peers by the round clock instead (`RoundClock`): real time, held
//! back while this node's own rounds run late, so that a stalled node does
//! not blame its peers for a silence that was its own.

use super::*;

/// Phases per round: a node's rounds start on one of `PHASES` points of a
/// grid of the driver's clock, so nodes of one process wake up together in
/// groups rather than one by one (a wake-up costs more than a small round),
/// while news still moves up to `PHASES` hops a round.
pub const PHASES: Millis = 8;

/// Liveness checks per round: a node's round judges its peers, and checks
/// in between report a failure within a fraction of a round of the
/// detector's verdict (the last of a hundred observers would otherwise wait
/// almost a whole round). They fall on a grid too.
pub const LIVENESS_CHECKS_PER_ROUND: Millis = 4;

/// Pushes a node may make in a row after a quiet spell: news right after a
/// join (which spends a push or two) still goes out at once, while over time
/// a node pushes at most once per round beyond its regular one.
pub const PUSH_BURST: f64 = 3.0;

/// A push waits this long after the news that wakes it, so that a burst of
/// writes made together goes out in one exchange.
const PUSH_GATHER_MS: Millis = 1;

/// The timers of a node, in the driver's clock.
#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    round: Option<Millis>,
    check: Option<Millis>,
    push: Option<Millis>,
    /// Pushes available (see `PUSH_BURST`), as of `refilled`.
    budget: f64,
    refilled: Millis,
    /// News was emitted since the last input ended: a push is wanted.
    news: bool,
    /// Contact a seed again, alone after the last contact was refused.
    seed_retry: Option<Millis>,
    /// The wait before the next such retry (0: the first one's).
    seed_backoff: Millis,
}

/// The first multiple of `step` after `t`.
fn next_multiple(t: Millis, step: Millis) -> Millis {
    (t / step + 1) * step
}

impl Node {
    /// When the core next needs `handle_timeout`, in the driver's clock;
    /// `None` while it has nothing scheduled (stopped).
    pub fn poll_timeout(&self) -> Option<Millis> {
        let t = &self.timers;
        // between rounds, checks judge peers by heartbeats and run deferred
        // deletes: with neither, a node sleeps through them
        let check = t
            .check
            .filter(|_| self.not_probed > 0 || !self.pending_deletes.is_empty());
        [
            t.round,
            check,
            t.push,
            t.seed_retry,
            self.swim_deadline(),
            self.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs whatever is due at `now`: a round (heartbeat, liveness,
    /// clean-up, exchanges), a liveness check, a push of news.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.observe_time(now);
        if !self.started {
            return;
        }
        self.expire_due(now);
        let interval = self.config.gossip_interval_ms.max(1);
        if let Some(due) = self.timers.round.filter(|&due| due <= now) {
            self.clock.round(due, now);
            // a round a whole interval late puts the next one an interval
            // after it, as the clock assumes; otherwise the grid holds
            self.timers.round = Some(if now >= due + interval {
                now + interval
            } else {
                due + interval
            });
            if !self.any_live_peer() {
                // the round contacts a seed itself
                self.timers.seed_retry = None;
            }
            let judged = self.clock.at(now);
            for target in self.tick(judged) {
                self.open_exchange(target, false);
            }
        }
        if let Some(at) = self.timers.check.filter(|&at| at <= now) {
            let every = self.liveness_check_interval();
            self.timers.check = Some(next_multiple(now.max(at), every));
            let judged = self.clock.at(now);
            self.check_liveness(judged);
        }
        if self.timers.push.is_some_and(|at| at <= now) {
            self.timers.push = None;
            self.push(now);
        }
        if self.timers.seed_retry.is_some_and(|at| at <= now) {
            self.timers.seed_retry = None;
            if !self.any_live_peer() {
                if let Some(addr) = self.try_seed() {
                    self.open_exchange(addr, false);
                }
            }
        }
        self.swim_timeout(now);
        self.schedule_after_input(now);
    }

    /// A seed refused our contact while we know no live peer (it may not
    /// listen yet: nodes started together, or a seed restarting). Rather
    /// than wait a whole round alone, try again soon, and then less and
    /// less soon: from a twentieth of a round, doubling, until the rounds'
    /// own contacts take over. The wait grows from one start to the next
    /// stop: a node alone again later waits for its rounds.
    pub(super) fn retry_seed_soon(&mut self, now: Millis) {
        if self.any_live_peer() || self.timers.seed_retry.is_some() {
            return;
        }
        let interval = self.config.gossip_interval_ms.max(1);
        let t = &mut self.timers;
        let wait = if t.seed_backoff == 0 {
            (interval / 20).max(1)
        } else {
            t.seed_backoff * 2
        };
        if wait >= interval {
            return;
        }
        t.seed_backoff = wait;
        t.seed_retry = Some(now + wait);
    }

    /// Time between liveness checks.
    pub fn liveness_check_interval(&self) -> Millis {
        (self.config.gossip_interval_ms / LIVENESS_CHECKS_PER_ROUND).max(1)
    }

    /// How far this node's own rounds fell behind, in all (see `RoundClock`).
    pub fn stalled_ms(&self) -> Millis {
        self.clock.held()
    }

    /// The time the detector judges by at driver time `now`, which is
    /// remembered as the latest seen.
    pub(super) fn observe_time(&mut self, now: Millis) -> Millis {
        self.last_real = self.last_real.max(now);
        self.expiries.saw(now);
        self.clock.at(now)
    }

    /// Rounds start: the first at a random phase of the grid within a round.
    pub(super) fn start_timers(&mut self, now: Millis) {
        let interval = self.config.gossip_interval_ms.max(1);
        let slot = (interval / PHASES).max(1);
        let first = next_multiple(now, slot) + slot * self.rng.u64(0..PHASES);
        self.clock.rounds_from(first);
        self.timers = Timers {
            round: Some(first),
            check: Some(next_multiple(now, self.liveness_check_interval())),
            push: None,
            budget: PUSH_BURST,
            refilled: now,
            news: self.timers.news,
            seed_retry: None,
            seed_backoff: 0,
        };
        self.legacy = self.has_legacy_peers();
        self.swim_start(now, first);
    }

    pub(super) fn stop_timers(&mut self) {
        self.timers = Timers::default();
        self.clock.no_rounds();
        self.swim_stop();
    }

    /// Whether a live peer here is judged by heartbeats (node-gossip, or a
    /// gossiper before probes), or the node is configured to beat anyway:
    /// then every node beats and gossips every round, as node-gossip does,
    /// so that those peers hear of everyone. Otherwise rounds only clean
    /// up, and probes and news (`swim.rs`, `broadcast.rs`) do the rest.
    fn has_legacy_peers(&self) -> bool {
        if self.config.heartbeat_rounds || self.config.observer || !self.config.probes {
            return true;
        }
        self.not_probed > 0
            && self
                .peers()
                .any(|(id, p)| id != self.me && p.proto != PROTO_PROBES && p.alive && p.heard)
    }

    /// Whether `e` tells the application something beyond heartbeats: news
    /// worth pushing.
    pub(super) fn note_event(&mut self, e: &Event) {
        let news = match e {
            Event::Update { key, .. } => &**key != HEARTBEAT_KEY,
            Event::Delete { .. } => true,
            Event::NewPeer { me, .. } => !me,
            _ => false,
        };
        self.timers.news |= news;
    }

    /// A local write happened: news.
    pub(super) fn note_write(&mut self) {
        self.timers.news = true;
    }

    /// Ends an input: news since the last one schedules a push, at once if
    /// the budget allows, or when it has refilled.
    pub(super) fn schedule_after_input(&mut self, now: Millis) {
        if !std::mem::take(&mut self.timers.news) {
            return;
        }
        if !self.config.push_on_change || !self.started || self.config.observer || !self.legacy {
            return;
        }
        if self.timers.push.is_some() {
            return; // it carries this news too
        }
        self.refill(now);
        let interval = self.config.gossip_interval_ms.max(1) as f64;
        let wait = if self.timers.budget >= 1.0 {
            PUSH_GATHER_MS
        } else {
            ((1.0 - self.timers.budget) * interval).ceil() as Millis
        };
        self.timers.push = Some(now + wait);
    }

    fn refill(&mut self, now: Millis) {
        let t = &mut self.timers;
        let interval = self.config.gossip_interval_ms.max(1) as f64;
        let gained = now.saturating_sub(t.refilled) as f64 / interval;
        t.budget = (t.budget + gained).min(PUSH_BURST);
        t.refilled = now;
    }

    /// Pushes news to `fanout` live peers.
    fn push(&mut self, now: Millis) {
        self.refill(now);
        self.timers.budget = (self.timers.budget - 1.0).max(0.0);
        let fanout = self.config.fanout;
        for target in self.sample_live(fanout) {
            self.open_exchange(target, false);
        }
    }

    /// One gossip round's state work: heartbeat, liveness, clean-up. Returns
    /// the peers to start an exchange with.
    pub fn tick(&mut self, now: Millis) -> Vec<Arc<str>> {
        self.stats.rounds += 1;
        self.legacy = self.has_legacy_peers();
        if self.legacy {
            self.beat();
        }
        self.check_liveness(now);
        self.remove_long_dead(now);
        self.collect_tombstones(now);
        if self.legacy {
            return self.choose_targets();
        }
        self.knock_on_the_dead();
        // probes judge the peers; rounds only reach out when alone, or to
        // seeds not heard from yet
        if !self.any_live_peer() {
            return self.try_seed().into_iter().collect();
        }
        self.try_unanswered_seed().into_iter().collect()
    }
}
