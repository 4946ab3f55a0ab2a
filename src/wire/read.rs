//! A cursor over one complete msgpack message (already bounded by the
//! scanner), reading typed fields and borrowing strings and raw values from
//! the buffer so nothing is copied until the core decides to keep it.

use super::marker::{self, be_at, header, Kind};
use super::DecodeError;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A msgpack number, as wide as its encoding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// A positive fixint or uint 8 to 64.
    Uint(u64),
    /// A negative fixint or int 8 to 64 (of any sign).
    Int(i64),
    /// float 32 or 64.
    Float(f64),
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
        be_at(self.buf, at, n).ok_or(DecodeError::Truncated)
    }

    pub fn peek_kind(&self) -> Result<Kind, DecodeError> {
        let b = self.byte(self.pos)?;
        marker::marker(b).kind().ok_or(DecodeError::Type(b))
    }

    /// The item at the cursor, which must be a `want`: the size of its head
    /// and its length (or count).
    #[inline]
    fn sized(&self, want: Kind) -> Result<(usize, u64), DecodeError> {
        let b = self.byte(self.pos)?;
        let m = marker::marker(b);
        if !m.is(want) {
            return Err(DecodeError::Type(b));
        }
        let n = m
            .length(&self.buf[self.pos..])
            .ok_or(DecodeError::Truncated)?;
        Ok((m.head(), n))
    }

    /// The payload of the string or binary at the cursor, and where the
    /// item ends; the cursor stays.
    #[inline]
    fn payload(&self, want: Kind) -> Result<(&'a [u8], usize), DecodeError> {
        let (head, len) = self.sized(want)?;
        let start = self.pos + head;
        let end = start + len as usize;
        let bytes = self.buf.get(start..end).ok_or(DecodeError::Truncated)?;
        Ok((bytes, end))
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
        let (head, n) = self.sized(Kind::Map)?;
        self.pos += head;
        Ok(n as usize)
    }

    pub fn array_len(&mut self) -> Result<usize, DecodeError> {
        let (head, n) = self.sized(Kind::Array)?;
        self.pos += head;
        Ok(n as usize)
    }

    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let (bytes, end) = self.payload(Kind::Str)?;
        // names and keys are nearly always ASCII: checked a word at a time,
        // without the general validator's set-up for a few bytes
        let s = if bytes.is_ascii() {
            // SAFETY: ASCII is valid UTF-8
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8)?
        };
        self.pos = end;
        Ok(s)
    }

    /// A string's bytes, not checked for UTF-8 (for a decoder that replaces
    /// what is not UTF-8 rather than refusing it).
    pub fn str_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let (bytes, end) = self.payload(Kind::Str)?;
        self.pos = end;
        Ok(bytes)
    }

    pub fn bin(&mut self) -> Result<&'a [u8], DecodeError> {
        let (bytes, end) = self.payload(Kind::Bin)?;
        self.pos = end;
        Ok(bytes)
    }

    /// An ext's type and data.
    pub fn ext(&mut self) -> Result<(i8, &'a [u8]), DecodeError> {
        let (head, len) = self.sized(Kind::Ext)?;
        // the type byte sits between the head and the data
        let at = self.pos + head;
        let kind = self.byte(at)? as i8;
        let end = at + 1 + len as usize;
        let data = self.buf.get(at + 1..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok((kind, data))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let b = self.byte(self.pos)?;
        if !marker::marker(b).is(Kind::Bool) {
            return Err(DecodeError::Type(b));
        }
        self.pos += 1;
        Ok(b == marker::TRUE)
    }

    /// The number at the cursor and where it ends; the cursor stays.
    #[inline]
    fn number_at(&self) -> Result<(Number, usize), DecodeError> {
        let p = self.pos;
        let b = self.byte(p)?;
        let m = marker::marker(b);
        let width = usize::from(m.fixed_len);
        let n = match m.kind() {
            Some(Kind::Int) => {
                let bits = if width == 0 {
                    // a fixint is its own marker
                    u64::from(b)
                } else {
                    self.be(p + 1, width)?
                };
                if m.signed {
                    // sign-extended from its width (a fixint's is one byte)
                    let shift = 64 - 8 * width.max(1) as u32;
                    Number::Int(((bits << shift) as i64) >> shift)
                } else {
                    Number::Uint(bits)
                }
            }
            Some(Kind::Float) if width == 4 => {
                Number::Float(f64::from(f32::from_bits(self.be(p + 1, 4)? as u32)))
            }
            Some(Kind::Float) => Number::Float(f64::from_bits(self.be(p + 1, 8)?)),
            _ => return Err(DecodeError::Type(b)),
        };
        Ok((n, p + 1 + width))
    }

    /// Any msgpack int or float.
    pub fn number(&mut self) -> Result<Number, DecodeError> {
        let (n, end) = self.number_at()?;
        self.pos = end;
        Ok(n)
    }

    /// A non-negative integer that fits in 53 bits. Integral floats are
    /// accepted too: old JavaScript encoders may send numbers as doubles.
    #[inline]
    pub fn version(&mut self) -> Result<u64, DecodeError> {
        let p = self.pos;
        let b = self.byte(p)?;
        let m = marker::marker(b);
        // what our encoders write, on every digest entry and update
        if m.is(Kind::Int) && !m.signed {
            let width = usize::from(m.fixed_len);
            let v = if width == 0 {
                u64::from(b)
            } else {
                self.be(p + 1, width)?
            };
            if v > super::MAX_VERSION {
                return Err(DecodeError::Range);
            }
            self.pos = p + 1 + width;
            return Ok(v);
        }
        self.other_version()
    }

    /// A version in any other encoding: a signed integer or a float. Out of
    /// line, so that the common case stays small where it is inlined.
    #[inline(never)]
    fn other_version(&mut self) -> Result<u64, DecodeError> {
        let (n, end) = self.number_at()?;
        let v = match n {
            Number::Uint(v) if v <= super::MAX_VERSION => v,
            Number::Int(v) if (0..=super::MAX_VERSION as i64).contains(&v) => v as u64,
            Number::Float(v)
                if v.is_finite()
                    && v >= 0.0
                    && v.fract() == 0.0
                    && v <= super::MAX_VERSION as f64 =>
            {
                v as u64
            }
            _ => return Err(DecodeError::Range),
        };
        self.pos = end;
        Ok(v)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
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
    fn numbers_keep_their_sign_and_width() {
        use rmp::encode::*;
        let mut buf = Vec::new();
        write_sint(&mut buf, -32).unwrap(); // negative fixint
        write_i8(&mut buf, -100).unwrap();
        write_i16(&mut buf, -30_000).unwrap();
        write_i32(&mut buf, -2_000_000_000).unwrap();
        write_i64(&mut buf, i64::MIN).unwrap();
        write_i8(&mut buf, 100).unwrap();
        write_uint(&mut buf, 127).unwrap(); // positive fixint
        write_u64(&mut buf, u64::MAX).unwrap();
        write_f32(&mut buf, -0.5).unwrap();
        write_f64(&mut buf, 1e300).unwrap();
        let mut r = Reader::new(&buf);
        let got: Vec<Number> = (0..10).map(|_| r.number().unwrap()).collect();
        use Number::*;
        let want = [
            Int(-32),
            Int(-100),
            Int(-30_000),
            Int(-2_000_000_000),
            Int(i64::MIN),
            Int(100),
            Uint(127),
            Uint(u64::MAX),
            Float(-0.5),
            Float(1e300),
        ];
        assert_eq!(got, want);
        assert!(r.at_end());
        assert_eq!(
            Reader::new(&[0xa1, b'1']).number(),
            Err(DecodeError::Type(0xa1))
        );
    }

    #[test]
    fn bin_ext_and_unchecked_strings_borrow_their_payload() {
        use rmp::encode::*;
        let mut buf = Vec::new();
        write_bin(&mut buf, &[7; 300]).unwrap();
        for len in [1u32, 2, 4, 8, 16, 3, 300, 70_000] {
            write_ext_meta(&mut buf, len, 42).unwrap();
            buf.extend((0..len).map(|i| i as u8));
        }
        buf.extend([0xa2, 0xff, 0xfe]); // not UTF-8
        let mut r = Reader::new(&buf);
        assert_eq!(r.bin().unwrap(), &[7; 300]);
        for len in [1usize, 2, 4, 8, 16, 3, 300, 70_000] {
            let (kind, data) = r.ext().unwrap();
            assert_eq!(kind, 42);
            assert_eq!(data.len(), len);
            assert!(data.iter().enumerate().all(|(i, &b)| b == i as u8));
        }
        assert_eq!(r.str_bytes().unwrap(), &[0xff, 0xfe]);
        assert!(r.at_end());
        // an ext cut inside its data, and one cut before its type byte
        assert_eq!(
            Reader::new(&[0xd5, 1, 0]).ext(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[0xc7, 0]).ext(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[0xc4, 0]).ext(), Err(DecodeError::Type(0xc4)));
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
