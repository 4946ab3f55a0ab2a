//! The standard scenario in the simulator (`gossiper::sim::scenario`), one
//! run per size, printed as a JSON array of flat objects: what
//! `node bench/sim.js` reports.
//!
//!   cargo run --release --no-default-features --features sim --example sim_run -- \
//!       --sizes 100,1000 [--seed 1] [--settle 10] [--steady 20] [--cap 120] [--loss 0.0] \
//!       [--protocol probes|heartbeats] [--start-spread MS]

use gossiper::sim::scenario::{run, Plan};
use gossiper::sim::SimConfig;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or_else(|| "100,1000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes takes numbers"))
        .collect();
    let seed: u64 = arg(&args, "--seed").map_or(1, |s| s.parse().expect("--seed"));
    let loss: f64 = arg(&args, "--loss").map_or(0.0, |s| s.parse().expect("--loss"));
    // heartbeats: node-gossip's design (every node beats and gossips every
    // round), as gossiper peers speak with `probes: false`
    let protocol = arg(&args, "--protocol").unwrap_or_else(|| "probes".into());
    assert!(
        protocol == "probes" || protocol == "heartbeats",
        "--protocol probes|heartbeats"
    );
    let mut plan = Plan::default();
    if let Some(s) = arg(&args, "--settle") {
        plan.settle_ms = s.parse::<u64>().expect("--settle seconds") * 1000;
    }
    if let Some(s) = arg(&args, "--steady") {
        plan.steady_ms = s.parse::<u64>().expect("--steady seconds") * 1000;
    }
    if let Some(s) = arg(&args, "--cap") {
        plan.cap_ms = s.parse::<u64>().expect("--cap seconds") * 1000;
    }
    let start_spread: Option<u64> =
        arg(&args, "--start-spread").map(|s| s.parse().expect("--start-spread milliseconds"));
    let mut out = Vec::new();
    for n in sizes {
        let mut cfg = SimConfig::new(n, seed);
        cfg.loss = loss;
        cfg.config.probes = protocol == "probes";
        cfg.log_membership = n <= 2000;
        if let Some(ms) = start_spread {
            cfg.start_spread_ms = ms;
        }
        let started = std::time::Instant::now();
        let outcome = run(cfg, &plan);
        let json = outcome.json();
        // wall time and memory, for the reader's planning
        let json = format!(
            "{}, \"protocol\": \"{protocol}\", \"wall_s\": {:.1}}}",
            &json[..json.len() - 1],
            started.elapsed().as_secs_f64()
        );
        eprintln!("{json}");
        out.push(json);
    }
    println!("[{}]", out.join(",\n"));
}
