//! Liveness and clean-up: the failure detector's verdicts, dead peers
//! removed after a while, tombstones collected.

use super::*;

impl Node {
    /// Reports peers whose detector's verdict changed (`Failed`, `Alive`),
    /// and restarted peers' old keys whose grace is over (`Delete`).
    pub fn check_liveness(&mut self, now: Millis) {
        if !self.started {
            return;
        }
        self.flush_pending_deletes(now);
        // After a stall of our own (suspended process, overloaded machine) the
        // silence is ours, not the peers': judge them again a round later.
        let stalled = self
            .last_check
            .is_some_and(|last| now.saturating_sub(last) > 3 * self.config.gossip_interval_ms);
        self.last_check = Some(now);
        if stalled {
            self.judge_from = now + self.config.gossip_interval_ms;
        }
        if now < self.judge_from || self.not_probed == 0 {
            return;
        }
        let cfg = &self.config.detector;
        let removal = self.config.dead_peer_removal_ms.is_some();
        let mut changes = Vec::new();
        for (i, slot) in self.peers.iter_mut().enumerate() {
            let Some(p) = slot else { continue };
            // peers that probe are judged by probes (swim.rs)
            if i as PeerId == self.me || p.left || p.proto == PROTO_PROBES {
                continue;
            }
            let suspected = p.detector.suspected(now, cfg, self.rings.get(i as PeerId));
            if p.alive && suspected {
                p.alive = false;
                if removal {
                    self.failed_at.insert(i as PeerId, now);
                }
                changes.push(Event::Failed { peer: i as PeerId });
            } else if !p.alive && !suspected {
                p.alive = true;
                self.failed_at.remove(&(i as PeerId));
                changes.push(Event::Alive { peer: i as PeerId });
            }
        }
        for e in changes {
            if let Event::Failed { peer } | Event::Alive { peer } = e {
                self.touch(peer);
            }
            self.emit(e);
        }
    }

    pub(super) fn remove_long_dead(&mut self, now: Millis) {
        let keep_removed = self
            .config
            .tombstone_ttl_ms
            .max(self.config.dead_peer_removal_ms.unwrap_or(0));
        self.removed
            .retain(|_, (_, at)| now.saturating_sub(*at) < keep_removed);
        let Some(after) = self.config.dead_peer_removal_ms else {
            return;
        };
        let mut expired: Vec<PeerId> = self
            .failed_at
            .iter()
            .filter(|&(&id, &t)| id != self.me && now.saturating_sub(t) >= after)
            .map(|(&id, _)| id)
            .collect();
        expired.sort_unstable();
        for id in expired {
            if let Some(p) = self.free_slot(id) {
                self.removed
                    .insert(p.name.clone(), (p.state.max_version, now));
                self.emit(Event::Removed { peer: id });
            }
        }
    }

    pub(super) fn collect_tombstones(&mut self, now: Millis) {
        let cutoff = now.saturating_sub(self.config.tombstone_ttl_ms);
        if cutoff == 0 {
            return;
        }
        let mut collected = 0;
        let mut own = 0;
        for (i, p) in self.peers.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if p.state.tombstones() > 0 {
                let before = p.state.bytes();
                let n = p.state.collect_tombstones(cutoff);
                collected += n as u64;
                if i as PeerId != self.me {
                    self.remote_bytes -= before - p.state.bytes();
                } else {
                    own = n;
                }
            }
        }
        self.stats.tombstones_collected += collected;
        // Our highest version may have been a tombstone's: no update carries
        // it any more, so a peer that had not reached it never would, and
        // its summary would differ from ours for good. A heartbeat above it
        // carries it. (Heartbeat rounds beat anyway.)
        let state = &self.me().state;
        let carried = state
            .deltas_after(state.max_version.saturating_sub(1))
            .next()
            .is_some();
        if own > 0 && !self.legacy && !carried {
            self.beat();
        }
    }
}
