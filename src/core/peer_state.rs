//! One peer's key/value state with Scuttlebutt versions: every key carries
//! the version of its last write, and `max_version` is the highest seen.
//! Deltas "after version v" come out in version order, which is what keeps a
//! receiver's copy a consistent prefix of the owner's history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::time::Millis;

/// A msgpack-encoded value, shared between the state and pending events.
pub type Value = Arc<[u8]>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `None` is a tombstone: the key was deleted at `version`.
    pub value: Option<Value>,
    pub version: u64,
    /// Local time the tombstone was recorded (for collection).
    pub deleted_at: Millis,
}

#[derive(Clone, Debug, Default)]
pub struct PeerState {
    /// Version at which the peer's current incarnation began; 0 when unknown
    /// (an old node-gossip peer never tells).
    pub generation: u64,
    pub max_version: u64,
    entries: HashMap<Arc<str>, Entry>,
    by_version: BTreeMap<u64, Arc<str>>,
    live_keys: usize,
    tombstones: usize,
    bytes: usize,
}

fn entry_bytes(key: &str, value: &Option<Value>) -> usize {
    key.len() + value.as_ref().map_or(0, |v| v.len())
}

impl PeerState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The value of a live key.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).and_then(|e| e.value.as_ref())
    }

    pub fn live_keys(&self) -> usize {
        self.live_keys
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// The shared copy of a stored key (for events), or a new one.
    pub fn key_arc(&self, key: &str) -> Arc<str> {
        self.entries
            .get_key_value(key)
            .map_or_else(|| Arc::from(key), |(k, _)| k.clone())
    }

    /// Keys that are not deleted, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries
            .iter()
            .filter(|(_, e)| e.value.is_some())
            .map(|(k, _)| k)
    }

    /// Records `key` at `version` (a value, or a tombstone when `None`) and
    /// raises `max_version`. Returns the previous entry.
    pub fn put(
        &mut self,
        key: &str,
        value: Option<Value>,
        version: u64,
        now: Millis,
    ) -> Option<Entry> {
        let (key, previous) = match self.entries.get_key_value(key) {
            Some((k, e)) => (k.clone(), Some(e.clone())),
            None => (Arc::from(key), None),
        };
        if let Some(prev) = &previous {
            self.by_version.remove(&prev.version);
            self.bytes -= entry_bytes(&key, &prev.value);
            self.live_keys -= usize::from(prev.value.is_some());
            self.tombstones -= usize::from(prev.value.is_none());
        }
        self.bytes += entry_bytes(&key, &value);
        self.live_keys += usize::from(value.is_some());
        self.tombstones += usize::from(value.is_none());
        self.by_version.insert(version, key.clone());
        let deleted_at = if value.is_none() { now } else { 0 };
        self.entries.insert(
            key,
            Entry {
                value,
                version,
                deleted_at,
            },
        );
        self.max_version = self.max_version.max(version);
        previous
    }

    /// Entries with a version above `version`, in ascending version order.
    pub fn deltas_after(&self, version: u64) -> impl Iterator<Item = (&Arc<str>, &Entry)> {
        self.by_version
            .range(version.saturating_add(1)..)
            .filter_map(move |(_, k)| self.entries.get_key_value(k))
    }

    pub fn count_after(&self, version: u64) -> usize {
        self.by_version.range(version.saturating_add(1)..).count()
    }

    /// Drops every entry written before `version` (a newer incarnation began
    /// there) and returns the keys that were live, for `delete` events.
    pub fn drop_before(&mut self, version: u64) -> Vec<Arc<str>> {
        let stale: Vec<(u64, Arc<str>)> = self
            .by_version
            .range(..version)
            .map(|(v, k)| (*v, k.clone()))
            .collect();
        let mut dropped = Vec::new();
        for (v, key) in stale {
            self.by_version.remove(&v);
            if let Some(e) = self.entries.remove(&key) {
                self.bytes -= entry_bytes(&key, &e.value);
                if e.value.is_some() {
                    self.live_keys -= 1;
                    dropped.push(key);
                } else {
                    self.tombstones -= 1;
                }
            }
        }
        dropped
    }

    /// Forgets tombstones recorded before `cutoff`; returns how many.
    pub fn collect_tombstones(&mut self, cutoff: Millis) -> usize {
        let old: Vec<(Arc<str>, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.value.is_none() && e.deleted_at < cutoff)
            .map(|(k, e)| (k.clone(), e.version))
            .collect();
        for (key, version) in &old {
            self.entries.remove(key);
            self.by_version.remove(version);
            self.bytes -= key.len();
        }
        self.tombstones -= old.len();
        old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(b: &[u8]) -> Option<Value> {
        Some(Arc::from(b))
    }

    #[test]
    fn put_tracks_versions_and_replaces() {
        let mut s = PeerState::new();
        s.put("a", v(b"\x01"), 1, 0);
        s.put("b", v(b"\x02"), 2, 0);
        let prev = s.put("a", v(b"\x03"), 3, 0).unwrap();
        assert_eq!(prev.version, 1);
        assert_eq!(s.max_version, 3);
        assert_eq!(s.value("a").unwrap().as_ref(), b"\x03");
        let order: Vec<(&str, u64)> = s
            .deltas_after(0)
            .map(|(k, e)| (k.as_ref(), e.version))
            .collect();
        assert_eq!(order, vec![("b", 2), ("a", 3)]);
        assert_eq!(s.count_after(2), 1);
        assert_eq!(s.live_keys(), 2);
        assert_eq!(s.bytes(), 4);
    }

    #[test]
    fn tombstones_hide_the_value_until_collected() {
        let mut s = PeerState::new();
        s.put("a", v(b"\x01"), 1, 0);
        s.put("a", None, 2, 100);
        assert!(s.value("a").is_none());
        assert_eq!(s.live_keys(), 0);
        assert_eq!(s.keys().count(), 0);
        assert_eq!(
            s.deltas_after(1).count(),
            1,
            "the deletion itself is a delta"
        );
        assert_eq!(s.collect_tombstones(100), 0);
        assert_eq!(s.collect_tombstones(101), 1);
        assert!(s.get("a").is_none());
        assert_eq!(s.max_version, 2, "collection never lowers the version");
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn drop_before_removes_an_old_incarnation() {
        let mut s = PeerState::new();
        s.put("old", v(b"\x01"), 10, 0);
        s.put("kept", v(b"\x01"), 11, 0);
        s.put("kept", v(b"\x02"), 1000, 0);
        s.put("new", v(b"\x03"), 1001, 0);
        let dropped = s.drop_before(1000);
        assert_eq!(
            dropped.iter().map(|k| k.as_ref()).collect::<Vec<_>>(),
            vec!["old"]
        );
        assert_eq!(s.keys().count(), 2);
        assert_eq!(s.live_keys(), 2);
    }
}
