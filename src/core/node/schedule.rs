//! When things happen: rounds.

use super::*;

impl Node {
    /// One gossip round: heartbeat, liveness, clean-up. Returns the peers to
    /// start an exchange with.
    pub fn tick(&mut self, now: Millis) -> Vec<Arc<str>> {
        self.stats.rounds += 1;
        self.beat();
        self.check_liveness(now);
        self.remove_long_dead(now);
        self.collect_tombstones(now);
        let targets = self.choose_targets();
        self.names(&targets)
    }
}
