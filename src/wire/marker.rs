//! The msgpack marker table: for each first byte of an item, what the item
//! is and where its length, count or value lives.
//!
//! The format's rules about markers are written down here once: the bounded
//! scanner (`scan`) and the reader (`read`) both take them from this table,
//! and the binding's value decoder reads through the reader.

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

/// One marker byte, decoded. Four bytes, so that an entry is one load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4))]
pub struct Marker {
    /// The `Kind` as a byte, so that one comparison tests it; `NEVER_USED`
    /// for 0xc1.
    tag: u8,
    /// Bytes of the big-endian length (or count) after the marker: 1, 2 or
    /// 4; 0 when the marker alone tells the item's size.
    pub len_bytes: u8,
    /// With `len_bytes` 0, the length the marker stands for: the bytes of a
    /// fixstr, the elements of a fixarray, the pairs of a fixmap, the payload
    /// of a number (0 for a fixint: the marker is its value) or the data of a
    /// fixext. (An ext's type byte comes on top of its length.)
    pub fixed_len: u8,
    /// An integer in two's complement (int 8 to 64, negative fixint).
    pub signed: bool,
}

/// The marker of `true`; `false` is 0xc2.
pub const TRUE: u8 = 0xc3;

const NEVER_USED: u8 = 0xff;

/// `Kind`s by tag, in their declaration order.
const KINDS: [Kind; 9] = {
    use Kind::*;
    [Nil, Bool, Int, Float, Str, Bin, Array, Map, Ext]
};

const fn m(kind: Kind, len_bytes: u8, fixed_len: u8, signed: bool) -> Marker {
    Marker {
        tag: kind as u8,
        len_bytes,
        fixed_len,
        signed,
    }
}

/// The msgpack specification's marker table, by byte.
const fn classify(b: u8) -> Marker {
    use Kind::*;
    match b {
        0x00..=0x7f => m(Int, 0, 0, false),
        0x80..=0x8f => m(Map, 0, b & 0x0f, false),
        0x90..=0x9f => m(Array, 0, b & 0x0f, false),
        0xa0..=0xbf => m(Str, 0, b & 0x1f, false),
        0xc0 => m(Nil, 0, 0, false),
        0xc1 => Marker {
            tag: NEVER_USED,
            len_bytes: 0,
            fixed_len: 0,
            signed: false,
        },
        0xc2 | 0xc3 => m(Bool, 0, 0, false),
        0xc4 => m(Bin, 1, 0, false),
        0xc5 => m(Bin, 2, 0, false),
        0xc6 => m(Bin, 4, 0, false),
        // ext 8/16/32: length, then a type byte, then the data
        0xc7 => m(Ext, 1, 0, false),
        0xc8 => m(Ext, 2, 0, false),
        0xc9 => m(Ext, 4, 0, false),
        0xca => m(Float, 0, 4, false),
        0xcb => m(Float, 0, 8, false),
        0xcc => m(Int, 0, 1, false),
        0xcd => m(Int, 0, 2, false),
        0xce => m(Int, 0, 4, false),
        0xcf => m(Int, 0, 8, false),
        0xd0 => m(Int, 0, 1, true),
        0xd1 => m(Int, 0, 2, true),
        0xd2 => m(Int, 0, 4, true),
        0xd3 => m(Int, 0, 8, true),
        // fixext 1/2/4/8/16: a type byte, then the data
        0xd4 => m(Ext, 0, 1, false),
        0xd5 => m(Ext, 0, 2, false),
        0xd6 => m(Ext, 0, 4, false),
        0xd7 => m(Ext, 0, 8, false),
        0xd8 => m(Ext, 0, 16, false),
        0xd9 => m(Str, 1, 0, false),
        0xda => m(Str, 2, 0, false),
        0xdb => m(Str, 4, 0, false),
        0xdc => m(Array, 2, 0, false),
        0xdd => m(Array, 4, 0, false),
        0xde => m(Map, 2, 0, false),
        0xdf => m(Map, 4, 0, false),
        0xe0..=0xff => m(Int, 0, 0, true),
    }
}

/// Looked up rather than matched: one load on the hot paths, where a
/// `match` on the byte became a chain of range tests or a jump.
static MARKERS: [Marker; 256] = {
    let mut table = [classify(0); 256];
    let mut b = 0;
    while b < 256 {
        table[b] = classify(b as u8);
        b += 1;
    }
    table
};

