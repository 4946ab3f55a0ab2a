//! gossiper: Scuttlebutt gossip and phi accrual failure detection.
//!
//! Layers, each calling only the ones below it:
//! - `binding` (napi): the Node.js class and event delivery;
//! - `runtime` (tokio): sockets, timers, limits, one runtime per process;
//! - `core`: the protocol state machine, pure and driven by explicit time;
//! - `wire`: the bounded msgpack codec.

#[cfg(feature = "node")]
mod binding;

/// The addon's own allocations go to mimalloc (see Cargo.toml), and so do
/// the simulator's.
#[cfg(any(feature = "node", feature = "sim"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub mod core;
pub mod runtime;
#[cfg(feature = "sim")]
pub mod sim;
pub mod wire;
