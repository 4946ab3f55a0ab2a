//! Time as the core sees it: plain milliseconds on a monotonic clock chosen by
//! the caller (a tokio `Instant` in the runtime, a counter in the simulator).

pub type Millis = u64;

/// Versions are seeded from the wall clock in microseconds, so a process that
/// restarts on the same address always writes versions above its previous
/// life's (up to a million writes per second of uptime) and old node-gossip
/// peers accept its new state without any change on the wire. It stays below
/// 2^53, so JavaScript peers hold it exactly, until the year 2255.
pub fn wall_clock_version() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1)
        .max(1)
}

/// The largest version a JavaScript peer can hold exactly.
pub const MAX_SAFE_VERSION: u64 = (1 << 53) - 1;

/// The clock a node judges its peers by: real time, except that it runs at
/// most half a round past a round that is due and has not run. When the node's
/// own rounds fall behind (an overloaded machine, a suspended process), its
/// peers' silence is its own doing: the failure detector then measures it in
/// the node's rounds rather than in wall time, and convicts no one for it.
/// Whatever a late round leaves beyond the slack is cut out for good, so the
/// clock never jumps, forward or back.
#[derive(Clone, Debug)]
pub struct RoundClock {
    interval: Millis,
    /// Real time cut out so far.
    held: Millis,
    /// When the next round is due (real time), while rounds run.
    due: Option<Millis>,
    last: Millis,
}

impl RoundClock {
    /// For rounds `interval` apart.
    pub fn new(interval: Millis) -> Self {
        RoundClock {
            interval,
            held: 0,
            due: None,
            last: 0,
        }
    }

    /// The node's time at real time `real` (never less than last read).
    pub fn at(&mut self, real: Millis) -> Millis {
        let capped = match self.due {
            Some(due) => real.min(due.saturating_add(self.slack())),
            None => real,
        };
        self.last = capped.saturating_sub(self.held).max(self.last);
        self.last
    }

    /// How late a round may run before the clock stops: half a round.
    fn slack(&self) -> Millis {
        self.interval / 2
    }

    /// Rounds start; the first is due at `due`.
    pub fn rounds_from(&mut self, due: Millis) {
        self.due = Some(due);
    }

    /// The round due at `due` runs at `real`; the next is due a whole
    /// interval after it (a late round does not bring the next one closer).
    pub fn round(&mut self, due: Millis, real: Millis) {
        self.held += real.saturating_sub(due.saturating_add(self.slack()));
        self.due = Some(real.saturating_add(self.interval));
    }

    /// Rounds stop (the node stopped): the clock follows real time again.
    pub fn no_rounds(&mut self) {
        self.due = None;
    }

    /// The node's time as last read.
    pub fn last(&self) -> Millis {
        self.last
    }

    /// Real time cut out so far: how far the node's own rounds fell behind.
    pub fn held(&self) -> Millis {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::RoundClock;

    #[test]
    fn on_time_rounds_leave_real_time_alone() {
        let mut c = RoundClock::new(1000);
        c.rounds_from(1000);
        for r in 1..=10 {
            assert_eq!(c.at(r * 1000 - 400), r * 1000 - 400);
            c.round(r * 1000, r * 1000 + 3);
            assert_eq!(c.at(r * 1000 + 3), r * 1000 + 3);
        }
        assert_eq!(c.held(), 0);
    }

    #[test]
    fn a_late_round_holds_the_clock_at_the_slack_and_it_never_jumps() {
        let mut c = RoundClock::new(1000);
        c.rounds_from(1000);
        assert_eq!(c.at(1200), 1200);
        // the round due at 1000 runs at 5000: meanwhile the clock stops at 1500
        assert_eq!(c.at(3000), 1500);
        assert_eq!(c.at(4999), 1500);
        c.round(1000, 5000);
        assert_eq!(c.held(), 3500);
        assert_eq!(c.at(5000), 1500);
        assert_eq!(c.at(5600), 2100);
        // on time again: runs with real time, 3.5 s behind it
        c.round(6000, 6000);
        assert_eq!(c.at(6900), 3400);
        assert_eq!(c.held(), 3500);
    }

    #[test]
    fn overloaded_rounds_advance_the_clock_one_round_and_the_slack_each() {
        // rounds due every 1000 ms run 4000 ms late, as in a saturated process
        let mut c = RoundClock::new(1000);
        c.rounds_from(1000);
        let (mut due, mut seen) = (1000, Vec::new());
        for _ in 0..5 {
            let ran = due + 4000;
            c.round(due, ran);
            seen.push(c.at(ran));
            due = ran + 1000;
        }
        let steps: Vec<_> = seen.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(steps, vec![1500; 4]);
    }

    #[test]
    fn without_rounds_the_clock_follows_real_time_and_stays_monotonic() {
        let mut c = RoundClock::new(1000);
        assert_eq!(c.at(10_000), 10_000);
        c.rounds_from(11_000);
        c.round(11_000, 20_000);
        assert_eq!(c.at(20_000), 11_500);
        c.no_rounds();
        assert_eq!(c.at(25_000), 16_500);
        // a round that started again earlier than the held clock cannot move it back
        c.rounds_from(10_000);
        assert_eq!(c.at(26_000), 16_500);
    }
}