#[inline]
pub fn marker(b: u8) -> Marker {
    MARKERS[b as usize]
}

impl Marker {
    /// `None` for 0xc1.
    #[inline]
    pub fn kind(self) -> Option<Kind> {
        KINDS.get(usize::from(self.tag)).copied()
    }

    #[inline]
    pub fn is(self, kind: Kind) -> bool {
        self.tag == kind as u8
    }

    /// Bytes of marker and length field.
    #[inline]
    pub fn head(self) -> usize {
        1 + self.len_bytes as usize
    }

    /// The item's length or count, from `item` (which starts at the
    /// marker); `None` when `item` ends inside the length field.
    #[inline]
    pub fn length(self, item: &[u8]) -> Option<u64> {
        if self.len_bytes == 0 {
            return Some(u64::from(self.fixed_len));
        }
        be_at(item, 1, self.len_bytes as usize)
    }
}

/// The big-endian unsigned integer of `width` bytes (1, 2, 4 or 8: msgpack's
/// widths) at `bytes[at..]`; `None` past the end.
#[inline]
pub fn be_at(bytes: &[u8], at: usize, width: usize) -> Option<u64> {
    debug_assert!(matches!(width, 1 | 2 | 4 | 8), "width {width}");
    let rest = bytes.get(at..)?;
    // one load and a shift, without a branch on the width, unless the
    // item is among the last 7 bytes
    if let Some(word) = rest.first_chunk::<8>() {
        return Some(u64::from_be_bytes(*word) >> (64 - 8 * width as u32));
    }
    Some(match width {
        1 => u64::from(*rest.first()?),
        2 => u64::from(u16::from_be_bytes(*rest.first_chunk()?)),
        4 => u64::from(u32::from_be_bytes(*rest.first_chunk()?)),
        _ => return None,
    })
}

/// The shape of one msgpack item as told by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Bytes of marker and length fields.
    pub head: usize,
    /// Bytes of payload after the head (string, binary and ext data, numbers).
    pub payload: u64,
    /// Items contained (array elements; map keys plus values).
    pub children: u64,
}

/// The byte that is not a msgpack marker (0xc1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidMarker(pub u8);

