//! The core's work in steady state, for counting instructions under
//! callgrind (`npm run bench:instructions`, `bench/instructions.js`): the
//! simulator forms a cluster of `--nodes` with the default configuration
//! (seeded, so every run does the same work), then runs `--rounds` more
//! rounds inside `measured_rounds`, the one function callgrind collects in.
//! Prints what those rounds did as one JSON line.
//!
//!   core_instructions [--nodes 100] [--rounds 10] [--window 100]

use gossiper::sim::{Sim, SimConfig};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or_else(|| {
                eprintln!("core_instructions: {name} takes a positive whole number");
                std::process::exit(2)
            }),
    }
}

/// The rounds whose instructions are counted; kept out of line so that
/// callgrind's `--toggle-collect` finds it.
#[inline(never)]
fn measured_rounds(sim: &mut Sim, rounds: u64) {
    sim.run_rounds(rounds);
}

/// (exchanges started, updates applied, bytes sent) over all nodes so far.
fn totals(sim: &Sim) -> (u64, u64, u64) {
    let applied = (0..sim.len())
        .map(|i| sim.node(i).stats().updates_applied)
        .sum();
    let m = sim.metrics();
    (m.exchanges_started, applied, m.bytes_sent)
}

fn main() {
    let nodes = arg("--nodes", 100);
    let rounds = arg("--rounds", 10) as u64;
    let mut cfg = SimConfig::new(nodes, 10);
    cfg.config.detector.window = arg("--window", cfg.config.detector.window);
    cfg.log_membership = false;
    let mut sim = Sim::new(cfg);
    // forming is not measured: until all know all, then two rounds more
    let mut formed = 0;
    while !sim.all_know_all() {
        sim.run_rounds(1);
        formed += 1;
        if formed > 60 {
            eprintln!("core_instructions: {nodes} nodes did not form in 60 rounds");
            std::process::exit(1);
        }
    }
    sim.run_rounds(2);
    let before = totals(&sim);
    measured_rounds(&mut sim, rounds);
    let after = totals(&sim);
    println!(
        "{{\"nodes\": {nodes}, \"rounds\": {rounds}, \"formed_in_rounds\": {formed}, \
         \"exchanges\": {}, \"updates_applied\": {}, \"bytes_sent\": {}}}",
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
    );
}
