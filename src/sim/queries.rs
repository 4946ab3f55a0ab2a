//! Questions about the simulated cluster as a whole: who knows whom, who is
//! held alive or failed, whether state has converged, how old heartbeats are.

use std::sync::Arc;

use super::{name_ptr, read_uint, Sim, Status};
use crate::core::node::{Peer, HEARTBEAT_KEY, LEFT_KEY};
use crate::core::peer_state::Value;

impl Sim {
    /// Whether observer `i` holds node `j` in its table and sees it alive.
    pub fn sees_alive(&self, i: usize, j: usize) -> Option<bool> {
        let node = &self.nodes[i].node;
        let id = node.lookup(&self.nodes[j].name)?;
        node.peer(id).map(|p| p.alive)
    }

    /// The peers node `i` holds that are nodes of the simulation, with their
    /// node index (its own slot included).
    fn held(&self, i: usize) -> impl Iterator<Item = (usize, &Peer)> {
        self.nodes[i].node.peers().filter_map(|(_, p)| {
            let j = self
                .by_name_ptr
                .get(&name_ptr(&p.name))
                .copied()
                .or_else(|| {
                    // a name that is not the shared copy (a node driven by hand)
                    self.index.get(&p.name).copied()
                })?;
            Some((j as usize, p))
        })
    }

