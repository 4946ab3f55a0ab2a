//! When to start a catch-up exchange. A response that had to leave updates
//! out says so (`more`); the node that started the exchange then starts
//! another with the same peer at once, and so on while the answer is still
//! `more`, at most `limit` in a row. One chain per node at a time: chains to
//! several peers at once mostly carry the same updates from each of them, so
//! they cost bytes without moving the state sooner.
//! The runtime and the simulator both decide with this.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatchUpChain {
    /// Catch-ups the running chain may still start; `None`: no chain runs.
    left: Option<u32>,
}

impl CatchUpChain {
    /// An exchange ended with `more` (or not); `in_chain`: it was one of the
    /// running chain's. True: start a catch-up exchange with the same peer
    /// now, as part of the chain.
    pub fn next(&mut self, in_chain: bool, more: bool, limit: u32) -> bool {
        match (in_chain, self.left) {
            (true, Some(left)) if more && left > 0 => {
                self.left = Some(left - 1);
                true
            }
            (true, _) => {
                self.left = None;
                false
            }
            (false, None) if more && limit > 0 => {
                self.left = Some(limit - 1);
                true
            }
            (false, _) => false,
        }
    }

    /// The chain's exchange broke, or the node stopped: the chain ends.
    pub fn end(&mut self) {
        self.left = None;
    }

    pub fn running(&self) -> bool {
        self.left.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::CatchUpChain;

    /// Exchanges answered `more` until the answer says all has moved.
    fn chain_length(c: &mut CatchUpChain, answers: &[bool], limit: u32) -> usize {
        let mut started = 0;
        let mut in_chain = false;
        for &more in answers {
            if !c.next(in_chain, more, limit) {
                break;
            }
            started += 1;
            in_chain = true;
        }
        started
    }

    #[test]
    fn a_chain_runs_while_more_and_at_most_the_limit() {
        let mut c = CatchUpChain::default();
        assert_eq!(chain_length(&mut c, &[true, true, false, true], 8), 2);
        assert!(!c.running());
        assert_eq!(chain_length(&mut c, &[true; 20], 8), 8);
        assert!(!c.running());
        assert_eq!(chain_length(&mut c, &[true; 20], 0), 0);
        assert_eq!(chain_length(&mut c, &[false], 8), 0);
    }

    #[test]
    fn one_chain_at_a_time_and_a_broken_one_frees_the_node() {
        let mut c = CatchUpChain::default();
        assert!(c.next(false, true, 8));
        // another exchange of the node's, outside the chain, says more
        assert!(!c.next(false, true, 8));
        assert!(c.running());
        c.end();
        assert!(!c.running());
        assert!(c.next(false, true, 8));
        // the chain's own exchange ends it when all has moved
        assert!(!c.next(true, false, 8));
        assert!(!c.running());
    }
}
