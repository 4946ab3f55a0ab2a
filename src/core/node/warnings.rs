//! Warnings: misconfiguration that would otherwise fail in silence (a peer
//! of another cluster, another key, a value over a limit, a seed that does
//! not resolve or never answers). Each is counted in `stats()` every time,
//! and reported (`Event::Warning`) at most once a minute per kind and peer,
//! so that a peer retrying every round cannot flood the application.

use super::*;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Warning {
    /// A peer with another cluster name (or none) talked to us.
    WrongCluster,
    /// A peer's messages were sealed with no key we hold, or not sealed.
    WrongKey,
    /// An update was over one of our limits and was dropped.
    UpdateRefused,
    /// A seed's host name did not resolve.
    SeedUnresolved,
    /// A seed could not be reached, and has not answered since we started.
    SeedUnreachable,
}

impl Warning {
    pub const ALL: [Warning; 5] = [
        Warning::WrongCluster,
        Warning::WrongKey,
        Warning::UpdateRefused,
        Warning::SeedUnresolved,
        Warning::SeedUnreachable,
    ];

    /// The stable `code` the application sees.
    pub fn code(self) -> &'static str {
        match self {
            Warning::WrongCluster => "GOSSIPER_WRONG_CLUSTER",
            Warning::WrongKey => "GOSSIPER_WRONG_KEY",
            Warning::UpdateRefused => "GOSSIPER_UPDATE_REFUSED",
            Warning::SeedUnresolved => "GOSSIPER_SEED_UNRESOLVED",
            Warning::SeedUnreachable => "GOSSIPER_SEED_UNREACHABLE",
        }
    }

    /// Its counter's name in `stats().warnings`.
    pub fn name(self) -> &'static str {
        match self {
            Warning::WrongCluster => "wrongCluster",
            Warning::WrongKey => "wrongKey",
            Warning::UpdateRefused => "updateRefused",
            Warning::SeedUnresolved => "seedUnresolved",
            Warning::SeedUnreachable => "seedUnreachable",
        }
    }
}

/// Time between two reports of one warning about one peer.
pub const WARN_EVERY_MS: Millis = 60_000;

/// Warnings remembered for rate limiting; beyond it the oldest are let go
/// (a flood of distinct peers still yields at most this many a minute).
const WARNED_KEPT: usize = 256;

impl Node {
    /// Counts `warning` about `peer`, and reports it unless it was reported
    /// within the last minute.
    pub(super) fn warn(&mut self, warning: Warning, peer: &str, detail: String, now: Millis) {
        self.stats.warnings[warning as usize] += 1;
        let key = (warning, Arc::<str>::from(peer));
        if let Some(&at) = self.warned.get(&key) {
            if now.saturating_sub(at) < WARN_EVERY_MS {
                return;
            }
        }
        if self.warned.len() >= WARNED_KEPT {
            let cutoff = now.saturating_sub(WARN_EVERY_MS);
            self.warned.retain(|_, at| *at > cutoff);
            if self.warned.len() >= WARNED_KEPT {
                return;
            }
        }
        self.warned.insert(key.clone(), now);
        self.emit(Event::Warning {
            warning,
            peer: key.1,
            message: Arc::from(detail),
        });
    }
}