    fn up_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.status == Status::Up).count()
    }

    /// How many nodes other than `i` that are up `i` holds and `f` accepts.
    fn count_held(&self, i: usize, mut f: impl FnMut(usize, &Peer) -> bool) -> usize {
        self.held(i)
            .filter(|&(j, p)| j != i && self.is_up(j) && f(j, p))
            .count()
    }

    /// Node `i` knows every other node that is up.
    pub fn knows_all(&self, i: usize) -> bool {
        let others = self.up_count() - usize::from(self.is_up(i));
        self.count_held(i, |_, _| true) == others
    }

    /// Some node has not started yet: the cluster cannot have formed.
    pub fn starting(&self) -> bool {
        self.nodes.iter().any(|n| n.status == Status::Pending)
    }

    /// News the running nodes have left to send, in all.
    pub fn news_queued(&self) -> usize {
        self.up()
            .iter()
            .map(|&i| self.nodes[i].node.news_queued())
            .sum()
    }

    /// Every node has started, and every one that is up knows every other
    /// one that is up.
    pub fn all_know_all(&self) -> bool {
        !self.starting() && (0..self.nodes.len()).all(|i| !self.is_up(i) || self.knows_all(i))
    }

    /// Every node has started, and every one that is up holds every other
    /// one that is up as alive.
    pub fn all_alive(&self) -> bool {
        if self.starting() {
            return false;
        }
        let others = self.up_count().saturating_sub(1);
        let up = self.up();
        // a node that knows fewer names than there are nodes up cannot hold
        // them all: an O(1) look first, as a large cluster forms, before
        // the O(N) count of each node's table
        up.iter().all(|&i| self.nodes[i].node.known() > others)
            && up
                .into_iter()
                .all(|i| self.count_held(i, |_, p| p.alive) == others)
    }

    /// Every up node other than `j` holds `j` as failed (or has forgotten it).
    pub fn failed_everywhere(&self, j: usize) -> bool {
        (0..self.nodes.len())
            .filter(|&i| i != j && self.is_up(i))
            .all(|i| self.sees_alive(i, j) != Some(true))
    }

    /// Every up node other than `owner` holds `key` of `owner` with exactly
    /// the owner's value and version (or, if the owner has no such live key,
    /// holds none either).
    pub fn value_everywhere(&self, owner: usize, key: &str) -> bool {
        let own = self.nodes[owner].node.local_state().get(key);
        let own = own.filter(|e| e.value.is_some());
        let name = &self.nodes[owner].name;
        (0..self.nodes.len())
            .filter(|&i| i != owner && self.is_up(i))
            .all(|i| {
                let node = &self.nodes[i].node;
                let Some(p) = node.lookup(name).and_then(|id| node.peer(id)) else {
                    return false;
                };
                let view = p.state.get(key).filter(|e| e.value.is_some());
                match (own, view) {
                    (None, None) => true,
                    (Some(a), Some(b)) => a.value == b.value && a.version == b.version,
                    _ => false,
                }
            })
    }

    /// Every node has started, and every one that is up knows every other
    /// one that is up, with its generation, and holds every one of its keys exactly as the owner does
    /// (same live keys, values and versions, deleted keys absent). The
    /// heartbeat, which its owner bumps every round, only has to be present:
    /// how far behind it is is measured by `heartbeat_lag`.
    pub fn converged(&self) -> bool {
        if self.starting() {
            return false;
        }
        type Keys<'a> = Vec<(&'a Arc<str>, &'a Value, u64)>;
        let owners: Vec<Option<Keys>> = (0..self.nodes.len())
            .map(|j| {
                self.is_up(j).then(|| {
                    let state = self.nodes[j].node.local_state();
                    state
                        .deltas_after(0)
                        .filter(|(k, _)| &***k != HEARTBEAT_KEY)
                        .filter_map(|(k, e)| e.value.as_ref().map(|v| (k, v, e.version)))
                        .collect()
                })
            })
            .collect();
        let others = self.up_count().saturating_sub(1);
        self.up().into_iter().all(|i| {
            let matching = self.count_held(i, |j, view| {
                let Some(keys) = &owners[j] else {
                    return false;
                };
                let owner = self.nodes[j].node.local_state();
                let view = &view.state;
                view.generation == owner.generation
                    && view.live_keys() == owner.live_keys()
                    && view.value(HEARTBEAT_KEY).is_some()
                    && view.value(LEFT_KEY).is_none()
                    && keys.iter().all(|(k, v, version)| {
                        view.get(k)
                            .is_some_and(|e| e.version == *version && e.value.as_ref() == Some(*v))
                    })
            });
            matching == others
        })
    }

    /// Each node's own heartbeat count now (0 for one never started).
    pub fn heartbeats(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| {
                n.node
                    .local_state()
                    .value(HEARTBEAT_KEY)
                    .and_then(|v| read_uint(v))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Every up node holds, of every other up node, a heartbeat at least as
    /// recent as `beats` (taken by `heartbeats()`): the heartbeats that were
    /// the latest then have reached everyone (or been overtaken).
    pub fn heartbeats_reached(&self, beats: &[u64]) -> bool {
        let others = self.up_count().saturating_sub(1);
        self.up().into_iter().all(|i| {
            let fresh = self.count_held(i, |j, p| {
                let seen = p.state.value(HEARTBEAT_KEY).and_then(|v| read_uint(v));
                seen.unwrap_or(0) >= beats[j]
            });
            fresh == others
        })
    }

    /// How many rounds the heartbeats that up nodes hold of each other lag
    /// behind their owners': (max, mean) over all ordered pairs. A pair where
    /// the observer holds no heartbeat counts as the owner's whole count.
    pub fn heartbeat_lag(&self) -> (u64, f64) {
        let beat = |state: &crate::core::peer_state::PeerState| {
            state
                .value(HEARTBEAT_KEY)
                .and_then(|v| read_uint(v))
                .unwrap_or(0)
        };
        let up = self.up();
        let beats: Vec<u64> = (0..self.nodes.len())
            .map(|j| beat(self.nodes[j].node.local_state()))
            .collect();
        let (mut max, mut sum, mut pairs) = (0u64, 0u64, 0u64);
        let mut seen = vec![0u64; self.nodes.len()];
        for &i in &up {
            seen.iter_mut().for_each(|s| *s = 0);
            for (j, p) in self.held(i) {
                seen[j] = beat(&p.state);
            }
            for &j in &up {
                if i == j {
                    continue;
                }
                let lag = beats[j].saturating_sub(seen[j]);
                max = max.max(lag);
                sum += lag;
                pairs += 1;
            }
        }
        (max, sum as f64 / pairs.max(1) as f64)
    }
}
