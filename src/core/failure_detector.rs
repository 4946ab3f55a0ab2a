//! Phi accrual failure detector (Hayashibara et al.), one per remote peer.
//!
//! Arrivals are the moments a peer's state advances (a newer heartbeat or
//! value reaches us). `phi(now)` says how unlikely the present silence is;
//! above the threshold the peer is suspected. Two models are offered:
//! the original node-gossip's exponential model, and a normal model with a
//! floor on the deviation and an acceptable pause (as in Akka), which detects
//! a stop several times sooner at the same threshold without false alarms.

use std::collections::VecDeque;

use super::time::Millis;

/// How inter-arrival times are assumed to be distributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectorModel {
    /// `phi = Δt / (mean · ln 10)`, exactly as node-gossip 0.0.3.
    Exponential,
    /// `phi = -log10(1 - CDF(Δt))` for a normal distribution with
    /// mean `mean + acceptable_pause` and deviation `max(std, min_std_dev)`.
    Normal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    pub model: DetectorModel,
    /// Suspect a peer once phi exceeds this (node-gossip: 8).
    pub phi_threshold: f64,
    /// How many inter-arrival samples are kept (node-gossip: 1000; 100 is
    /// plenty for the statistics and keeps memory flat with many peers).
    pub window: usize,
    /// The interval recorded at the first arrival, before any real one is
    /// known (node-gossip: 750 ms).
    pub initial_interval_ms: f64,
    /// Normal model: lower bound on the standard deviation, so a very regular
    /// peer is not convicted for a small hiccup.
    pub min_std_dev_ms: f64,
    /// Normal model: extra silence tolerated on top of the mean (GC pauses,
    /// network blips) before phi starts to climb.
    pub acceptable_pause_ms: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            model: DetectorModel::Normal,
            phi_threshold: 8.0,
            window: 100,
            initial_interval_ms: 750.0,
            min_std_dev_ms: 250.0,
            acceptable_pause_ms: 2000.0,
        }
    }
}

/// Inter-arrival statistics of one peer.
#[derive(Clone, Debug, Default)]
pub struct FailureDetector {
    /// Samples in ms; f32 keeps a full window at 400 bytes per peer.
    intervals: VecDeque<f32>,
    sum: f64,
    sum_sq: f64,
    last_arrival: Option<Millis>,
}

impl FailureDetector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the peer showed a sign of life at `now`.
    pub fn arrival(&mut self, now: Millis, config: &DetectorConfig) {
        // The first real arrival records the initial interval: a clock started
        // by `expect_from` (a peer only heard of) is not an arrival to measure from.
        let interval = match self.last_arrival {
            Some(last) if !self.intervals.is_empty() => now.saturating_sub(last) as f64,
            _ => config.initial_interval_ms,
        };
        self.last_arrival = Some(now);
        let interval = f64::from(interval as f32);
        self.intervals.push_back(interval as f32);
        self.sum += interval;
        self.sum_sq += interval * interval;
        while self.intervals.len() > config.window.max(1) {
            let old = f64::from(self.intervals.pop_front().unwrap_or(0.0));
            self.sum -= old;
            self.sum_sq -= old * old;
        }
    }

    /// Starts the clock without a sample: a peer we were told about but never
    /// heard from is judged as if it had just arrived.
    pub fn expect_from(&mut self, now: Millis) {
        if self.last_arrival.is_none() {
            self.last_arrival = Some(now);
        }
    }

    /// Restarts the clock at `at` without recording the gap as a sample
    /// (a peer back from a failure), or forgets it with `None`.
    pub fn restart_at(&mut self, at: Option<Millis>) {
        self.last_arrival = at;
    }

    pub fn last_arrival(&self) -> Option<Millis> {
        self.last_arrival
    }

    pub fn mean(&self, config: &DetectorConfig) -> f64 {
        if self.intervals.is_empty() {
            config.initial_interval_ms
        } else {
            self.sum / self.intervals.len() as f64
        }
    }

    fn std_dev(&self) -> f64 {
        let n = self.intervals.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let mean = self.sum / n;
        (self.sum_sq / n - mean * mean).max(0.0).sqrt()
    }

    /// The suspicion level at `now`; 0 for a peer never heard from.
    pub fn phi(&self, now: Millis, config: &DetectorConfig) -> f64 {
        let Some(last) = self.last_arrival else {
            return 0.0;
        };
        let elapsed = now.saturating_sub(last) as f64;
        let mean = self.mean(config).max(1.0);
        match config.model {
            DetectorModel::Exponential => elapsed / (mean * std::f64::consts::LN_10),
            DetectorModel::Normal => {
                let mean = mean + config.acceptable_pause_ms;
                let std = self.std_dev().max(config.min_std_dev_ms).max(1.0);
                normal_phi(elapsed, mean, std)
            }
        }
    }
}

