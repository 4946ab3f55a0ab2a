//! One peer's key/value state with Scuttlebutt versions: every key carries
//! the version of its last write, and `max_version` is the highest seen.
//! Deltas "after version v" come out in version order, which is what keeps a
//! receiver's copy a consistent prefix of the owner's history.
//!
//! A node holds one of these per peer it knows, so the layout is compact:
//! the heartbeat, which every peer has and rewrites every round, sits in the
//! state itself under one key shared by all states; any other key lives in a
//! boxed part, allocated when the peer writes its first one, as a short list
//! in version order (scanned) up to `SMALL_KEYS` keys, and as a hash map plus
//! a version index beyond.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use rustc_hash::FxBuildHasher;

use super::time::Millis;

/// The heartbeat key, an ordinary key whose value counts rounds (as node-gossip).
pub const HEARTBEAT_KEY: &str = "__heartbeat__";
/// Set by a peer that leaves the cluster on purpose; never shown as a key.
pub const LEFT_KEY: &str = "__left__";

/// A msgpack-encoded value, shared between the state and pending events.
pub type Value = Arc<[u8]>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// `None` is a tombstone: the key was deleted at `version`.
    pub value: Option<Value>,
    pub version: u64,
}

static HEARTBEAT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(HEARTBEAT_KEY));
static LEFT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(LEFT_KEY));

/// The one shared copy of the heartbeat key.
pub fn heartbeat_key() -> &'static Arc<str> {
    &HEARTBEAT
}

/// A shared copy of `key` for the protocol's own keys, or a new one.
fn new_key(key: &str) -> Arc<str> {
    if key == HEARTBEAT_KEY {
        HEARTBEAT.clone()
    } else if key == LEFT_KEY {
        LEFT.clone()
    } else {
        Arc::from(key)
    }
}

/// Most keys besides the heartbeat kept as a scanned list.
const SMALL_KEYS: usize = 16;

#[derive(Clone, Debug, Default)]
pub struct PeerState {
    /// Version at which the peer's current incarnation began; 0 when unknown
    /// (an old node-gossip peer never tells).
    pub generation: u64,
    pub max_version: u64,
    /// The heartbeat key's entry; version 0 when the key is absent (every
    /// stored version is at least 1).
    heartbeat: Entry,
    /// Every other key, and the deletion time of a deleted heartbeat.
    rest: Option<Box<Rest>>,
}

#[derive(Clone, Debug, Default)]
struct Rest {
    keys: Keys,
    /// Counts of `keys` (the heartbeat is counted apart).
    live_keys: usize,
    tombstones: usize,
    bytes: usize,
    /// Local time the heartbeat's tombstone was recorded, if it is one.
    heartbeat_deleted_at: Millis,
}

#[derive(Clone, Debug)]
enum Keys {
    /// In ascending version order.
    Small(Vec<Slot>),
    Large(Large),
}

impl Default for Keys {
    fn default() -> Self {
        Keys::Small(Vec::new())
    }
}

#[derive(Clone, Debug)]
struct Slot {
    key: Arc<str>,
    entry: Entry,
    /// Local time a tombstone was recorded (for collection).
    deleted_at: Millis,
}

/// Many keys: entries in version order, so that deltas are read straight
/// from the tree (the hot path: every exchange reads deltas), and an index
/// from key to version for look-ups by key.
#[derive(Clone, Debug, Default)]
struct Large {
    by_version: BTreeMap<u64, Slot>,
    index: HashMap<Arc<str>, u64, FxBuildHasher>,
}

fn entry_bytes(key: &str, value: &Option<Value>) -> usize {
    key.len() + value.as_ref().map_or(0, |v| v.len())
}

impl Keys {
    fn len(&self) -> usize {
        match self {
            Keys::Small(v) => v.len(),
            Keys::Large(l) => l.index.len(),
        }
    }

    fn get_key_value(&self, key: &str) -> Option<(&Arc<str>, &Entry)> {
        match self {
            Keys::Small(v) => v
                .iter()
                .find(|s| &*s.key == key)
                .map(|s| (&s.key, &s.entry)),
            Keys::Large(l) => {
                let s = l.by_version.get(l.index.get(key)?)?;
                Some((&s.key, &s.entry))
            }
        }
    }

