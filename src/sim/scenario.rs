//! The standard scenario, as `npm run bench` measures it on real sockets:
//! N nodes start (spread over one round), every node knows every other
//! alive (join); one non-seed node writes a key, until every other holds
//! it (spread); a quiet steady window (bytes per node and second, false
//! failures); one non-seed node stops, until every other reports it failed
//! (detection). The simulator's runs of it are what `bench/sim.js` prints,
//! and what the runtime is compared with (`tests/agreement.rs`).

use super::{msgpack_str, MembershipKind, Sim, SimConfig};
use crate::core::time::Millis;

/// What one run measured; a wait that did not end within its cap is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub n: usize,
    /// From the first start until every node holds every other alive.
    pub join_ms: Option<Millis>,
    /// Bytes sent per node from the first start until the join ended:
    /// what forming the cluster costs.
    pub join_bytes_per_node: f64,
    /// From the write until every other node holds the key.
    pub spread_ms: Option<Millis>,
    /// From the stop until every other node holds the stopped one failed.
    pub fail_ms: Option<Millis>,
    /// `Failed` events about running, reachable nodes over the whole run.
    pub false_failures: u64,
    /// From the write until no node has news left to send (the join's and
    /// the write's), when the quiet window may begin (after the settling);
    /// `None` with heartbeat rounds, or if capped.
    pub drained_ms: Option<Millis>,
    /// Bytes sent per node per second in the steady window.
    pub bytes_per_node_s: f64,
    /// Virtual time the run took.
    pub sim_ms: Millis,
}

/// The knobs of a run besides the cluster's configuration.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Each wait gives up after this long.
    pub cap_ms: Millis,
    /// Time left, after the spread, for the join's and the write's last
    /// repairs to end before the quiet window; longer while news is still
    /// being sent (up to `cap_ms` from the write).
    pub settle_ms: Millis,
    /// The quiet window, after the settling, over which bytes are counted.
    pub steady_ms: Millis,
    /// How often the conditions are checked.
    pub poll_ms: Millis,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            cap_ms: 120_000,
            settle_ms: 10_000,
            steady_ms: 20_000,
            poll_ms: 50,
        }
    }
}

/// Runs the standard scenario on a fresh simulation of `cfg`.
pub fn run(cfg: SimConfig, plan: &Plan) -> Outcome {
    let n = cfg.nodes;
    let mut sim = Sim::new(cfg);
    let poll = plan.poll_ms;
    let join_ms = sim.run_until_cond(plan.cap_ms, poll, |s| !s.starting() && s.all_alive());
    let join_bytes_per_node = (0..n).map(|i| sim.bytes_sent(i)).sum::<u64>() as f64 / n as f64;
    // a non-seed writer and a non-seed node to stop (the last ones)
    let writer = n - 1;
    let stopped = n.saturating_sub(2);
    let wrote = sim.now();
    let _ = sim.set(writer, "spread", &msgpack_str("value"));
    let spread_ms = sim
        .run_until_cond(wrote + plan.cap_ms, poll, |s| {
            s.value_everywhere(writer, "spread")
        })
        .map(|t| t - wrote);
    let settled = sim.now() + plan.settle_ms;
    // between nodes that probe; with heartbeat rounds nothing is queued
    // for long, and every round is news
    let drained_ms = if sim.cfg.config.probes {
        sim.run_until_cond(wrote + plan.cap_ms, 4 * poll, |s| s.news_queued() == 0)
            .map(|t| t - wrote)
    } else {
        None
    };
    if sim.now() < settled {
        sim.run_until(settled);
    }
    let from = sim.now();
    let sent_before: u64 = (0..n).map(|i| sim.bytes_sent(i)).sum();
    sim.run_for(plan.steady_ms);
    let sent: u64 = (0..n).map(|i| sim.bytes_sent(i)).sum::<u64>() - sent_before;
    let secs = (sim.now() - from) as f64 / 1000.0;
    let bytes_per_node_s = sent as f64 / n as f64 / secs.max(1e-9);
    let stop_at = sim.now();
    sim.kill(stopped);
    let fail_ms = sim
        .run_until_cond(stop_at + plan.cap_ms, poll, |s| {
            s.failed_everywhere(stopped)
        })
        .map(|t| t - stop_at);
    let false_failures = if sim.cfg.log_membership {
        sim.membership_log()
            .iter()
            .filter(|m| m.kind == MembershipKind::Failed && m.false_alarm)
            .count() as u64
    } else {
        sim.false_failures()
    };
    Outcome {
        n,
        join_ms,
        join_bytes_per_node,
        spread_ms,
        fail_ms,
        false_failures,
        drained_ms,
        bytes_per_node_s,
        sim_ms: sim.now(),
    }
}

impl Outcome {
    /// One flat JSON object.
    pub fn json(&self) -> String {
        let opt = |v: Option<Millis>| v.map_or("null".to_string(), |v| v.to_string());
        format!(
            "{{\"n\": {}, \"join_ms\": {}, \"join_bytes_per_node\": {:.0}, \"spread_ms\": {}, \"fail_ms\": {}, \"false_failures\": {}, \"drained_ms\": {}, \"bytes_per_node_s\": {:.1}, \"sim_ms\": {}}}",
            self.n,
            opt(self.join_ms),
            self.join_bytes_per_node,
            opt(self.spread_ms),
            opt(self.fail_ms),
            self.false_failures,
            opt(self.drained_ms),
            self.bytes_per_node_s,
            self.sim_ms
        )
    }
}
