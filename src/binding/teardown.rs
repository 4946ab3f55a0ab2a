//! Stops a JavaScript environment's gossipers when that environment goes
//! away: a worker terminated or exiting, or the main thread's exit.
//!
//! The runtime lives on its own threads, process-wide, so nothing ends a
//! node's listener and timers when the JavaScript side that owns it is torn
//! down: without this a terminated worker's gossiper went on gossiping, kept
//! its port bound and stayed alive in every peer's view. Node runs an
//! environment's cleanup hooks on its JavaScript thread before it frees the
//! environment; ours stops every node of the realm that is still running and
//! waits (bounded) for each `Stopped`, so that the port is free when, for
//! example, `worker.terminate()` resolves. Then the realm's threadsafe
//! functions are released and nothing more is queued for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rustc_hash::FxHashMap;

use super::events::{ends_keep_alive, Hub, NodeSink};
use crate::runtime::{GossipNode, Signal, Sink};

/// How long the cleanup hook waits for the realm's nodes to stop. A stop is
/// a few task aborts on the runtime (well under a millisecond when it is
/// idle); the bound only matters if the runtime is stuck, and then leaving
/// the JavaScript thread blocked would turn a slow stop into a hung exit.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// The nodes of one realm that were started and have not reported their end.
#[derive(Default)]
pub struct Realm {
    running: Mutex<FxHashMap<u32, Arc<GossipNode>>>,
    changed: Condvar,
}

impl Realm {
    /// Called before `node` is started.
    pub fn started(&self, id: u32, node: &Arc<GossipNode>) {
        self.running.lock().insert(id, node.clone());
    }

    fn ended(&self, id: u32) {
        // dropped outside the lock (it may be the last handle to the node)
        let gone = self.running.lock().remove(&id);
        self.changed.notify_all();
        drop(gone);
    }

    /// Stops every running node and waits until all reported `Stopped` or
    /// `STOP_WAIT` passed; returns how many had not stopped by then.
    fn stop_all(&self) -> usize {
        let nodes: Vec<_> = self.running.lock().values().cloned().collect();
        for node in &nodes {
            // no leave: the peers report it failed, as for a killed process
            node.stop(false);
        }
        drop(nodes);
        let deadline = Instant::now() + STOP_WAIT;
        let mut running = self.running.lock();
        while !running.is_empty() {
            if self.changed.wait_until(&mut running, deadline).timed_out() {
                break;
            }
        }
        running.len()
    }
}

/// A node's sink that also tells the realm when the node stops running.
pub struct WatchedSink {
    pub inner: Arc<NodeSink>,
    pub realm: Arc<Realm>,
}

impl Sink for WatchedSink {
    fn deliver(&self, signals: Vec<Signal>) {
        let ended = signals.iter().any(ends_keep_alive);
        self.inner.deliver(signals);
        if ended {
            self.realm.ended(self.inner.node);
        }
    }
}

/// Registers the realm's cleanup hook on `env`.
pub fn on_teardown(env: &napi::Env, realm: Arc<Realm>, hub: Arc<Hub>) -> napi::Result<()> {
    // The runtime's threads outlive any one environment, and run the addon's
    // code: Node must not unload the addon's image when the last environment
    // that loaded it goes away (napi-rs pins it; a threadsafe function does
    // too, but this does not rely on one being made first).
    napi::bindgen_prelude::retain_current_module_for_unload_safety();
    env.add_env_cleanup_hook((realm, hub), |(realm, hub)| {
        let late = realm.stop_all();
        if late > 0 {
            eprintln!(
                "gossiper: {late} gossiper(s) had not stopped {} s after their JavaScript environment ended",
                STOP_WAIT.as_secs()
            );
        }
        hub.close();
    })?;
    Ok(())
}