    /// Removes `key`; returns its stored key and entry.
    fn remove(&mut self, key: &str) -> Option<(Arc<str>, Entry)> {
        match self {
            Keys::Small(v) => {
                let i = v.iter().position(|s| &*s.key == key)?;
                let s = v.remove(i);
                Some((s.key, s.entry))
            }
            Keys::Large(l) => {
                let s = l.by_version.remove(&l.index.remove(key)?)?;
                Some((s.key, s.entry))
            }
        }
    }

    fn make_large(&mut self) {
        if let Keys::Small(v) = self {
            let mut large = Large::default();
            for s in v.drain(..) {
                large.index.insert(s.key.clone(), s.entry.version);
                large.by_version.insert(s.entry.version, s);
            }
            *self = Keys::Large(large);
        }
    }

    /// Adds an entry for a key not held (usually above every version held).
    fn insert(&mut self, key: Arc<str>, entry: Entry, deleted_at: Millis) {
        if matches!(self, Keys::Small(v) if v.len() >= SMALL_KEYS) {
            self.make_large();
        }
        match self {
            Keys::Small(v) => {
                let i = v.partition_point(|s| s.entry.version < entry.version);
                let slot = Slot {
                    key,
                    entry,
                    deleted_at,
                };
                v.insert(i, slot);
            }
            Keys::Large(l) => {
                l.index.insert(key.clone(), entry.version);
                let version = entry.version;
                let slot = Slot {
                    key,
                    entry,
                    deleted_at,
                };
                l.by_version.insert(version, slot);
            }
        }
    }

    fn iter_after(&self, version: u64) -> RestIter<'_> {
        match self {
            Keys::Small(v) => {
                let i = v.partition_point(|s| s.entry.version <= version);
                RestIter::Small(v[i..].iter())
            }
            Keys::Large(l) => RestIter::Large(l.by_version.range(version.saturating_add(1)..)),
        }
    }

    fn count_after(&self, version: u64) -> usize {
        match self {
            Keys::Small(v) => v.len() - v.partition_point(|s| s.entry.version <= version),
            Keys::Large(l) => l.by_version.range(version.saturating_add(1)..).count(),
        }
    }

    /// Removes the entries below `version`, in version order.
    fn remove_before(&mut self, version: u64) -> Vec<(Arc<str>, Entry)> {
        match self {
            Keys::Small(v) => {
                let i = v.partition_point(|s| s.entry.version < version);
                v.drain(..i).map(|s| (s.key, s.entry)).collect()
            }
            Keys::Large(l) => {
                let kept = l.by_version.split_off(&version);
                let stale = std::mem::replace(&mut l.by_version, kept);
                stale
                    .into_values()
                    .map(|s| {
                        l.index.remove(&s.key);
                        (s.key, s.entry)
                    })
                    .collect()
            }
        }
    }

    /// Removes the tombstones recorded before `cutoff`; returns their keys.
    fn remove_tombstones(&mut self, cutoff: Millis) -> Vec<Arc<str>> {
        match self {
            Keys::Small(v) => {
                let mut out = Vec::new();
                v.retain(|s| {
                    let old = s.entry.value.is_none() && s.deleted_at < cutoff;
                    if old {
                        out.push(s.key.clone());
                    }
                    !old
                });
                out
            }
            Keys::Large(l) => {
                let old: Vec<u64> = l
                    .by_version
                    .iter()
                    .filter(|(_, s)| s.entry.value.is_none() && s.deleted_at < cutoff)
                    .map(|(&v, _)| v)
                    .collect();
                old.into_iter()
                    .filter_map(|v| l.by_version.remove(&v))
                    .map(|s| {
                        l.index.remove(&s.key);
                        s.key
                    })
                    .collect()
            }
        }
    }

    /// Back to a list once a large map has shrunk well below the limit.
    fn shrink(&mut self) {
        if let Keys::Large(l) = self {
            if l.index.len() <= SMALL_KEYS / 2 {
                let v = std::mem::take(&mut l.by_version).into_values().collect();
                *self = Keys::Small(v);
            }
        }
    }

    fn iter(&self) -> RestIter<'_> {
        self.iter_after(0)
    }
}

