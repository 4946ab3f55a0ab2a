//! A cursor over one complete msgpack message (already bounded by the
//! scanner), reading typed fields and borrowing strings and raw values from
//! the buffer so nothing is copied until the core decides to keep it.

use super::scan::header;
use super::DecodeError;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// What a msgpack item is, for the fields whose type varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    Str,
    Bin,
    Array,
    Map,
    Ext,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn byte(&self, at: usize) -> Result<u8, DecodeError> {
        self.buf.get(at).copied().ok_or(DecodeError::Truncated)
    }

    fn be(&self, at: usize, n: usize) -> Result<u64, DecodeError> {
        let bytes = self.buf.get(at..at + n).ok_or(DecodeError::Truncated)?;
        Ok(be_uint(bytes))
    }

    pub fn peek_kind(&self) -> Result<Kind, DecodeError> {
        Ok(match self.byte(self.pos)? {
            0xc0 => Kind::Nil,
            0xc2 | 0xc3 => Kind::Bool,
            0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => Kind::Int,
            0xca | 0xcb => Kind::Float,
            0xa0..=0xbf | 0xd9..=0xdb => Kind::Str,
            0xc4..=0xc6 => Kind::Bin,
            0x90..=0x9f | 0xdc | 0xdd => Kind::Array,
            0x80..=0x8f | 0xde | 0xdf => Kind::Map,
            0xc7..=0xc9 | 0xd4..=0xd8 => Kind::Ext,
            b => return Err(DecodeError::Type(b)),
        })
    }

    /// Skips one item of any type and returns its raw bytes.
    pub fn raw(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut pending: u64 = 1;
        while pending > 0 {
            let h = header(&self.buf[self.pos.min(self.buf.len())..])
                .map_err(|_| DecodeError::Malformed)?
                .ok_or(DecodeError::Truncated)?;
            let end = (self.pos as u64) + h.head as u64 + h.payload;
            if end > self.buf.len() as u64 {
                return Err(DecodeError::Truncated);
            }
            self.pos = end as usize;
            pending = pending - 1 + h.children;
        }
        Ok(&self.buf[start..self.pos])
    }

    pub fn skip(&mut self) -> Result<(), DecodeError> {
        self.raw().map(|_| ())
    }

    pub fn map_len(&mut self) -> Result<usize, DecodeError> {
        let m = self.byte(self.pos)?;
        let (head, n) = match m {
            0x80..=0x8f => (1, u64::from(m & 0x0f)),
            0xde => (3, self.be(self.pos + 1, 2)?),
            0xdf => (5, self.be(self.pos + 1, 4)?),
            _ => return Err(DecodeError::Type(m)),
        };
        self.pos += head;
        Ok(n as usize)
    }

    pub fn array_len(&mut self) -> Result<usize, DecodeError> {
        let m = self.byte(self.pos)?;
        let (head, n) = match m {
            0x90..=0x9f => (1, u64::from(m & 0x0f)),
            0xdc => (3, self.be(self.pos + 1, 2)?),
            0xdd => (5, self.be(self.pos + 1, 4)?),
            _ => return Err(DecodeError::Type(m)),
        };
        self.pos += head;
        Ok(n as usize)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let m = self.byte(self.pos)?;
        let (head, len) = match m {
            0xa0..=0xbf => (1, u64::from(m & 0x1f)),
            0xd9 => (2, self.be(self.pos + 1, 1)?),
            0xda => (3, self.be(self.pos + 1, 2)?),
            0xdb => (5, self.be(self.pos + 1, 4)?),
            _ => return Err(DecodeError::Type(m)),
        };
        let start = self.pos + head;
        let bytes = self
            .buf
            .get(start..start + len as usize)
            .ok_or(DecodeError::Truncated)?;
        // names and keys are nearly always ASCII: checked a word at a time,
        // without the general validator's set-up for a few bytes
        let s = if bytes.is_ascii() {
            // SAFETY: ASCII is valid UTF-8
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8)?
        };
        self.pos = start + len as usize;
        Ok(s)
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.byte(self.pos)? {
            0xc2 => {
                self.pos += 1;
                Ok(false)
            }
            0xc3 => {
                self.pos += 1;
                Ok(true)
            }
            m => Err(DecodeError::Type(m)),
        }
    }

    /// A non-negative integer that fits in 53 bits. Integral floats are
    /// accepted too: old JavaScript encoders may send numbers as doubles.
    pub fn version(&mut self) -> Result<u64, DecodeError> {
        let m = self.byte(self.pos)?;
        let p = self.pos;
        let (head, v): (usize, f64) = match m {
            0x00..=0x7f => (1, f64::from(m)),
            0xcc => (2, self.be(p + 1, 1)? as f64),
            0xcd => (3, self.be(p + 1, 2)? as f64),
            0xce => (5, self.be(p + 1, 4)? as f64),
            0xcf => {
                let v = self.be(p + 1, 8)?;
                if v > super::MAX_VERSION {
                    return Err(DecodeError::Range);
                }
                self.pos += 9;
                return Ok(v);
            }
            0xd0 => (2, self.be(p + 1, 1)? as u8 as i8 as f64),
            0xd1 => (3, self.be(p + 1, 2)? as u16 as i16 as f64),
            0xd2 => (5, self.be(p + 1, 4)? as u32 as i32 as f64),
            0xd3 => {
                let v = self.be(p + 1, 8)? as i64;
                if v < 0 || v as u64 > super::MAX_VERSION {
                    return Err(DecodeError::Range);
                }
                self.pos += 9;
                return Ok(v as u64);
            }
            0xe0..=0xff => return Err(DecodeError::Range),
            0xca => (5, f64::from(f32::from_bits(self.be(p + 1, 4)? as u32))),
            0xcb => (9, f64::from_bits(self.be(p + 1, 8)?)),
            _ => return Err(DecodeError::Type(m)),
        };
        if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= super::MAX_VERSION as f64) {
            return Err(DecodeError::Range);
        }
        self.pos += head;
        Ok(v as u64)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// A big-endian unsigned integer of up to 8 bytes (msgpack's lengths,
