//! The debug log: one line on stderr per connection closed early or peer
//! unreachable, when `GOSSIPER_DEBUG` is set (to anything but "" or "0").
//! Off by default; read once per process.

use std::sync::OnceLock;

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("GOSSIPER_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Writes `gossiper[<node>]: <message>` when the log is on.
pub fn log(node: &str, message: std::fmt::Arguments) {
    if enabled() {
        eprintln!("gossiper[{node}]: {message}");
    }
}