/// Reads the header of the item starting at `buf[0]`; `Ok(None)` when more
/// bytes are needed to know it.
#[inline]
pub fn header(buf: &[u8]) -> Result<Option<Header>, InvalidMarker> {
    let Some(&b) = buf.first() else {
        return Ok(None);
    };
    let mk = marker(b);
    let Some(n) = mk.length(buf) else {
        return Ok(None);
    };
    let head = mk.head();
    Ok(Some(match mk.kind() {
        Some(Kind::Array) => Header {
            head,
            payload: 0,
            children: n,
        },
        Some(Kind::Map) => Header {
            head,
            payload: 0,
            children: 2 * n,
        },
        // the type byte, then the data
        Some(Kind::Ext) => Header {
            head,
            payload: 1 + n,
            children: 0,
        },
        Some(_) => Header {
            head,
            payload: n,
            children: 0,
        },
        None => return Err(InvalidMarker(b)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table against rmp's own marker decoding, byte by byte: the kind,
    /// and the whole item's size for an item that rmp encodes with it.
    #[test]
    fn every_marker_agrees_with_rmp() {
        use rmp::Marker as R;
        for b in 0..=255u8 {
            let want = match R::from_u8(b) {
                R::Null => Some(Kind::Nil),
                R::True | R::False => Some(Kind::Bool),
                R::FixPos(_) | R::FixNeg(_) => Some(Kind::Int),
                R::U8 | R::U16 | R::U32 | R::U64 => Some(Kind::Int),
                R::I8 | R::I16 | R::I32 | R::I64 => Some(Kind::Int),
                R::F32 | R::F64 => Some(Kind::Float),
                R::FixStr(_) | R::Str8 | R::Str16 | R::Str32 => Some(Kind::Str),
                R::Bin8 | R::Bin16 | R::Bin32 => Some(Kind::Bin),
                R::FixArray(_) | R::Array16 | R::Array32 => Some(Kind::Array),
                R::FixMap(_) | R::Map16 | R::Map32 => Some(Kind::Map),
                R::FixExt1 | R::FixExt2 | R::FixExt4 | R::FixExt8 | R::FixExt16 => Some(Kind::Ext),
                R::Ext8 | R::Ext16 | R::Ext32 => Some(Kind::Ext),
                R::Reserved => None,
            };
            assert_eq!(marker(b).kind(), want, "0x{b:02x}");
            let signed = matches!(
                R::from_u8(b),
                R::FixNeg(_) | R::I8 | R::I16 | R::I32 | R::I64
            );
            assert_eq!(marker(b).signed, signed, "0x{b:02x}");
        }
    }

    /// Items written by rmp, each followed by a byte that must not be
    /// counted: the header tells the whole item's size.
    #[test]
    fn headers_size_items_as_rmp_writes_them() {
        use rmp::encode::*;
        type Write = fn(&mut Vec<u8>);
        let items: &[(&str, Write, u64)] = &[
            ("fixstr", |o| write_str(o, "abc").unwrap(), 0),
            (
                "str8",
                |o| o.extend([0xd9, 40].iter().chain(&[b'x'; 40])),
                0,
            ),
            ("str16", |o| write_str(o, &"y".repeat(300)).unwrap(), 0),
            ("str32", |o| write_str(o, &"z".repeat(70_000)).unwrap(), 0),
            ("bin8", |o| write_bin(o, &[1; 10]).unwrap(), 0),
            ("bin16", |o| write_bin(o, &[1; 300]).unwrap(), 0),
            ("bin32", |o| write_bin(o, &[1; 70_000]).unwrap(), 0),
            (
                "fixext1",
                |o| write_ext_meta(o, 1, 5).map(|_| o.push(0)).unwrap(),
                0,
            ),
            (
                "fixext16",
                |o| write_ext_meta(o, 16, 5).map(|_| o.extend([0; 16])).unwrap(),
                0,
            ),
            (
                "ext8",
                |o| write_ext_meta(o, 3, 5).map(|_| o.extend([0; 3])).unwrap(),
                0,
            ),
            (
                "ext16",
                |o| {
                    write_ext_meta(o, 300, 5)
                        .map(|_| o.extend([0; 300]))
                        .unwrap()
                },
                0,
            ),
            (
                "ext32",
                |o| {
                    write_ext_meta(o, 70_000, 5)
                        .map(|_| o.extend([0; 70_000]))
                        .unwrap()
                },
                0,
            ),
            ("f32", |o| write_f32(o, 1.5).unwrap(), 0),
            ("f64", |o| write_f64(o, 1.5).unwrap(), 0),
            ("u64", |o| write_u64(o, 1).unwrap(), 0),
            ("i16", |o| write_i16(o, -1).unwrap(), 0),
            (
                "negative fixint",
                |o| write_sint(o, -3).map(|_| ()).unwrap(),
                0,
            ),
            ("nil", |o| write_nil(o).unwrap(), 0),
            (
                "fixarray",
                |o| write_array_len(o, 3).map(|_| ()).unwrap(),
                3,
            ),
            (
                "array16",
                |o| write_array_len(o, 300).map(|_| ()).unwrap(),
                300,
            ),
            (
                "array32",
                |o| write_array_len(o, 70_000).map(|_| ()).unwrap(),
                70_000,
            ),
            ("fixmap", |o| write_map_len(o, 3).map(|_| ()).unwrap(), 6),
            ("map16", |o| write_map_len(o, 300).map(|_| ()).unwrap(), 600),
            (
                "map32",
                |o| write_map_len(o, 70_000).map(|_| ()).unwrap(),
                140_000,
            ),
        ];
        for (name, write, children) in items {
            let mut buf = Vec::new();
            write(&mut buf);
            let len = buf.len();
            buf.push(0xc1);
            let h = header(&buf).unwrap().unwrap();
            assert_eq!(h.children, *children, "{name}");
            if h.children == 0 {
                assert_eq!(h.head as u64 + h.payload, len as u64, "{name}");
            } else {
                assert_eq!(h.head, len, "{name}");
                assert_eq!(h.payload, 0, "{name}");
            }
            // every prefix shorter than the head asks for more bytes
            for cut in 0..h.head {
                assert_eq!(header(&buf[..cut]), Ok(None), "{name} cut at {cut}");
            }
        }
        assert_eq!(header(&[0xc1]), Err(InvalidMarker(0xc1)));
    }
}
