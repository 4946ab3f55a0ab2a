//! The kinds of record a signal batch carries to JavaScript, defined once:
//! the batch writer (`events.rs`) writes them, and the JavaScript side
//! (`lib/records.js`) reads the same numbers and lengths from the addon.

use napi_derive::napi;

/// A record is `kind, node, ...fields`; strings are indexes into the
/// batch's string table, values numbers inline or indexes into its values.
#[napi]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// `peer name isMe`
    NewPeer = 0,
    /// `peer key valueIndex`
    Update = 1,
    /// `peer key`
    Delete = 2,
    /// `peer`
    Alive = 3,
    /// `peer`
    Failed = 4,
    /// `peer`
    Removed = 5,
    /// `name`
    Started = 6,
    /// `message code`
    StartFailed = 7,
    /// (no fields)
    Stopped = 8,
    /// `peer key number`: an update whose value is a number, inline
    UpdateNum = 9,
    /// `peer`: it announced its leave
    Left = 10,
    /// `code peer message`: a warning (strings)
    Warning = 11,
    /// `message`: a line of the driver's debug log
    Log = 12,
}

impl Record {
    pub const ALL: [Record; 13] = [
        Record::NewPeer,
        Record::Update,
        Record::Delete,
        Record::Alive,
        Record::Failed,
        Record::Removed,
        Record::Started,
        Record::StartFailed,
        Record::Stopped,
        Record::UpdateNum,
        Record::Left,
        Record::Warning,
        Record::Log,
    ];

    /// Numbers the record takes in a batch, its kind and node included.
    pub const fn len(self) -> usize {
        2 + match self {
            Record::NewPeer | Record::Update | Record::UpdateNum => 3,
            Record::Warning => 3,
            Record::Delete | Record::StartFailed => 2,
            Record::Alive
            | Record::Failed
            | Record::Left
            | Record::Removed
            | Record::Started
            | Record::Log => 1,
            Record::Stopped => 0,
        }
    }
}

/// Record lengths by kind, for JavaScript to step over the records of a
/// gossiper that is gone.
// napi-derive registers it only outside `cfg(test)`
#[cfg_attr(test, allow(dead_code))]
#[napi]
pub fn record_lengths() -> Vec<u32> {
    Record::ALL.iter().map(|r| r.len() as u32).collect()
}
