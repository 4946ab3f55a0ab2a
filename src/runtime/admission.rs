//! Which incoming connections are served when there are more than
//! `maxConnections`: a new one is always taken, and the connection that has
//! waited longest without completing a message makes room for it.
//!
//! Refusing new connections at the cap (what the runtime did first) lets one
//! client that opens a few hundred silent sockets lock every real peer out
//! until the read timeout, and again after it by reconnecting. nginx, at its
//! connection limit, likewise reclaims idle keep-alive connections for new
//! ones. Evicting the stalest keeps the cost of a flood on the flooder: a
//! real peer completes its exchange in a few milliseconds, long before it is
//! the stalest again, while a silent connection is the first to go.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tokio::task::AbortHandle;

/// What a served connection reports of itself.
pub(super) struct Progress {
    /// Milliseconds since the table's epoch when it last completed a
    /// message (or was accepted).
    since: AtomicU64,
    epoch: Instant,
}

impl Progress {
    /// A whole message arrived: it is no longer idle.
    pub fn message_done(&self) {
        self.since
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// The connections being served.
pub(super) struct Admission {
    max: usize,
    epoch: Instant,
    next: u64,
    served: FxHashMap<u64, (Arc<Progress>, Option<AbortHandle>)>,
}

/// A served connection's place in the table; it leaves when dropped.
pub(super) struct Ticket {
    id: u64,
    table: Arc<Mutex<Admission>>,
    pub progress: Arc<Progress>,
}

impl Ticket {
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.table.lock().served.remove(&self.id);
    }
}

impl Admission {
    pub fn new(max: usize) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Admission {
            max: max.max(1),
            epoch: Instant::now(),
            next: 0,
            served: FxHashMap::default(),
        }))
    }

    /// Admits a new connection; at the cap, first evicts the one that has
    /// waited longest for a message, and says so (`true`).
    pub fn admit(table: &Arc<Mutex<Self>>) -> (Ticket, bool) {
        let mut t = table.lock();
        let mut evicted = false;
        if t.served.len() >= t.max {
            let stalest = t
                .served
                .iter()
                .min_by_key(|(id, (p, _))| (p.since.load(Ordering::Relaxed), **id))
                .map(|(&id, _)| id);
            if let Some(id) = stalest {
                if let Some((_, Some(handle))) = t.served.remove(&id) {
                    handle.abort();
                }
                evicted = true;
            }
        }
        let id = t.next;
        t.next += 1;
        let progress = Arc::new(Progress {
            since: AtomicU64::new(t.epoch.elapsed().as_millis() as u64),
            epoch: t.epoch,
        });
        t.served.insert(id, (progress.clone(), None));
        (
            Ticket {
                id,
                table: table.clone(),
                progress,
            },
            evicted,
        )
    }

    /// Records how to end the task serving connection `id` (if it is still
    /// served: a quick one may already be done).
    pub fn serving(table: &Arc<Mutex<Self>>, id: u64, handle: AbortHandle) {
        if let Some(entry) = table.lock().served.get_mut(&id) {
            entry.1 = Some(handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_connection_idle_longest_makes_room() {
        let table = Admission::new(2);
        let (a, evicted) = Admission::admit(&table);
        assert!(!evicted);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let (b, _) = Admission::admit(&table);
        std::thread::sleep(std::time::Duration::from_millis(5));
        // a completes a message: b is now the one idle longest
        a.progress.message_done();
        let (c, evicted) = Admission::admit(&table);
        assert!(evicted);
        let served: Vec<u64> = {
            let mut v: Vec<u64> = table.lock().served.keys().copied().collect();
            v.sort_unstable();
            v
        };
        assert_eq!(served, vec![a.id, c.id]);
        drop(b); // its entry is already gone: nothing else leaves
        assert_eq!(table.lock().served.len(), 2);
        drop(a);
        assert_eq!(table.lock().served.len(), 1);
    }
}
