//! Phi accrual failure detector (Hayashibara et al.), one per remote peer.
//!
//! Arrivals are the moments a peer's state advances (a newer heartbeat or
//! value reaches us). `phi(now)` says how unlikely the present silence is;
//! above the threshold the peer is suspected. Two models are offered:
//! the original node-gossip's exponential model, and a normal model with a
//! floor on the deviation and an acceptable pause (as in Akka), which detects
//! a stop several times sooner at the same threshold without false alarms.
//!
//! A detector is 16 bytes; its inter-arrival samples (whole milliseconds,
//! two bytes each) live in a ring of `window` slots that the caller keeps
//! (the node keeps every peer's ring in one flat table), so a node that
//! knows thousands of peers pays no
//! allocation, pointer or spare capacity per peer. The mean and deviation are
//! summed from the ring when asked: the samples are whole milliseconds, so
//! the sums are exact and equal to running sums, without their upkeep.

use super::time::Millis;

/// One inter-arrival sample: whole milliseconds, up to 65.5 s (a longer
/// silence is recorded as 65.5 s; a peer silent that long is long failed).
pub type Sample = u16;

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

/// Inter-arrival statistics of one peer, with its samples in a ring the
/// caller keeps: `ring` is always the same `ring_len(config)` slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailureDetector {
    /// The last arrival, or the moment the clock was started. Kept when the
    /// clock is stopped (`restart_at(None)`), for who wants the last arrival.
    last: Millis,
    /// Samples recorded; once the ring is full it stays in `window..2 * window`
    /// so that `count % window` is always the slot of the next one.
    count: u32,
    /// The clock runs (`last` is the last arrival).
    armed: bool,
}

/// The slots of one detector's ring: the window, at least 1 (and at most
/// 2^24, far above any useful window).
pub fn ring_len(config: &DetectorConfig) -> usize {
    config.window.clamp(1, 1 << 24)
}

impl FailureDetector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the peer showed a sign of life at `now`.
    pub fn arrival(&mut self, now: Millis, config: &DetectorConfig, ring: &mut [Sample]) {
        // The first real arrival records the initial interval: a clock started
        // by `expect_from` (a peer only heard of) is not an arrival to measure from.
        let interval = if self.armed && self.count > 0 {
            now.saturating_sub(self.last) as f64
        } else {
            config.initial_interval_ms
        };
        self.last = now;
        self.armed = true;
        let window = ring.len() as u32;
        if window == 0 {
            return;
        }
        ring[(self.count % window) as usize] =
            interval.round().min(f64::from(Sample::MAX)) as Sample;
        self.count += 1;
        if self.count == 2 * window {
            self.count = window;
        }
    }

    /// Starts the clock without a sample: a peer we were told about but never
    /// heard from is judged as if it had just arrived.
    pub fn expect_from(&mut self, now: Millis) {
        if !self.armed {
            self.last = now;
            self.armed = true;
        }
    }

    /// Drops the samples (the caller's ring starts over, zeroed), keeping
    /// the clock.
    pub fn forget_samples(&mut self) {
        self.count = 0;
    }

    /// Restarts the clock at `at` without recording the gap as a sample
    /// (a peer back from a failure), or stops it with `None`.
    pub fn restart_at(&mut self, at: Option<Millis>) {
        match at {
            Some(t) => {
                self.last = t;
                self.armed = true;
            }
            None => self.armed = false,
        }
    }

    pub fn last_arrival(&self) -> Option<Millis> {
        self.armed.then_some(self.last)
    }

    /// The last time the clock was (re)started, even if it was stopped since.
    pub(crate) fn last_started(&self) -> Millis {
        self.last
    }

    /// The samples recorded, in no particular order.
    pub fn samples<'r>(&self, ring: &'r [Sample]) -> &'r [Sample] {
        &ring[..(self.count as usize).min(ring.len())]
    }

    /// Number of samples, their sum and the sum of their squares.
    fn moments(&self, ring: &[Sample]) -> (usize, f64, f64) {
        let samples = self.samples(ring);
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for &s in samples {
            let s = f64::from(s);
            sum += s;
            sum_sq += s * s;
        }
        (samples.len(), sum, sum_sq)
    }

    /// The mean and standard deviation of the samples; with none, the
    /// initial interval and 0.
    fn estimate(&self, config: &DetectorConfig, ring: &[Sample]) -> (f64, f64) {
        let (n, sum, sum_sq) = self.moments(ring);
        if n == 0 {
            return (config.initial_interval_ms, 0.0);
        }
        let mean = sum / n as f64;
        let std = if n < 2 {
            0.0
        } else {
            (sum_sq / n as f64 - mean * mean).max(0.0).sqrt()
        };
        (mean, std)
    }

    pub fn mean(&self, config: &DetectorConfig, ring: &[Sample]) -> f64 {
        self.estimate(config, ring).0
    }

    /// The suspicion level at `now`; 0 for a peer never heard from.
    pub fn phi(&self, now: Millis, config: &DetectorConfig, ring: &[Sample]) -> f64 {
        let Some(last) = self.last_arrival() else {
            return 0.0;
        };
        let elapsed = now.saturating_sub(last) as f64;
        phi_of(elapsed, self.estimate(config, ring), config)
    }

    /// Whether phi at `now` is above the threshold: `phi(..) > phi_threshold`,
    /// without the logarithms while the silence is within the mean and the
    /// acceptable pause (phi is then at most log10(2), about 0.301).
    pub fn suspected(&self, now: Millis, config: &DetectorConfig, ring: &[Sample]) -> bool {
        let Some(last) = self.last_arrival() else {
            return 0.0 > config.phi_threshold;
        };
        let elapsed = now.saturating_sub(last) as f64;
        let bounded =
            config.model == DetectorModel::Normal && config.phi_threshold >= NORMAL_PHI_AT_MEAN;
        // The mean is at least 1 ms: most checks stop here, before the sums.
        if bounded && elapsed <= 1.0 + config.acceptable_pause_ms {
            return false;
        }
        let estimate = self.estimate(config, ring);
        if bounded && elapsed <= estimate.0.max(1.0) + config.acceptable_pause_ms {
            return false;
        }
        phi_of(elapsed, estimate, config) > config.phi_threshold
    }
}