/// `-log10(1 - CDF(x))` of a normal distribution, with the logistic
/// approximation of the CDF (as in Akka), computed in log space so that it
/// stays finite and monotonic far in the tail.
fn normal_phi(x: f64, mean: f64, std: f64) -> f64 {
    let y = (x - mean) / std;
    // 1 - CDF = e / (1 + e) with e = exp(a)
    let a = -y * (1.5976 + 0.070566 * y * y);
    let ln_tail = if a > 0.0 {
        -(-a).exp().ln_1p()
    } else {
        a - a.exp().ln_1p()
    };
    -ln_tail / std::f64::consts::LN_10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exponential() -> DetectorConfig {
        DetectorConfig {
            model: DetectorModel::Exponential,
            ..DetectorConfig::default()
        }
    }

    #[test]
    fn unknown_peer_is_not_suspected() {
        let d = FailureDetector::new();
        assert_eq!(d.phi(1_000_000, &DetectorConfig::default()), 0.0);
    }

    #[test]
    fn first_arrival_records_the_initial_interval() {
        let cfg = exponential();
        let mut d = FailureDetector::new();
        d.arrival(5_000, &cfg);
        assert_eq!(d.mean(&cfg), 750.0);
        // node-gossip: phi = dt / (mean ln 10)
        let phi = d.phi(5_000 + 750, &cfg);
        assert!((phi - 1.0 / std::f64::consts::LN_10).abs() < 1e-12, "{phi}");
    }

    #[test]
    fn exponential_model_matches_the_original_formula() {
        let cfg = exponential();
        let mut d = FailureDetector::new();
        let mut t = 0;
        for _ in 0..10 {
            d.arrival(t, &cfg);
            t += 1000;
        }
        // intervals: 750 then nine of 1000
        let mean = (750.0 + 9.0 * 1000.0) / 10.0;
        assert!((d.mean(&cfg) - mean).abs() < 1e-9);
        let last = t - 1000;
        let phi = d.phi(last + 18_000, &cfg);
        assert!((phi - 18_000.0 / (mean * std::f64::consts::LN_10)).abs() < 1e-9);
        // With 1 s heartbeats the original needs ~18 s of silence to pass 8.
        assert!(d.phi(last + 17_000, &cfg) < 8.0);
        assert!(d.phi(last + 19_000, &cfg) > 8.0);
    }

    #[test]
    fn window_keeps_only_the_latest_samples() {
        let cfg = DetectorConfig {
            window: 3,
            ..exponential()
        };
        let mut d = FailureDetector::new();
        d.arrival(0, &cfg); // 750
        d.arrival(100, &cfg); // 100
        d.arrival(300, &cfg); // 200
        d.arrival(600, &cfg); // 300; 750 drops out
        assert!((d.mean(&cfg) - 200.0).abs() < 1e-9);
    }

    #[test]
    fn normal_model_suspects_a_silent_peer_within_a_few_seconds() {
        let cfg = DetectorConfig::default();
        let mut d = FailureDetector::new();
        let mut t = 0;
        for i in 0..60 {
            // 1 s heartbeats with +-200 ms of jitter
            t += if i % 2 == 0 { 800 } else { 1200 };
            d.arrival(t, &cfg);
        }
        assert!(d.phi(t + 2_000, &cfg) < 1.0, "no alarm at the usual pace");
        assert!(d.phi(t + 3_000, &cfg) < cfg.phi_threshold);
        let phi = d.phi(t + 5_000, &cfg);
        assert!(
            phi > cfg.phi_threshold,
            "5 s of silence is a failure: {phi}"
        );
    }

    #[test]
    fn normal_phi_grows_monotonically() {
        let mut last = -1.0;
        for x in (0..10_000).step_by(100) {
            let phi = normal_phi(x as f64, 1000.0, 200.0);
            assert!(phi >= last, "phi fell at {x}");
            assert!(phi.is_finite());
            last = phi;
        }
    }

    #[test]
    fn expect_from_starts_the_clock_once() {
        let cfg = DetectorConfig::default();
        let mut d = FailureDetector::new();
        d.expect_from(1000);
        d.expect_from(9000);
        assert_eq!(d.last_arrival(), Some(1000));
        assert!(d.phi(1000 + 60_000, &cfg) > cfg.phi_threshold);
    }
}
