//! The sans-IO protocol core: state, versions, digests and deltas, failure
//! detection. No sockets, no clocks, no threads: time is an argument.

pub mod catch_up;
pub mod config;
pub mod event;
pub mod failure_detector;
pub mod name_index;
pub mod node;
pub mod peer_name;
pub mod peer_state;
pub mod stats;
pub mod time;

#[cfg(test)]
mod fuzz_regressions;

pub use config::Config;
pub use event::{Event, PeerId};
pub use node::{Node, SecondResponse};