/// Entries of the boxed part above some version, in version order.
enum RestIter<'a> {
    Empty,
    Small(std::slice::Iter<'a, Slot>),
    Large(std::collections::btree_map::Range<'a, u64, Slot>),
}

impl<'a> Iterator for RestIter<'a> {
    type Item = (&'a Arc<str>, &'a Entry);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            RestIter::Empty => None,
            RestIter::Small(it) => it.next().map(|s| (&s.key, &s.entry)),
            RestIter::Large(range) => range.next().map(|(_, s)| (&s.key, &s.entry)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            RestIter::Empty => (0, Some(0)),
            RestIter::Small(it) => it.size_hint(),
            RestIter::Large(range) => range.size_hint(),
        }
    }
}

/// Entries above some version in ascending version order: the heartbeat
/// merged into the rest.
pub struct Deltas<'a> {
    heartbeat: Option<(&'a Arc<str>, &'a Entry)>,
    rest: std::iter::Peekable<RestIter<'a>>,
}

impl<'a> Iterator for Deltas<'a> {
    type Item = (&'a Arc<str>, &'a Entry);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(hb) = self.heartbeat {
            let first = match self.rest.peek() {
                Some((_, e)) => hb.1.version < e.version,
                None => true,
            };
            if first {
                self.heartbeat = None;
                return Some(hb);
            }
        }
        self.rest.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.rest.size_hint();
        let hb = usize::from(self.heartbeat.is_some());
        (lo + hb, hi.map(|h| h + hb))
    }
}

impl PeerState {
    pub fn new() -> Self {
        Self::default()
    }

    fn heartbeat_entry(&self) -> Option<&Entry> {
        (self.heartbeat.version != 0).then_some(&self.heartbeat)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        if key == HEARTBEAT_KEY {
            return self.heartbeat_entry();
        }
        self.rest
            .as_ref()
            .and_then(|r| r.keys.get_key_value(key))
            .map(|(_, e)| e)
    }

