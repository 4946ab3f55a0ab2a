//! The driver's log: one line per connection closed early or peer
//! unreachable, for the application's logger (the binding hands them to
//! JavaScript as `Signal::Log`). Off unless the application's logger wants
//! debug lines (`set_log`). Bounded: a node logs at most `BURST` lines in a
//! row and `PER_SECOND` a second after that; what is dropped is counted and
//! said in the next line, so a flood of refused connections cannot flood
//! the application.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const BURST: f64 = 200.0;
const PER_SECOND: f64 = 50.0;

#[derive(Default)]
pub(super) struct Log {
    on: AtomicBool,
    gate: Mutex<Gate>,
}

#[derive(Default)]
struct Gate {
    tokens: f64,
    at: Option<Instant>,
    dropped: u64,
}

impl Log {
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The line to log now, or nothing when over the budget.
    pub fn admit(&self, line: std::fmt::Arguments) -> Option<String> {
        let mut g = self.gate.lock();
        let now = Instant::now();
        let elapsed = g.at.map_or(BURST / PER_SECOND, |t| (now - t).as_secs_f64());
        g.tokens = (g.tokens + elapsed * PER_SECOND).min(BURST);
        g.at = Some(now);
        if g.tokens < 1.0 {
            g.dropped += 1;
            return None;
        }
        g.tokens -= 1.0;
        let dropped = std::mem::take(&mut g.dropped);
        Some(if dropped > 0 {
            format!("{line} ({dropped} earlier lines dropped)")
        } else {
            line.to_string()
        })
    }
}
