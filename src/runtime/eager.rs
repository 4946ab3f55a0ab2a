//! Push on change: news for the application (a local write, or a key, a
//! deletion or a peer this node did not know) is pushed at once to `fanout`
//! random live peers instead of waiting for the next round. Every receiver
//! does the same once, so a write crosses the cluster in a few network hops
//! and the regular rounds only mop up the few peers the wave missed.
//!
//! Pushes draw on a budget that refills by one per gossip interval and holds
//! at most `BURST`: news right after a join (which spends a push or two) still
//! goes out at once, while over time a node pushes at most once per round
//! beyond its regular one, so a cluster where every node writes all the time
//! costs at most twice the exchanges; a quiet cluster (heartbeats only)
//! costs nothing more.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{requests_for, spawn_exchanges, Shared};
use crate::core::{Event, Node};

/// Wakes a node's push task.
#[derive(Default)]
pub(super) struct Trigger {
    notify: Notify,
}

impl Trigger {
    /// Wake-ups before the task waits again fold into one push.
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// Whether the events tell the application something beyond heartbeats.
pub(super) fn is_news(events: &[Event]) -> bool {
    events.iter().any(|e| match e {
        Event::Update { key, .. } => &**key != crate::core::node::HEARTBEAT_KEY,
        Event::Delete { .. } => true,
        Event::NewPeer { me, .. } => !me,
        _ => false,
    })
}

/// `fanout` live peers at random (not ourselves, not peers that left).
fn push_targets(core: &mut Node, rng: &mut fastrand::Rng) -> Vec<Arc<str>> {
    let me = core.me_id();
    let mut live: Vec<_> = core
        .peers()
        .filter(|(id, p)| *id != me && p.alive && !p.left)
        .map(|(id, _)| id)
        .collect();
    let n = core.config().fanout.min(live.len());
    for i in 0..n {
        let j = rng.usize(i..live.len());
        live.swap(i, j);
    }
    live.truncate(n);
    core.stats.exchanges_started += n as u64;
    core.names(&live)
}

/// Pushes a node may make in a row after a quiet spell.
const BURST: f64 = 3.0;

pub(super) async fn push_loop(
    shared: Arc<Shared>,
    exchanges: Arc<Mutex<tokio::task::JoinSet<()>>>,
) {
    let interval = Duration::from_millis(shared.core.lock().config().gossip_interval_ms.max(1));
    let mut rng = fastrand::Rng::new();
    let mut budget = BURST;
    let mut refilled = tokio::time::Instant::now();
    loop {
        shared.push.notify.notified().await;
        let now = tokio::time::Instant::now();
        budget = (budget + (now - refilled).as_secs_f64() / interval.as_secs_f64()).min(BURST);
        refilled = now;
        if budget < 1.0 {
            let wait = interval.mul_f64(1.0 - budget);
            tokio::time::sleep(wait).await;
            budget = 1.0;
            refilled = tokio::time::Instant::now();
        } else {
            // let a burst of writes from one JavaScript turn land first
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        budget -= 1.0;
        let requests = shared.with_core(|core, _| {
            let targets = push_targets(core, &mut rng);
            requests_for(core, targets)
        });
        spawn_exchanges(&shared, &mut exchanges.lock(), requests);
    }
}
