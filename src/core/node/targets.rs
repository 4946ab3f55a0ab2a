//! Whom to gossip with: one sampler of the live, dead and seed peers serves
//! rounds, pushes and the leave.

use super::*;

/// The peers a node may contact, by kind.
struct Candidates {
    live: Vec<PeerId>,
    dead: Vec<PeerId>,
}

impl Node {
    /// Every peer but ourselves and those that left, by kind.
    fn candidates(&self) -> Candidates {
        let mut c = Candidates {
            live: Vec::new(),
            dead: Vec::new(),
        };
        for (id, p) in self.peers() {
            if id == self.me || p.left {
                continue;
            }
            if p.alive {
                c.live.push(id);
            } else {
                c.dead.push(id);
            }
        }
        c
    }

    /// `n` distinct ids of `from` at random (all of them if fewer), moved
    /// to its front.
    fn pick(&mut self, from: &mut [PeerId], n: usize) -> Vec<PeerId> {
        let n = n.min(from.len());
        for i in 0..n {
            let j = self.rng.usize(i..from.len());
            from.swap(i, j);
        }
        from[..n].to_vec()
    }

    /// `n` live peers at random, by name.
    pub(super) fn sample_live(&mut self, n: usize) -> Vec<Arc<str>> {
        let mut live = self.candidates().live;
        let picked = self.pick(&mut live, n);
        self.names(&picked)
    }

    /// Whether a peer other than ourselves is live. Every round asks: it
    /// stops at the first, so a cluster that is mostly live pays O(1).
    pub(super) fn any_live_peer(&self) -> bool {
        self.peers()
            .any(|(id, p)| id != self.me && p.alive && !p.left)
    }

    /// node-gossip's choice, from Cassandra: live peers at random (now
    /// `fanout` of them), a dead one with probability dead/(live+1), and a
    /// seed when too few peers are live or, rarely, at random — so a node
    /// whose peers all failed, or a healed partition, finds its way back.
    /// Returns the names to contact (a seed given as a host name is
    /// resolved first, see `seeds.rs`).
    pub(super) fn choose_targets(&mut self) -> Vec<Arc<str>> {
        let Candidates { mut live, dead } = self.candidates();
        let fanout = self.config.fanout;
        let mut targets = self.pick(&mut live, fanout);
        if !dead.is_empty() && self.rng.f64() < dead.len() as f64 / (live.len() as f64 + 1.0) {
            targets.push(dead[self.rng.usize(..dead.len())]);
        }
        let mut names = self.names(&targets);
        let seeds = self.seed_count();
        if seeds > 0 {
            let contact_seed = live.is_empty()
                || live.len() < seeds
                || self.rng.f64() < seeds as f64 / (live.len() + dead.len()) as f64;
            if contact_seed {
                if let Some(addr) = self.try_seed() {
                    if !names.contains(&addr) {
                        names.push(addr);
                    }
                }
            }
        }
        names
    }

    pub fn names(&self, ids: &[PeerId]) -> Vec<Arc<str>> {
        ids.iter()
            .filter_map(|id| self.peer(*id).map(|p| p.name.clone()))
            .collect()
    }
}