/// Phi after a silence of `elapsed` ms, given the samples' mean and deviation.
fn phi_of(elapsed: f64, (mean, std): (f64, f64), config: &DetectorConfig) -> f64 {
    let mean = mean.max(1.0);
    match config.model {
        DetectorModel::Exponential => elapsed / (mean * std::f64::consts::LN_10),
        DetectorModel::Normal => {
            let mean = mean + config.acceptable_pause_ms;
            let std = std.max(config.min_std_dev_ms).max(1.0);
            normal_phi(elapsed, mean, std)
        }
    }
}

/// A bound on the normal model's phi for a silence no longer than its mean:
/// `-log10(1/2)` plus a margin for rounding.
const NORMAL_PHI_AT_MEAN: f64 = 0.302;

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

    /// A detector with its own ring, as a node keeps them.
    struct Owned {
        d: FailureDetector,
        ring: Vec<Sample>,
        cfg: DetectorConfig,
    }

    impl Owned {
        fn new(cfg: &DetectorConfig) -> Self {
            Owned {
                d: FailureDetector::new(),
                ring: vec![0; ring_len(cfg)],
                cfg: cfg.clone(),
            }
        }
        fn arrival(&mut self, now: Millis) {
            self.d.arrival(now, &self.cfg, &mut self.ring);
        }
        fn mean(&self) -> f64 {
            self.d.mean(&self.cfg, &self.ring)
        }
        fn phi(&self, now: Millis) -> f64 {
            let phi = self.d.phi(now, &self.cfg, &self.ring);
            assert_eq!(
                self.d.suspected(now, &self.cfg, &self.ring),
                phi > self.cfg.phi_threshold,
                "suspected() agrees with phi ({phi}) at {now}"
            );
            phi
        }
    }

    fn exponential() -> DetectorConfig {
        DetectorConfig {
            model: DetectorModel::Exponential,
            ..DetectorConfig::default()
        }
    }

    #[test]
    fn unknown_peer_is_not_suspected() {
        let d = Owned::new(&DetectorConfig::default());
        assert_eq!(d.phi(1_000_000), 0.0);
    }

    #[test]
    fn samples_are_whole_milliseconds_and_a_long_silence_is_capped() {
        let cfg = DetectorConfig {
            initial_interval_ms: 37.5,
            ..DetectorConfig::default()
        };
        let mut d = Owned::new(&cfg);
        d.arrival(1_000);
        d.arrival(101_000); // 100 s later
        assert_eq!(d.d.samples(&d.ring), &[38, Sample::MAX]);
        assert_eq!(d.mean(), (38.0 + 65_535.0) / 2.0);
    }

    #[test]
    fn first_arrival_records_the_initial_interval() {
        let mut d = Owned::new(&exponential());
        d.arrival(5_000);
        assert_eq!(d.mean(), 750.0);
        // node-gossip: phi = dt / (mean ln 10)
        let phi = d.phi(5_000 + 750);
        assert!((phi - 1.0 / std::f64::consts::LN_10).abs() < 1e-12, "{phi}");
    }

    #[test]
    fn exponential_model_matches_the_original_formula() {
        let mut d = Owned::new(&exponential());
        let mut t = 0;
        for _ in 0..10 {
            d.arrival(t);
            t += 1000;
        }
        // intervals: 750 then nine of 1000
        let mean = (750.0 + 9.0 * 1000.0) / 10.0;
        assert!((d.mean() - mean).abs() < 1e-9);
        let last = t - 1000;
        let phi = d.phi(last + 18_000);
        assert!((phi - 18_000.0 / (mean * std::f64::consts::LN_10)).abs() < 1e-9);
        // With 1 s heartbeats the original needs ~18 s of silence to pass 8.
        assert!(d.phi(last + 17_000) < 8.0);
        assert!(d.phi(last + 19_000) > 8.0);
    }

    #[test]
    fn window_keeps_only_the_latest_samples() {
        let cfg = DetectorConfig {
            window: 3,
            ..exponential()
        };
        let mut d = Owned::new(&cfg);
        d.arrival(0); // 750
        d.arrival(100); // 100
        d.arrival(300); // 200
        d.arrival(600); // 300; 750 drops out
        assert!((d.mean() - 200.0).abs() < 1e-9);
        // and so on, around the ring many times
        let mut t = 600;
        for i in 0..1000 {
            t += 100 * (i % 3 + 1);
            d.arrival(t);
        }
        // the last three intervals: 200 (i = 997), 300, 100
        assert_eq!(d.d.samples(&d.ring).len(), 3);
        assert!((d.mean() - 200.0).abs() < 1e-9, "{}", d.mean());
    }

    #[test]
    fn normal_model_suspects_a_silent_peer_within_a_few_seconds() {
        let cfg = DetectorConfig::default();
        let mut d = Owned::new(&cfg);
        let mut t = 0;
        for i in 0..60 {
            // 1 s heartbeats with +-200 ms of jitter
            t += if i % 2 == 0 { 800 } else { 1200 };
            d.arrival(t);
        }
        assert!(d.phi(t + 2_000) < 1.0, "no alarm at the usual pace");
        assert!(d.phi(t + 3_000) < cfg.phi_threshold);
        let phi = d.phi(t + 5_000);
        assert!(
            phi > cfg.phi_threshold,
            "5 s of silence is a failure: {phi}"
        );
        // suspected() agrees with phi at every moment (checked by `phi`)
        for dt in (0..10_000).step_by(10) {
            d.phi(t + dt);
        }
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
        // at or below the mean it never exceeds log10(2)
        for x in 0..=1000 {
            assert!(normal_phi(x as f64, 1000.0, 200.0) < NORMAL_PHI_AT_MEAN);
        }
    }

    #[test]
    fn expect_from_starts_the_clock_once() {
        let cfg = DetectorConfig::default();
        let mut d = Owned::new(&cfg);
        d.d.expect_from(1000);
        d.d.expect_from(9000);
        assert_eq!(d.d.last_arrival(), Some(1000));
        assert!(d.phi(1000 + 60_000) > cfg.phi_threshold);
        d.d.restart_at(None);
        assert_eq!(d.d.last_arrival(), None);
        assert_eq!(d.phi(1000 + 60_000), 0.0);
    }

    #[test]
    fn a_detector_is_small() {
        assert!(std::mem::size_of::<FailureDetector>() <= 16);
    }
}
