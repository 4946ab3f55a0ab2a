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
