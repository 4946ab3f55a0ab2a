//! Whom to gossip with.

use super::*;

impl Node {
    /// node-gossip's choice, from Cassandra: live peers at random (now
    /// `fanout` of them), a dead one with probability dead/(live+1), and a
    /// seed when too few peers are live or, rarely, at random — so a node
    /// whose peers all failed, or a healed partition, finds its way back.
    pub(super) fn choose_targets(&mut self) -> Vec<PeerId> {
        let mut live = Vec::new();
        let mut dead = Vec::new();
        let mut seeds = Vec::new();
        for (id, p) in self.peers() {
            if id == self.me || p.left {
                continue;
            }
            if p.alive {
                live.push(id);
            } else {
                dead.push(id);
            }
            if p.seed {
                seeds.push(id);
            }
        }
        let mut targets: Vec<PeerId> = Vec::new();
        let n = self.config.fanout.min(live.len());
        for i in 0..n {
            let j = self.rng.usize(i..live.len());
            live.swap(i, j);
            targets.push(live[i]);
        }
        if !dead.is_empty() && self.rng.f64() < dead.len() as f64 / (live.len() as f64 + 1.0) {
            targets.push(dead[self.rng.usize(..dead.len())]);
        }
        if !seeds.is_empty() && !targets.iter().any(|t| seeds.contains(t)) {
            let contact_seed = live.is_empty()
                || live.len() < seeds.len()
                || self.rng.f64() < seeds.len() as f64 / (live.len() + dead.len()) as f64;
            if contact_seed {
                targets.push(seeds[self.rng.usize(..seeds.len())]);
            }
        }
        targets.dedup();
        self.stats.exchanges_started += targets.len() as u64;
        targets
    }

    /// A catch-up exchange starts (see `core::catch_up`): one more exchange
    /// started, as a round's are counted above.
    pub fn catch_up_started(&mut self) {
        self.stats.catch_ups += 1;
        self.stats.exchanges_started += 1;
    }

    pub fn names(&self, ids: &[PeerId]) -> Vec<Arc<str>> {
        ids.iter()
            .filter_map(|id| self.peer(*id).map(|p| p.name.clone()))
            .collect()
    }
}
