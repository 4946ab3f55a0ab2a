//! Peer names: their fixed hash, and the index from name to peer slot.
//!
//! A node looks a name up for every line of every digest and every peer in
//! a response, so in a large cluster look-ups are a large part of its work.
//! Done naively each costs two cache misses, the peer's slot and then its
//! name's bytes, so an index entry keeps an IPv4 `ip:port` name packed in
//! itself and compares it without touching the peer.

use hashbrown::HashTable;

use super::event::PeerId;

/// The hash of a peer name: the key of the node's index, and, by its low
/// bits, the digest partition the name falls in (see `Node::request`). Other
/// nodes compute it to tell which partition a digest covers, so it is fixed
/// here (a word-at-a-time multiply-rotate, finished with MurmurHash3's
/// 64-bit mixer), never a library's or a process's hasher.
pub fn name_hash(name: &str) -> u64 {
    bytes_hash(name.as_bytes())
}

fn bytes_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x243f_6a88_85a3_08d3 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `a == b` for names, which are short: compared eight bytes at a time in
/// place, where `==` would call `memcmp` for every look-up.
#[inline]
pub fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let n = a.len();
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        // the last (overlapping) word covers the rest
        word(a, n - 8) == word(b, n - 8)
    } else {
        a == b
    }
}

/// A name as an index entry holds it: an IPv4 `ip:port` in its canonical
/// form (what every peer of a usual cluster is called), packed in 49 bits,
/// compared without touching the peer; 0 for any other name, compared
/// against the slot's name.
///
/// A node holds an entry per peer it knows and the simulator N² of them,
/// so an entry is 16 bytes: the name's 14 to 21 characters are not kept.
fn pack(name: &str) -> u64 {
    let b = name.as_bytes();
    let mut i = 0;
    let mut ip: u32 = 0;
    for octet in 0..4 {
        let Some(v) = number(b, &mut i, 3, 255) else {
            return 0;
        };
        ip = ip << 8 | v;
        let sep = if octet < 3 { b'.' } else { b':' };
        if b.get(i) != Some(&sep) {
            return 0;
        }
        i += 1;
    }
    let Some(port) = number(b, &mut i, 5, 65_535) else {
        return 0;
    };
    if i != b.len() {
        return 0;
    }
    1 << 48 | u64::from(ip) << 16 | u64::from(port)
}

/// The decimal number at `b[*i..]` (moving `i` past it): up to `max`
/// digits, no leading zero, at most `limit`.
fn number(b: &[u8], i: &mut usize, max: usize, limit: u32) -> Option<u32> {
    let start = *i;
    let mut v: u32 = 0;
    while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
        v = v * 10 + u32::from(b[*i] - b'0');
        *i += 1;
    }
    let len = *i - start;
    (len > 0 && !(len > 1 && b[start] == b'0') && v <= limit).then_some(v)
}

#[derive(Clone, Copy)]
struct Entry {
    id: PeerId,
    /// `pack` of the name.
    name: u64,
}

/// Peer slots by name. Names that do not pack are compared against the
/// slot's name, which the caller looks up with `name_of` (every indexed slot
/// has one).
#[derive(Default)]
pub struct NameIndex {
    table: HashTable<Entry>,
}

impl NameIndex {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The slot of `name`, whose `name_hash` is `hash`.
    pub fn get<'p>(
        &self,
        name: &str,
        hash: u64,
        name_of: impl Fn(PeerId) -> &'p str,
    ) -> Option<PeerId> {
        let key = pack(name);
        self.table
            .find(hash, |e| matches(e, key, name, &name_of))
            .map(|e| e.id)
    }

    /// Indexes slot `id` under `name` (not indexed yet).
    pub fn insert<'p>(&mut self, id: PeerId, name: &str, name_of: impl Fn(PeerId) -> &'p str) {
        let entry = Entry {
            id,
            name: pack(name),
        };
        self.table
            .insert_unique(name_hash(name), entry, |e| name_hash(name_of(e.id)));
    }

    /// Unindexes `name`; returns its slot.
    pub fn remove<'p>(
        &mut self,
        name: &str,
        name_of: impl Fn(PeerId) -> &'p str,
    ) -> Option<PeerId> {
        let key = pack(name);
        let found = self
            .table
            .find_entry(name_hash(name), |e| matches(e, key, name, &name_of));
        found.ok().map(|e| e.remove().0.id)
    }

    /// Makes room for `more` names without growing again.
    pub fn reserve<'p>(&mut self, more: usize, name_of: impl Fn(PeerId) -> &'p str) {
        self.table.reserve(more, |e| name_hash(name_of(e.id)));
    }
}

fn matches<'p>(e: &Entry, key: u64, name: &str, name_of: &impl Fn(PeerId) -> &'p str) -> bool {
    if key == 0 {
        e.name == 0 && same_name(name_of(e.id), name)
    } else {
        e.name == key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_a_quarter_of_a_cache_line() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    #[test]
    fn only_canonical_ipv4_names_pack_and_they_pack_apart() {
        assert_ne!(pack("10.0.0.1:9000"), 0);
        assert_ne!(pack("255.255.255.255:65535"), 0);
        assert_ne!(pack("0.0.0.0:0"), 0);
        assert_ne!(pack("10.0.0.1:9000"), pack("10.0.0.1:9001"));
        assert_ne!(pack("10.0.0.1:9000"), pack("10.0.1.0:9000"));
        for other in [
            "010.0.0.1:9000",
            "10.0.0.1:09000",
            "10.0.0.256:9000",
            "10.0.0.1:65536",
            "10.0.0:9000",
            "10.0.0.1.2:9000",
            "10.0.0.1:",
            "10.0.0.1",
            "10.0.0.1:9000x",
            "1000.0.0.1:9000",
            "host:9000",
            "[::1]:9000",
            "",
        ] {
            assert_eq!(pack(other), 0, "{other}");
        }
    }

    #[test]
    fn short_and_long_names_are_found_and_removed_and_never_mixed_up() {
        let long_a = format!("[fd00::{}]:9000", "a:".repeat(12));
        let long_b = format!("[fd00::{}]:9000", "b:".repeat(12));
        let names = [
            "127.0.0.1:9000".to_string(),
            "127.0.0.1:90001".to_string(),
            "10.0.0.1:9000".to_string(),
            "010.0.0.1:9000".to_string(),
            long_a.clone(),
            long_b,
            String::new(),
        ];
        let name_of = |id: PeerId| names[id as usize].as_str();
        let mut index = NameIndex::default();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.get(n, name_hash(n), name_of), None);
            index.insert(i as PeerId, n, name_of);
        }
        // grow the table: every entry is rehashed, long ones through name_of
        index.reserve(1000, name_of);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(
                index.get(n, name_hash(n), name_of),
                Some(i as PeerId),
                "{n}"
            );
        }
        assert_eq!(
            index.get("127.0.0.1:900", name_hash("127.0.0.1:900"), name_of),
            None
        );
        let long_c = format!("[fd00::{}]:9000", "c:".repeat(12));
        assert_eq!(index.get(&long_c, name_hash(&long_c), name_of), None);
        assert_eq!(index.remove(&long_a, name_of), Some(4));
        assert_eq!(index.remove(&long_a, name_of), None);
        assert_eq!(index.remove("10.0.0.1:9000", name_of), Some(2));
        assert_eq!(index.len(), names.len() - 2);
        assert_eq!(index.get(&names[3], name_hash(&names[3]), name_of), Some(3));
    }
}
