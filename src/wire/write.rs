//! msgpack writing for outgoing messages, and the exact encoded size of each
//! piece so the core can fill a message up to its byte budget.
//!
//! Strings of 32 to 255 bytes are written as str16 rather than str8: str8 is
//! not part of the older msgpack spec that node-gossip's decoders speak, and
//! str16 is read alike by old and new decoders at the cost of one byte.

use rmp::encode;

pub fn str_header_size(len: usize) -> usize {
    match len {
        0..=31 => 1,
        32..=0xffff => 3,
        _ => 5,
    }
}

pub fn str_size(s: &str) -> usize {
    str_header_size(s.len()) + s.len()
}

pub fn uint_size(v: u64) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

pub fn container_header_size(n: usize) -> usize {
    match n {
        0..=15 => 1,
        16..=0xffff => 3,
        _ => 5,
    }
}

pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s.as_bytes());
}

pub fn write_uint(out: &mut Vec<u8>, v: u64) {
    // Writing into a Vec cannot fail.
    let _ = encode::write_uint(out, v);
}

pub fn write_map_len(out: &mut Vec<u8>, n: usize) {
    let _ = encode::write_map_len(out, n as u32);
}

pub fn write_array_len(out: &mut Vec<u8>, n: usize) {
    let _ = encode::write_array_len(out, n as u32);
}

pub fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xc3 } else { 0xc2 });
}

pub fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_what_is_written() {
        for len in [0, 1, 31, 32, 255, 256, 65535, 65536] {
            let s = "x".repeat(len);
            let mut out = Vec::new();
            write_str(&mut out, &s);
            assert_eq!(out.len(), str_size(&s), "len {len}");
        }
        for v in [
            0,
            127,
            128,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            1 << 40,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_uint(&mut out, v);
            assert_eq!(out.len(), uint_size(v), "v {v}");
        }
        for n in [0, 15, 16, 65535, 65536] {
            let mut out = Vec::new();
            write_map_len(&mut out, n);
            assert_eq!(out.len(), container_header_size(n));
            let mut out = Vec::new();
            write_array_len(&mut out, n);
            assert_eq!(out.len(), container_header_size(n));
        }
    }

    #[test]
    fn mid_length_strings_use_str16_for_old_decoders() {
        let mut out = Vec::new();
        write_str(&mut out, &"y".repeat(40));
        assert_eq!(&out[..3], &[0xda, 0, 40]);
    }
}
