//! The runtime over real loopback sockets: what only timers and threads show.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{runtime, GossipNode, NetConfig, Signal, Sink, StartOptions};
use crate::core::failure_detector::DetectorConfig;
use crate::core::{Config, Event};

#[derive(Default)]
struct Recorder(Mutex<Vec<Signal>>);

impl Sink for Recorder {
    fn deliver(&self, signals: Vec<Signal>) {
        self.0.lock().extend(signals);
    }
}

impl Recorder {
    fn name(&self) -> Option<String> {
        self.0.lock().iter().find_map(|s| match s {
            Signal::Started { name } => Some(name.clone()),
            _ => None,
        })
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        let signals = self.0.lock();
        signals
            .iter()
            .filter(|s| matches!(s, Signal::Core(e) if f(e)))
            .count()
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// 100 ms rounds, with the detector scaled to them as the JavaScript
/// defaults do (deviation floor a quarter round, tolerated pause two rounds).
fn fast_config() -> Config {
    Config {
        gossip_interval_ms: 100,
        detector: DetectorConfig {
            min_std_dev_ms: 25.0,
            acceptable_pause_ms: 200.0,
            ..DetectorConfig::default()
        },
        ..Config::default()
    }
}

fn start(seeds: Vec<String>) -> (GossipNode, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let node = GossipNode::new(fast_config(), NetConfig::default(), rec.clone());
    node.start(StartOptions {
        port: 0,
        address: Some("127.0.0.1".into()),
        seeds,
        advertise: None,
    });
    wait_for("listening", || rec.name().is_some());
    (node, rec)
}

/// Every node of the process shares the runtime's threads: blocking all of
/// them for most of each 285 ms makes every round run up to two rounds
/// late, as in a process with too many nodes for its CPU. The node's clock
/// is held back by its own late rounds (`RoundClock`; the core test
/// `rounds_running_late_convict_no_one_when_judged_by_the_round_clock` shows
/// what it prevents), and gossip goes on without a false failure.
#[test]
fn a_process_whose_rounds_all_run_late_reports_no_one_failed() {
    let (a, ra) = start(vec![]);
    let seed = ra.name().expect("named");
    let (b, rb) = start(vec![seed.clone()]);
    let (c, rc) = start(vec![seed]);
    let recorders = [&ra, &rb, &rc];
    let joined = |r: &Recorder| r.count(|e| matches!(e, Event::NewPeer { me: false, .. })) >= 2;
    wait_for("all know all", || recorders.iter().all(|r| joined(r)));
    // let the detectors learn the 100 ms rhythm
    std::thread::sleep(Duration::from_millis(1500));
    let failed = |r: &Recorder| r.count(|e| matches!(e, Event::Failed { .. }));
    assert_eq!(recorders.map(|r| failed(r)), [0, 0, 0]);

    let until = Instant::now() + Duration::from_secs(4);
    // one blocker per worker thread
    let blockers: Vec<_> = (0..runtime().metrics().num_workers())
        .map(|_| {
            runtime().spawn(async move {
                while Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(280));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    while !blockers.iter().all(|b| b.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));

    assert_eq!(
        recorders.map(|r| failed(r)),
        [0, 0, 0],
        "false failures while the process ran late"
    );
    for node in [&a, &b, &c] {
        assert!(
            node.with_core(|c, _| c.stalled_ms()) > 500,
            "rounds ran late, by {} ms in all",
            node.with_core(|c, _| c.stalled_ms())
        );
    }
    // still probing each other: acks keep coming
    let heard = |n: &GossipNode| n.with_core(|c, _| c.stats().datagrams_in);
    let before = [&a, &b, &c].map(heard);
    std::thread::sleep(Duration::from_millis(500));
    for (n, b) in [&a, &b, &c].into_iter().zip(before) {
        assert!(heard(n) > b + 4, "{} datagrams, {b} before", heard(n));
    }
    for node in [a, b, c] {
        node.stop(false);
    }
}
