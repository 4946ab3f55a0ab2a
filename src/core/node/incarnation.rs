//! Incarnations: a peer that restarts starts a new generation of versions;
//! our own rebirth above what others saw of us, and the keys of a peer's
//! previous life, deleted only once its new life has had time to set them.

use super::*;

/// A claim that we wrote versions this high is not believed: starting above
/// it would leave no room below 2^53 (JavaScript's exact integers), and every
/// version we ever wrote was seeded from the clock, far below it.
pub(super) const REBIRTH_CEILING: u64 = 1 << 52;

/// How far above the highest version a peer saw of our last life a rebirth
/// starts: one second of the microsecond clock versions are seeded from. A
/// peer that names us saw our last life up to some version, but others may
/// have seen more of it; versions of ours they hold at or above our new
/// generation would make them refuse our rewrites at those versions.
pub(super) const REBIRTH_MARGIN: u64 = 1_000_000;

/// Keys a restarted peer held in its previous life, not yet set again.
#[derive(Clone, Debug)]
pub(super) struct PendingDeletes {
    due: Millis,
    keys: Vec<Arc<str>>,
}

impl Node {
    /// Defers the deletion of `keys`, which a restarted peer `id` held in its
    /// previous life, by `restart_grace_ms`.
    pub(super) fn defer_deletes(&mut self, id: PeerId, keys: Vec<Arc<str>>, now: Millis) {
        if keys.is_empty() {
            return;
        }
        if self.config.restart_grace_ms == 0 {
            for key in keys {
                self.emit(Event::Delete { peer: id, key });
            }
            return;
        }
        let due = now + self.config.restart_grace_ms;
        let pending = self.pending_deletes.entry(id).or_insert(PendingDeletes {
            due,
            keys: Vec::new(),
        });
        pending.due = due;
        for key in keys {
            if !pending.keys.contains(&key) {
                pending.keys.push(key);
            }
        }
    }

    /// Whether `key` of peer `id` waits to be reported deleted; it no
    /// longer does once this returns.
    pub(super) fn take_pending_delete(&mut self, id: PeerId, key: &str) -> bool {
        let Some(pending) = self.pending_deletes.get_mut(&id) else {
            return false;
        };
        let Some(i) = pending.keys.iter().position(|k| &**k == key) else {
            return false;
        };
        pending.keys.swap_remove(i);
        if pending.keys.is_empty() {
            self.pending_deletes.remove(&id);
        }
        true
    }

    /// Reports deleted the old keys whose grace is over and that the new
    /// life did not set again.
    pub(super) fn flush_pending_deletes(&mut self, now: Millis) {
        if self.pending_deletes.is_empty() {
            return;
        }
        let mut due: Vec<PeerId> = self
            .pending_deletes
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(&id, _)| id)
            .collect();
        due.sort_unstable();
        for id in due {
            let Some(pending) = self.pending_deletes.remove(&id) else {
                continue;
            };
            for key in pending.keys {
                let set_again = self.peer(id).is_some_and(|p| p.state.value(&key).is_some());
                if !set_again {
                    self.emit(Event::Delete { peer: id, key });
                }
            }
        }
    }

    /// Starts a new incarnation above `floor`: every live key is written again
    /// so peers that saw versions up to `floor` accept them.
    pub(super) fn rebirth(&mut self, floor: u64) {
        self.prune_own_deadlines();
        let me = self.me_mut();
        let mut live: Vec<(Arc<str>, Value, u64)> = me
            .state
            .deltas_after(0)
            .filter_map(|(k, e)| e.value.clone().map(|v| (k.clone(), v, e.version)))
            .collect();
        live.sort_by_key(|(_, _, v)| *v);
        // `floor` is what one peer saw of our last life; others may have seen
        // a few more of its versions, which would shadow our first rewrites
        let generation = floor + 1 + REBIRTH_MARGIN;
        me.state = PeerState::new();
        me.state.generation = generation;
        me.state.max_version = generation - 1;
        for (key, value, _) in live {
            let version = me.state.max_version + 1;
            me.state.put(&key, Some(value), version, 0);
        }
        // every key has a new version: the peers that probe fetch them
        let (id, version) = (self.me, self.me().state.max_version);
        self.touch(id);
        self.broadcast(broadcast::News::Notice, id, version, None);
        self.renumber_own_deadlines();
    }

    // ---- peers ----------------------------------------------------------

    /// A newer incarnation of the peer exists: what it wrote before is gone,
    /// unless it writes it again within the grace (see `defer_deletes`).
    pub(super) fn observe_generation(&mut self, id: PeerId, generation: u64, now: Millis) {
        let dropped = self.drop_old_incarnation(id, generation);
        self.defer_deletes(id, dropped, now);
    }

    /// A newer incarnation of the peer exists: forgets what the old one wrote
    /// and returns the keys that were live (for `delete` events; the caller
    /// may hold them back until it knows which keys the new one set again).
    pub(super) fn drop_old_incarnation(&mut self, id: PeerId, generation: u64) -> Vec<Arc<str>> {
        if id == self.me || generation == 0 {
            return Vec::new();
        }
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return Vec::new();
        };
        if generation <= p.state.generation {
            return Vec::new();
        }
        let restarted = p.state.generation != 0;
        p.state.generation = generation;
        if restarted {
            // a new life may speak another protocol (restarted with
            // `probes: false`, or rolled back): learnt again from what it
            // sends, judged by heartbeats meanwhile
            self.stops_probing(id, PROTO_UNKNOWN);
        }
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return Vec::new();
        };
        let before = p.state.bytes();
        let dropped = p.state.drop_before(generation);
        self.remote_bytes -= before - p.state.bytes();
        let was_left = p.left;
        p.left = p.state.value(LEFT_KEY).is_some();
        if was_left && !p.left {
            // back from a leave: judge it afresh from its next arrival
            p.detector.restart_at(None);
        }
        self.touch(id);
        dropped
            .into_iter()
            .filter(|k| &**k != LEFT_KEY && &**k != HEARTBEAT_KEY)
            .collect()
    }
}
