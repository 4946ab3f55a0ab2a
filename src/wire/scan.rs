//! Finds where one msgpack message ends in a growing byte stream, without
//! allocating and without trusting declared lengths.
//!
//! node-gossip writes msgpack maps back to back on a TCP stream with no length
//! prefix, so a reader must walk the structure to find message boundaries.
//! The walk is resumable (bytes are never scanned twice, so a peer trickling
//! one byte at a time costs linear work) and enforces the limits up front: a
//! declared length or item count that could not fit in `max_message_bytes` is
//! refused before anything waits for it.

use std::fmt;

use super::marker::{header, InvalidMarker};

/// Limits applied while scanning one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    pub max_message_bytes: usize,
    pub max_depth: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The message is, or declares itself, larger than `max_message_bytes`.
    TooLarge,
    /// Containers nest deeper than `max_depth`.
    TooDeep,
    /// A byte that is not a msgpack marker (0xc1).
    InvalidMarker(u8),
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::TooLarge => f.write_str("message exceeds the size limit"),
            ScanError::TooDeep => f.write_str("message nests deeper than the depth limit"),
            ScanError::InvalidMarker(b) => write!(f, "invalid msgpack marker 0x{b:02x}"),
        }
    }
}

/// Resumable boundary finder for one message at a time.
#[derive(Debug)]
pub struct Scanner {
    limits: ScanLimits,
    pos: usize,
    /// Items still expected in each open container, innermost last.
    open: Vec<u64>,
    started: bool,
}

impl Scanner {
    pub fn new(limits: ScanLimits) -> Self {
        Scanner {
            limits,
            pos: 0,
            open: Vec::new(),
            started: false,
        }
    }

