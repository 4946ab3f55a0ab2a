//! Liveness checks between rounds, for every node of the process at once.
//!
//! A node's tick judges its peers once a round; checking in between as well
//! reports a failure within a fraction of a round of its detector's verdict
//! (the last of a hundred observers would otherwise wait almost a whole
//! round). One timer per check interval serves every node that uses it: a
//! timer wake-up costs far more than a check, so a hundred nodes pay four
//! wake-ups a second, not four hundred.

use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::Shared;

struct Sweep {
    every: Duration,
    nodes: Mutex<Vec<Weak<Shared>>>,
}

/// The sweeps running, one per check interval in use. Lock order: this, then
/// a sweep's `nodes`.
static SWEEPS: StdMutex<Vec<Arc<Sweep>>> = StdMutex::new(Vec::new());

fn sweeps() -> std::sync::MutexGuard<'static, Vec<Arc<Sweep>>> {
    SWEEPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks `shared`'s peers every `every` until `unwatch`. Call on the runtime.
pub(super) fn watch(shared: &Arc<Shared>, every: Duration) {
    let mut sweeps = sweeps();
    if let Some(s) = sweeps.iter().find(|s| s.every == every) {
        s.nodes.lock().push(Arc::downgrade(shared));
        return;
    }
    let sweep = Arc::new(Sweep {
        every,
        nodes: Mutex::new(vec![Arc::downgrade(shared)]),
    });
    sweeps.push(sweep.clone());
    tokio::spawn(sweep_loop(sweep));
}

pub(super) fn unwatch(shared: &Arc<Shared>) {
    let target = Arc::downgrade(shared);
    for s in sweeps().iter() {
        s.nodes.lock().retain(|w| !w.ptr_eq(&target));
    }
}

async fn sweep_loop(sweep: Arc<Sweep>) {
    let start = tokio::time::Instant::now() + sweep.every;
    let mut timer = tokio::time::interval_at(start, sweep.every);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        let nodes: Vec<Arc<Shared>> = {
            let mut nodes = sweep.nodes.lock();
            nodes.retain(|w| w.strong_count() > 0);
            nodes.iter().filter_map(Weak::upgrade).collect()
        };
        if nodes.is_empty() {
            // last node gone: end, unless one arrived meanwhile
            let mut sweeps = sweeps();
            if sweep.nodes.lock().is_empty() {
                sweeps.retain(|s| !Arc::ptr_eq(s, &sweep));
                return;
            }
            continue;
        }
        for node in nodes {
            node.with_core(|core, now| core.check_liveness(now));
        }
    }
}