    /// The value of a live key.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.get(key).and_then(|e| e.value.as_ref())
    }

    pub fn live_keys(&self) -> usize {
        usize::from(self.heartbeat.value.is_some()) + self.rest.as_ref().map_or(0, |r| r.live_keys)
    }

    pub fn bytes(&self) -> usize {
        let heartbeat = match self.heartbeat_entry() {
            Some(e) => entry_bytes(HEARTBEAT_KEY, &e.value),
            None => 0,
        };
        heartbeat + self.rest.as_ref().map_or(0, |r| r.bytes)
    }

    pub fn tombstones(&self) -> usize {
        let heartbeat = self.heartbeat_entry().is_some_and(|e| e.value.is_none());
        usize::from(heartbeat) + self.rest.as_ref().map_or(0, |r| r.tombstones)
    }

    /// Keys held, live or deleted, the heartbeat included.
    pub fn len(&self) -> usize {
        usize::from(self.heartbeat.version != 0) + self.rest.as_ref().map_or(0, |r| r.keys.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared copy of a stored key (for events), or a new one.
    pub fn key_arc(&self, key: &str) -> Arc<str> {
        if let Some((k, _)) = self.rest.as_ref().and_then(|r| r.keys.get_key_value(key)) {
            return k.clone();
        }
        new_key(key)
    }

    /// Keys that are not deleted, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        let heartbeat = self.heartbeat.value.is_some().then_some(heartbeat_key());
        let rest = match &self.rest {
            Some(r) => r.keys.iter(),
            None => RestIter::Empty,
        };
        heartbeat
            .into_iter()
            .chain(rest.filter(|(_, e)| e.value.is_some()).map(|(k, _)| k))
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
        self.put_shared(key, value, version, now).1
    }

    /// `put`, also returning the stored key (shared with the state).
    pub fn put_shared(
        &mut self,
        key: &str,
        value: Option<Value>,
        version: u64,
        now: Millis,
    ) -> (Arc<str>, Option<Entry>) {
        debug_assert!(version > 0, "version 0 is never stored");
        self.max_version = self.max_version.max(version);
        if key == HEARTBEAT_KEY {
            let deleted = value.is_none();
            let previous = std::mem::replace(&mut self.heartbeat, Entry { value, version });
            if deleted {
                self.rest
                    .get_or_insert_with(Default::default)
                    .heartbeat_deleted_at = now;
            }
            return (
                heartbeat_key().clone(),
                (previous.version != 0).then_some(previous),
            );
        }
        let rest = self.rest.get_or_insert_with(Default::default);
        let (key, previous) = match rest.keys.remove(key) {
            Some((k, e)) => (k, Some(e)),
            None => (new_key(key), None),
        };
        if let Some(prev) = &previous {
            rest.bytes -= entry_bytes(&key, &prev.value);
            rest.live_keys -= usize::from(prev.value.is_some());
            rest.tombstones -= usize::from(prev.value.is_none());
        }
        rest.bytes += entry_bytes(&key, &value);
        rest.live_keys += usize::from(value.is_some());
        rest.tombstones += usize::from(value.is_none());
        let deleted_at = if value.is_none() { now } else { 0 };
        let entry = Entry { value, version };
        rest.keys.insert(key.clone(), entry, deleted_at);
        (key, previous)
    }

    /// Entries with a version above `version`, in ascending version order.
    pub fn deltas_after(&self, version: u64) -> Deltas<'_> {
        let heartbeat = self
            .heartbeat_entry()
            .filter(|e| e.version > version)
            .map(|e| (heartbeat_key(), e));
        let rest = match &self.rest {
            Some(r) => r.keys.iter_after(version),
            None => RestIter::Empty,
        };
        Deltas {
            heartbeat,
            rest: rest.peekable(),
        }
    }

    pub fn count_after(&self, version: u64) -> usize {
        let heartbeat = usize::from(self.heartbeat.version > version);
        heartbeat
            + self
                .rest
                .as_ref()
                .map_or(0, |r| r.keys.count_after(version))
    }

    /// Drops every entry written before `version` (a newer incarnation began
    /// there) and returns the keys that were live, for `delete` events.
    pub fn drop_before(&mut self, version: u64) -> Vec<Arc<str>> {
        let mut dropped = Vec::new();
        let heartbeat_version = self.heartbeat.version;
        let mut heartbeat = false;
        if heartbeat_version != 0 && heartbeat_version < version {
            let old = std::mem::take(&mut self.heartbeat);
            if old.value.is_some() {
                dropped.push((old.version, heartbeat_key().clone()));
                heartbeat = true;
            }
        }
        if let Some(rest) = &mut self.rest {
            for (key, e) in rest.keys.remove_before(version) {
                rest.bytes -= entry_bytes(&key, &e.value);
                if e.value.is_some() {
                    rest.live_keys -= 1;
                    dropped.push((e.version, key));
                } else {
                    rest.tombstones -= 1;
                }
            }
            rest.keys.shrink();
        }
        self.free_rest_if_empty();
        if heartbeat && dropped.len() > 1 {
            // in version order, as the entries were written
            let at = dropped[1..].partition_point(|(v, _)| *v < heartbeat_version);
            if at > 0 {
                dropped[..=at].rotate_left(1);
            }
        }
        dropped.into_iter().map(|(_, k)| k).collect()
    }

    /// Forgets tombstones recorded before `cutoff`; returns how many.
    pub fn collect_tombstones(&mut self, cutoff: Millis) -> usize {
        let Some(rest) = &mut self.rest else {
            return 0;
        };
        let mut collected = 0;
        if self.heartbeat.version != 0
            && self.heartbeat.value.is_none()
            && rest.heartbeat_deleted_at < cutoff
        {
            self.heartbeat = Entry::default();
            collected += 1;
        }
        if rest.tombstones > 0 {
            let old = rest.keys.remove_tombstones(cutoff);
            for key in &old {
                rest.bytes -= key.len();
            }
            rest.tombstones -= old.len();
            collected += old.len();
            rest.keys.shrink();
        }
        self.free_rest_if_empty();
        collected
    }

    fn free_rest_if_empty(&mut self) {
        let heartbeat_deleted = self.heartbeat.version != 0 && self.heartbeat.value.is_none();
        if self
            .rest
            .as_ref()
            .is_some_and(|r| r.keys.len() == 0 && !heartbeat_deleted)
        {
            self.rest = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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

    /// Every view of a state agrees with a plain model of it.
    fn check(s: &PeerState, model: &BTreeMap<String, (Option<Vec<u8>>, u64)>) {
        let mut by_version: Vec<(u64, &str)> =
            model.iter().map(|(k, (_, v))| (*v, k.as_str())).collect();
        by_version.sort_unstable();
        for after in [0, 1, 5, 50, 100, 1000] {
            let got: Vec<(&str, u64)> = s
                .deltas_after(after)
                .map(|(k, e)| (k.as_ref(), e.version))
                .collect();
            let want: Vec<(&str, u64)> = by_version
                .iter()
                .filter(|(v, _)| *v > after)
                .map(|&(v, k)| (k, v))
                .collect();
            assert_eq!(got, want, "after {after}");
            assert_eq!(s.count_after(after), want.len());
            let (lo, hi) = s.deltas_after(after).size_hint();
            assert!(lo <= want.len() && hi.is_none_or(|h| h >= want.len()));
        }
        let live = model.values().filter(|(v, _)| v.is_some()).count();
        assert_eq!(s.live_keys(), live);
        assert_eq!(s.keys().count(), live);
        assert_eq!(s.tombstones(), model.len() - live);
        assert_eq!(s.len(), model.len());
        let bytes: usize = model
            .iter()
            .map(|(k, (v, _))| k.len() + v.as_ref().map_or(0, |v| v.len()))
            .sum();
        assert_eq!(s.bytes(), bytes);
        for (k, (v, version)) in model {
            let e = s.get(k).unwrap_or_else(|| panic!("{k} missing"));
            assert_eq!(e.version, *version);
            assert_eq!(e.value.as_deref(), v.as_deref());
            assert!(Arc::ptr_eq(&s.key_arc(k), &s.key_arc(k)));
        }
    }

    #[test]
    fn many_keys_and_the_heartbeat_stay_in_version_order() {
        let mut s = PeerState::new();
        let mut model = BTreeMap::new();
        let mut version = 0;
        let mut rng = fastrand::Rng::with_seed(7);
        for step in 0..400 {
            version += 1;
            // a heartbeat now and then, up to 40 other keys (past the list's
            // size, back under it when tombstones are collected or an
            // incarnation is dropped)
            let key = if step % 3 == 0 {
                HEARTBEAT_KEY.to_string()
            } else {
                format!("k{}", rng.usize(..if step < 200 { 40 } else { 6 }))
            };
            let value = (!rng.u8(..).is_multiple_of(5)).then(|| vec![0xa1, rng.u8(b'a'..=b'z')]);
            s.put(&key, value.clone().map(Arc::from), version, step);
            model.insert(key, (value, version));
            check(&s, &model);
            if step % 50 == 49 {
                let cutoff = step - 20;
                let collected = s.collect_tombstones(cutoff);
                // tombstones recorded at step < cutoff go (the model keeps the
                // step of each write as its version minus the number of steps before)
                let before = model.len();
                model.retain(|_, (v, ver)| v.is_some() || *ver > cutoff);
                assert_eq!(collected, before - model.len());
                check(&s, &model);
            }
            if step == 300 {
                let dropped = s.drop_before(version - 30);
                let mut want: Vec<(u64, String)> = model
                    .iter()
                    .filter(|(_, (v, ver))| v.is_some() && *ver < version - 30)
                    .map(|(k, (_, ver))| (*ver, k.clone()))
                    .collect();
                want.sort_unstable();
                assert_eq!(
                    dropped.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    want.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
                );
                model.retain(|_, (_, ver)| *ver >= version - 30);
                check(&s, &model);
            }
        }
    }

    #[test]
    fn the_heartbeat_key_is_shared_and_a_state_is_small() {
        let mut a = PeerState::new();
        let mut b = PeerState::new();
        a.put(HEARTBEAT_KEY, v(b"\x01"), 1, 0);
        b.put(HEARTBEAT_KEY, v(b"\x02"), 7, 0);
        let ka = a.deltas_after(0).next().unwrap().0.clone();
        let kb = b.key_arc(HEARTBEAT_KEY);
        assert!(Arc::ptr_eq(&ka, &kb));
        assert!(a.rest.is_none(), "a heartbeat alone needs no allocation");
        assert!(std::mem::size_of::<PeerState>() <= 48);
    }
}
