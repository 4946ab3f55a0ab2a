//! The simulator runs the shipping core: one seeded scenario, run in the
//! simulator and over real loopback sockets with real time in this process,
//! gives the same join, spread and detection times within a stated
//! tolerance. The scenario (`gossiper::sim::scenario`): 50 nodes start
//! within one round, one key is written, one node stops; 200 ms rounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gossiper::core::time::Millis;
use gossiper::core::Config;
use gossiper::runtime::{GossipNode, NetConfig, Signal, Sink, StartOptions};
use gossiper::sim::scenario::{run, Outcome, Plan};
use gossiper::sim::{msgpack_str, SimConfig};

const N: usize = 50;
const ROUND: Millis = 200;

/// Takes the signals and drops them: the test reads the cores directly.
struct Discard;

impl Sink for Discard {
    fn deliver(&self, _: Vec<Signal>) {}
}

fn config() -> Config {
    Config::lan().with_interval(ROUND)
}

/// Polls `cond` every 5 ms until it holds or `cap` passes; the time it took.
fn time_until(cap: Duration, mut cond: impl FnMut() -> bool) -> Option<Millis> {
    let start = Instant::now();
    while start.elapsed() < cap {
        if cond() {
            return Some(start.elapsed().as_millis() as Millis);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn name_of(node: &GossipNode) -> Option<String> {
    node.with_core(|c, _| {
        let name = c.name().to_string();
        (!name.is_empty()).then_some(name)
    })
}

/// Every node holds `others` peers alive.
fn all_alive(nodes: &[&GossipNode]) -> bool {
    let others = nodes.len() - 1;
    nodes.iter().all(|n| {
        n.with_core(|c, _| {
            let me = c.me_id();
            c.peers().filter(|(id, p)| *id != me && p.alive).count() == others
        })
    })
}

fn real_run() -> Outcome {
    let cap = Duration::from_secs(60);
    let nodes: Vec<GossipNode> = (0..N)
        .map(|_| GossipNode::new(config(), NetConfig::default(), Arc::new(Discard)))
        .collect();
    let start = |node: &GossipNode, seeds: Vec<String>| {
        node.start(StartOptions {
            port: 0,
            address: Some("127.0.0.1".into()),
            seeds,
            advertise: None,
        })
    };
    // the first three are every node's seeds, as in the simulator
    let t0 = Instant::now();
    let mut seeds = Vec::new();
    for node in &nodes[..3] {
        start(node, seeds.clone());
        time_until(cap, || name_of(node).is_some()).expect("listening");
        seeds.push(name_of(node).unwrap());
    }
    let mut rng = fastrand::Rng::with_seed(7);
    for node in &nodes[3..] {
        // starts spread over one round
        std::thread::sleep(Duration::from_micros(
            rng.u64(0..ROUND * 1000 / N as u64 * 2),
        ));
        start(node, seeds.clone());
    }
    let all: Vec<&GossipNode> = nodes.iter().collect();
    let joined = time_until(cap, || all_alive(&all));
    let join_ms = joined.map(|_| t0.elapsed().as_millis() as Millis);
    let writer = &nodes[N - 1];
    let writer_name = name_of(writer).unwrap();
    writer.with_core(|c, now| {
        c.set_local("spread", Arc::from(msgpack_str("value")), now)
            .unwrap()
    });
    let spread_ms = time_until(cap, || {
        all.iter().all(|n| {
            n.with_core(|c, _| {
                **c.name() == *writer_name
                    || c.lookup(&writer_name)
                        .and_then(|id| c.peer(id))
                        .is_some_and(|p| p.state.value("spread").is_some())
            })
        })
    });
    std::thread::sleep(Duration::from_millis(10 * ROUND));
    let stopped = &nodes[N - 2];
    let stopped_name = name_of(stopped).unwrap();
    stopped.stop(false);
    let fail_ms = time_until(cap, || {
        all.iter().filter(|n| !std::ptr::eq(**n, stopped)).all(|n| {
            n.with_core(|c, _| {
                c.lookup(&stopped_name)
                    .and_then(|id| c.peer(id))
                    .is_some_and(|p| !p.alive)
            })
        })
    });
    for node in &nodes {
        node.stop(false);
    }
    Outcome {
        n: N,
        join_ms,
        join_bytes_per_node: 0.0,
        spread_ms,
        fail_ms,
        false_failures: 0,
        drained_ms: None,
        bytes_per_node_s: 0.0,
        sim_ms: 0,
    }
}

fn sim_run(seed: u64) -> Outcome {
    let mut cfg = SimConfig::new(N, seed);
    cfg.config = config();
    cfg.start_spread_ms = ROUND;
    cfg.latency_ms = (0, 1); // loopback
    let plan = Plan {
        cap_ms: 60_000,
        settle_ms: 0,
        steady_ms: 10 * ROUND,
        poll_ms: 5,
    };
    run(cfg, &plan)
}

/// Agreement within `rounds` rounds or `share` of the larger, whichever is
/// more.
fn agree(what: &str, sim: Option<Millis>, real: Option<Millis>, rounds: u64, share: f64) {
    let (Some(s), Some(r)) = (sim, real) else {
        panic!("{what}: sim {sim:?}, real {real:?}");
    };
    let tolerance = (rounds * ROUND).max((share * s.max(r) as f64) as u64);
    assert!(
        s.abs_diff(r) <= tolerance,
        "{what}: sim {s} ms, real {r} ms, tolerance {tolerance} ms"
    );
}

#[test]
fn the_simulator_and_the_runtime_agree_on_the_standard_scenario() {
    let real = real_run();
    let sims: Vec<Outcome> = (1..=3).map(sim_run).collect();
    let sim = &sims[0];
    eprintln!("real: {}", real.json());
    for s in &sims {
        eprintln!("sim:  {}", s.json());
    }
    // join: both form in a few rounds; the runtime's seeds start one by one
    agree("join", sim.join_ms, real.join_ms, 4, 0.5);
    // spread: pushes in network hops; the budget left after the join decides
    agree("spread", sim.spread_ms, real.spread_ms, 4, 0.5);
    // detection: the same detector on the same heartbeats
    agree("detection", sim.fail_ms, real.fail_ms, 3, 0.3);
    assert_eq!(sim.false_failures, 0);
}