/// integers and float bits), read with one load for msgpack's widths.
pub fn be_uint(bytes: &[u8]) -> u64 {
    match *bytes {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_accept_every_integer_width_and_integral_floats() {
        let mut buf = Vec::new();
        for v in [0u64, 127, 200, 60_000, 4_000_000_000, 1_790_000_000_000_000] {
            rmp::encode::write_uint(&mut buf, v).unwrap();
        }
        rmp::encode::write_sint(&mut buf, 5).unwrap();
        rmp::encode::write_i64(&mut buf, 1 << 40).unwrap();
        rmp::encode::write_f64(&mut buf, 1234.0).unwrap();
        rmp::encode::write_f32(&mut buf, 8.0).unwrap();
        let mut r = Reader::new(&buf);
        let got: Vec<u64> = (0..10).map(|_| r.version().unwrap()).collect();
        assert_eq!(
            got,
            [
                0,
                127,
                200,
                60_000,
                4_000_000_000,
                1_790_000_000_000_000,
                5,
                1 << 40,
                1234,
                8
            ]
        );
        assert!(r.at_end());
    }

    #[test]
    fn versions_refuse_negative_fractional_huge_and_non_numbers() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let mut b = Vec::new();
        rmp::encode::write_sint(&mut b, -1).unwrap();
        cases.push(b);
        let mut b = Vec::new();
        rmp::encode::write_i64(&mut b, -5_000_000_000).unwrap();
        cases.push(b);
        let mut b = Vec::new();
        rmp::encode::write_f64(&mut b, 1.5).unwrap();
        cases.push(b);
        let mut b = Vec::new();
        rmp::encode::write_f64(&mut b, f64::NAN).unwrap();
        cases.push(b);
        let mut b = Vec::new();
        rmp::encode::write_u64(&mut b, u64::MAX).unwrap();
        cases.push(b);
        let mut b = Vec::new();
        rmp::encode::write_f64(&mut b, 1e300).unwrap();
        cases.push(b);
        let mut b = Vec::new();
        rmp::encode::write_str(&mut b, "1").unwrap();
        cases.push(b);
        for c in cases {
            assert!(Reader::new(&c).version().is_err(), "{c:x?}");
        }
    }

    #[test]
    fn raw_returns_the_exact_bytes_of_nested_items() {
        let mut buf = Vec::new();
        rmp::encode::write_array_len(&mut buf, 2).unwrap();
        rmp::encode::write_map_len(&mut buf, 1).unwrap();
        rmp::encode::write_str(&mut buf, "a").unwrap();
        rmp::encode::write_bin(&mut buf, &[9; 40]).unwrap();
        rmp::encode::write_nil(&mut buf).unwrap();
        let first_len = buf.len();
        rmp::encode::write_uint(&mut buf, 7).unwrap();
        let mut r = Reader::new(&buf);
        assert_eq!(r.raw().unwrap(), &buf[..first_len]);
        assert_eq!(r.version().unwrap(), 7);
    }

    #[test]
    fn strings_must_be_utf8() {
        let buf = [0xa2, 0xff, 0xfe];
        assert_eq!(Reader::new(&buf).str(), Err(DecodeError::Utf8));
        // past the ASCII fast path: a valid multibyte name, then a broken one
        let mut buf = Vec::new();
        rmp::encode::write_str(&mut buf, "hôte-ß:7000").unwrap();
        rmp::encode::write_str(&mut buf, "ascii:1").unwrap();
        let mut r = Reader::new(&buf);
        assert_eq!(r.str(), Ok("hôte-ß:7000"));
        assert_eq!(r.str(), Ok("ascii:1"));
        let cut = [0xa3, b'a', 0xc3, b'b']; // a lead byte without its continuation
        assert_eq!(Reader::new(&cut).str(), Err(DecodeError::Utf8));
    }

    #[test]
    fn versions_in_every_fixed_width_marker() {
        use rmp::encode::{write_i16, write_i32, write_i64, write_i8};
        use rmp::encode::{write_u16, write_u32, write_u64, write_u8};
        let mut buf = Vec::new();
        write_u8(&mut buf, 200).unwrap();
        write_u16(&mut buf, 0xbeef).unwrap();
        write_u32(&mut buf, 0xdead_beef).unwrap();
        write_u64(&mut buf, 1_600_000_000_000_123).unwrap();
        write_i8(&mut buf, 100).unwrap();
        write_i16(&mut buf, 30_000).unwrap();
        write_i32(&mut buf, 2_000_000_000).unwrap();
        write_i64(&mut buf, 7).unwrap();
        let mut r = Reader::new(&buf);
        let got: Vec<u64> = (0..8).map(|_| r.version().unwrap()).collect();
        let want = [200, 0xbeef, 0xdead_beef, 1_600_000_000_000_123];
        assert_eq!(got, [&want[..], &[100, 30_000, 2_000_000_000, 7]].concat());
        assert!(r.at_end());
        for negative in [
            |b: &mut Vec<u8>| write_i8(b, -1).map(|_| ()),
            |b: &mut Vec<u8>| write_i16(b, -300).map(|_| ()),
            |b: &mut Vec<u8>| write_i32(b, -70_000).map(|_| ()),
        ] {
            let mut b = Vec::new();
            negative(&mut b).unwrap();
            assert_eq!(Reader::new(&b).version(), Err(DecodeError::Range), "{b:x?}");
        }
    }

    #[test]
    fn truncated_input_is_reported_not_panicked() {
        for buf in [
            &[0xdb, 0, 0, 0, 9, b'a'][..],
            &[0xcf, 0, 0],
            &[0xde, 0],
            &[0x92, 0x01],
        ] {
            let mut r = Reader::new(buf);
            let _ = r.str();
            let mut r = Reader::new(buf);
            let _ = r.version();
            let mut r = Reader::new(buf);
            let _ = r.map_len();
            let mut r = Reader::new(buf);
            assert!(r.raw().is_err() || r.at_end());
        }
    }
}
