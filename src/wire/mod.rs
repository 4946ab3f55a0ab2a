//! The wire codec: bounded framing of a msgpack stream, decoding of the three
//! node-gossip messages into borrowed views, and their encoding.

use std::fmt;

pub mod datagram;
pub mod marker;
pub mod message;
pub mod read;
pub mod scan;
pub mod seal;
pub mod write;

#[cfg(test)]
mod fuzz_regressions;

pub use message::{decode, Delta, DigestItem, Ext, Incoming, Request, Response};
pub use scan::{ScanError, ScanLimits, Scanner};

/// The largest version accepted: what a JavaScript peer holds exactly.
pub const MAX_VERSION: u64 = (1 << 53) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    Malformed,
    /// An item of the wrong type, by its marker byte.
    Type(u8),
    /// A number out of range (negative, fractional, beyond 2^53).
    Range,
    Utf8,
    /// A field that is missing or has the wrong shape.
    Field(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("message truncated"),
            DecodeError::Malformed => f.write_str("malformed message"),
            DecodeError::Type(m) => write!(f, "unexpected msgpack type 0x{m:02x}"),
            DecodeError::Range => f.write_str("number out of range"),
            DecodeError::Utf8 => f.write_str("string is not UTF-8"),
            DecodeError::Field(name) => write!(f, "field '{name}' missing or malformed"),
        }
    }
}

impl std::error::Error for DecodeError {}