    /// Continues scanning `buf`, which holds the current message from its
    /// first byte (and possibly more after it). Returns the message length
    /// once it is complete; the scanner is then ready for the next message,
    /// which the caller must present from its own first byte.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ScanError> {
        loop {
            if self.started && self.open.is_empty() {
                let len = self.pos;
                self.reset();
                return Ok(Some(len));
            }
            let Some(h) = header(&buf[self.pos.min(buf.len())..])
                .map_err(|InvalidMarker(b)| ScanError::InvalidMarker(b))?
            else {
                return self.incomplete(buf);
            };
            let end = (self.pos as u64)
                .saturating_add(h.head as u64)
                .saturating_add(h.payload);
            if end > self.limits.max_message_bytes as u64 {
                return Err(ScanError::TooLarge);
            }
            // every child takes at least one byte: refuse counts that cannot fit
            if end.saturating_add(h.children) > self.limits.max_message_bytes as u64 {
                return Err(ScanError::TooLarge);
            }
            if end > buf.len() as u64 {
                return self.incomplete(buf);
            }
            // checked before any state changes, so that an error leaves the
            // scanner as it was: called again, it fails again
            if h.children > 0 && self.open.len() >= self.limits.max_depth {
                return Err(ScanError::TooDeep);
            }
            self.pos = end as usize;
            self.started = true;
            if let Some(top) = self.open.last_mut() {
                *top -= 1;
            }
            if h.children > 0 {
                self.open.push(h.children);
            }
            while self.open.last() == Some(&0) {
                self.open.pop();
            }
        }
    }

    /// More bytes are needed; every end checked so far lies within the limit,
    /// so the caller never has to buffer more than `max_message_bytes`.
    fn incomplete(&self, _buf: &[u8]) -> Result<Option<usize>, ScanError> {
        if self.pos >= self.limits.max_message_bytes {
            return Err(ScanError::TooLarge);
        }
        Ok(None)
    }

    pub fn reset(&mut self) {
        self.pos = 0;
        self.open.clear();
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ScanLimits = ScanLimits {
        max_message_bytes: 1 << 16,
        max_depth: 8,
    };

    fn encode(v: &rmpv_lite::V) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv_lite::write(&mut out, v);
        out
    }

    /// A tiny independent value model for tests, encoded with rmp directly.
    mod rmpv_lite {
        pub enum V {
            Int(i64),
            Str(&'static str),
            Arr(Vec<V>),
            Map(Vec<(V, V)>),
            Bin(Vec<u8>),
        }
        pub fn write(out: &mut Vec<u8>, v: &V) {
            match v {
                V::Int(i) => {
                    rmp::encode::write_sint(out, *i).unwrap();
                }
                V::Str(s) => rmp::encode::write_str(out, s).unwrap(),
                V::Bin(b) => rmp::encode::write_bin(out, b).unwrap(),
                V::Arr(items) => {
                    rmp::encode::write_array_len(out, items.len() as u32).unwrap();
                    items.iter().for_each(|i| write(out, i));
                }
                V::Map(items) => {
                    rmp::encode::write_map_len(out, items.len() as u32).unwrap();
                    for (k, v) in items {
                        write(out, k);
                        write(out, v);
                    }
                }
            }
        }
    }
    use rmpv_lite::V;

    fn sample() -> Vec<u8> {
        encode(&V::Map(vec![
            (V::Str("type"), V::Int(1)),
            (
                V::Str("updates"),
                V::Arr(vec![V::Arr(vec![
                    V::Str("127.0.0.1:9000"),
                    V::Str("k"),
                    V::Bin(vec![1; 300]),
                    V::Int(1 << 40),
                ])]),
            ),
            (V::Str("neg"), V::Int(-70000)),
            (V::Str("empty"), V::Map(vec![])),
        ]))
    }

    #[test]
    fn finds_the_end_of_back_to_back_messages() {
        let one = sample();
        let mut stream = one.clone();
        stream.extend_from_slice(&one);
        let mut s = Scanner::new(LIMITS);
        assert_eq!(s.scan(&stream).unwrap(), Some(one.len()));
        assert_eq!(s.scan(&stream[one.len()..]).unwrap(), Some(one.len()));
    }

    #[test]
    fn resumes_across_every_split_point() {
        let msg = sample();
        for cut in 0..msg.len() {
            let mut s = Scanner::new(LIMITS);
            assert_eq!(s.scan(&msg[..cut]).unwrap(), None, "cut at {cut}");
            assert_eq!(s.scan(&msg).unwrap(), Some(msg.len()), "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte_feeding_completes() {
        let msg = sample();
        let mut s = Scanner::new(LIMITS);
        for end in 1..msg.len() {
            assert_eq!(s.scan(&msg[..end]).unwrap(), None);
        }
        assert_eq!(s.scan(&msg).unwrap(), Some(msg.len()));
    }

    #[test]
    fn refuses_declared_lengths_beyond_the_limit_at_once() {
        // str32 declaring 4 GiB with 3 bytes of data
        let msg = [0xdb, 0xff, 0xff, 0xff, 0xff, b'a', b'b', b'c'];
        assert_eq!(Scanner::new(LIMITS).scan(&msg), Err(ScanError::TooLarge));
        // array32 declaring 4 billion elements
        let msg = [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Scanner::new(LIMITS).scan(&msg), Err(ScanError::TooLarge));
        // map32 declaring 2^32-1 pairs
        let msg = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(Scanner::new(LIMITS).scan(&msg), Err(ScanError::TooLarge));
    }

    #[test]
    fn refuses_deep_nesting() {
        let msg = vec![0x91; 100];
        assert_eq!(Scanner::new(LIMITS).scan(&msg), Err(ScanError::TooDeep));
        let ok = [0x91, 0x91, 0x91, 0x01];
        assert_eq!(Scanner::new(LIMITS).scan(&ok), Ok(Some(4)));
    }

    #[test]
    fn refuses_the_never_used_marker() {
        assert_eq!(
            Scanner::new(LIMITS).scan(&[0x81, 0xc1]),
            Err(ScanError::InvalidMarker(0xc1))
        );
    }

    #[test]
    fn a_stream_of_small_items_cannot_exceed_the_limit() {
        let limits = ScanLimits {
            max_message_bytes: 64,
            max_depth: 4,
        };
        // array16 of 60 items, fed 100 bytes
        let mut msg = vec![0xdc, 0x00, 60];
        msg.extend(std::iter::repeat_n(0x01, 100));
        assert_eq!(Scanner::new(limits).scan(&msg), Ok(Some(63)));
        let mut big = vec![0xdc, 0x00, 200];
        big.extend(std::iter::repeat_n(0x01, 300));
        assert_eq!(Scanner::new(limits).scan(&big), Err(ScanError::TooLarge));
    }

    #[test]
    fn every_fixed_width_marker_is_sized() {
        let cases: &[(&[u8], usize)] = &[
            (&[0xc0], 1),
            (&[0xc3], 1),
            (&[0xcc, 1], 2),
            (&[0xcd, 0, 1], 3),
            (&[0xce, 0, 0, 0, 1], 5),
            (&[0xcf, 0, 0, 0, 0, 0, 0, 0, 1], 9),
            (&[0xd3, 0, 0, 0, 0, 0, 0, 0, 1], 9),
            (&[0xca, 0, 0, 0, 0], 5),
            (&[0xcb, 0, 0, 0, 0, 0, 0, 0, 0], 9),
            (&[0xd4, 1, 2], 3),
            (
                &[0xd8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                18,
            ),
            (&[0xc7, 2, 5, 0, 0], 5),
            (&[0xc4, 2, 0, 0], 4),
            (&[0xd9, 1, b'x'], 3),
            (&[0xe0], 1),
        ];
        for (bytes, len) in cases {
            assert_eq!(
                Scanner::new(LIMITS).scan(bytes),
                Ok(Some(*len)),
                "{bytes:x?}"
            );
        }
    }
}
