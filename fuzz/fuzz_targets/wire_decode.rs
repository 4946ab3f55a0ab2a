//! Arbitrary bytes through the wire layer, the way the transport sees them:
//! a `Scanner` with small limits over an arbitrarily chunked stream, `decode`
//! of every complete message, and the `Reader` on raw slices.
//!
//! Invariants:
//! - nothing panics (overflow checks are on: cargo-fuzz builds with
//!   debug assertions);
//! - the scanner never reports a message longer than `max_message_bytes`,
//!   nor longer than what it was given, and the transport's buffer never
//!   grows past the limit by more than one item header;
//! - nothing allocates beyond the limits: the scanner at most its stack of
//!   open containers (bounded by `max_depth`), `decode` of a framed message
//!   in proportion to the message's length, whatever lengths it declares
//!   (counted by a global allocator);
//! - where messages end, and which error stops a stream, does not depend on
//!   how the stream was cut into reads;
//! - the scanner and the reader agree on where an item ends;
//! - a scanner that reported an error never panics when it is called
//!   again, with or without a reset;
//! - whatever `decode` accepts, the crate's own encoders write back so that
//!   it decodes to the same message (up to what the encoders normalise);
//! - the reader's cursor stays inside its buffer, and `peek_kind` agrees
//!   with the typed readers (`str_bytes` also with `str`).
#![no_main]

use gossiper::wire::marker::Kind;
use gossiper::wire::message::{encode_request_with, encode_response_with};
use gossiper::wire::read::Reader;
use gossiper::wire::{decode, DecodeError, Incoming, ScanError, ScanLimits, Scanner};
use libfuzzer_sys::fuzz_target;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts the bytes every allocation asks for (growth included).
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()), Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated while running `f`.
fn allocated<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATED.load(Relaxed);
    let r = f();
    (r, ALLOCATED.load(Relaxed) - before)
}

/// The longest msgpack item header (marker + 8 bytes): how far the
/// transport's buffer may run past the limit before the scanner can tell.
const MAX_HEAD: usize = 9;
/// The transport's largest single read.
const MAX_READ: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Message(usize),
    Error(ScanError),
    /// The stream ended inside a message.
    Pending(usize),
}

/// Feeds `stream` to a scanner as the transport does: reads of at most the
/// room left under the limit (and at least one byte), cut by `chunk`.
fn run_stream(limits: ScanLimits, stream: &[u8], mut chunk: impl FnMut() -> usize) -> Vec<Outcome> {
    let mut scanner = Scanner::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut out = Vec::new();
    loop {
        if !buf.is_empty() {
            let (scanned, bytes) = allocated(|| scanner.scan(&buf));
            // its stack of open containers, grown by doubling
            assert!(
                bytes <= 16 * limits.max_depth.max(4),
                "the scanner allocated {bytes} bytes under a depth limit of {}",
                limits.max_depth
            );
            match scanned {
                Ok(Some(len)) => {
                    assert!(len > 0, "an empty message");
                    assert!(
                        len <= buf.len(),
                        "message of {len} bytes out of {}",
                        buf.len()
                    );
                    assert!(
                        len <= limits.max_message_bytes,
                        "message of {len} bytes over the limit {}",
                        limits.max_message_bytes
                    );
                    let rest = buf.split_off(len);
                    let msg = std::mem::replace(&mut buf, rest);
                    check_message(&msg, limits);
                    out.push(Outcome::Message(len));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    // Calling again after an error, with or without a reset,
                    // must not panic.
                    let _ = scanner.scan(&buf);
                    scanner.reset();
                    let _ = scanner.scan(&buf);
                    out.push(Outcome::Error(e));
                    return out;
                }
            }
        }
        if fed == stream.len() {
            if !buf.is_empty() {
                out.push(Outcome::Pending(buf.len()));
            }
            return out;
        }
        let room = limits
            .max_message_bytes
            .saturating_sub(buf.len())
            .clamp(1, MAX_READ);
        let n = chunk().clamp(1, room).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        assert!(
            buf.len() <= limits.max_message_bytes + MAX_HEAD,
            "buffered {} bytes under a limit of {}",
            buf.len(),
            limits.max_message_bytes
        );
    }
}

/// A message the scanner delimited.
fn check_message(msg: &[u8], limits: ScanLimits) {
    // The reader skips exactly the item the scanner found.
    let mut r = Reader::new(msg);
    assert_eq!(
        r.raw().ok(),
        Some(msg),
        "reader and scanner disagree on {msg:x?}"
    );
    assert!(r.at_end());
    let (decoded, bytes) = allocated(|| decode(msg));
    // about 30 bytes of views per 2 bytes of the smallest digest entry
    assert!(
        bytes <= 32 * msg.len() + 1024,
        "decode allocated {bytes} bytes for a message of {}",
        msg.len()
    );
    if let Ok(m) = decoded {
        round_trip(&m, Some(limits));
    }
}

/// Re-encodes a decoded message with the crate's encoders and decodes it
/// again; the result must be the same message, normalised.
fn round_trip(m: &Incoming, limits: Option<ScanLimits>) {
    let mut out = Vec::new();
    let expected = match m {
        Incoming::Request(r) => {
            encode_request_with(&mut out, &r.digest, &r.flags, &r.ext);
            let mut digest = r.digest.clone();
            let mut ext = r.ext;
            if !ext.is_v1() {
                // only v1 requests carry generations and `complete`
                digest.iter_mut().for_each(|d| d.generation = 0);
                ext.complete = false;
            }
            // protocol 2's flags are written for protocol 2 only
            let flags = if r.ext.probes() { r.flags.clone() } else { Vec::new() };
            Incoming::Request(gossiper::wire::Request { digest, ext, flags })
        }
        Incoming::FirstResponse(r) | Incoming::SecondResponse(r) => {
            let first = matches!(m, Incoming::FirstResponse(_));
            encode_response_with(
                &mut out,
                first.then_some(&r.requests[..]),
                &r.updates,
                &r.generations,
                &r.flags,
                &r.down,
                &r.ext,
            );
            let resp = gossiper::wire::Response {
                requests: r.requests.clone(),
                updates: r.updates.clone(),
                generations: if r.ext.is_v1() {
                    r.generations.clone()
                } else {
                    Vec::new()
                },
                // protocol 2's fields are written for protocol 2 only
                flags: if r.ext.probes() { r.flags.clone() } else { Vec::new() },
                down: if r.ext.probes() { r.down.clone() } else { Vec::new() },
                ext: gossiper::wire::Ext {
                    complete: false,
                    // written only by (and for) v1 senders
                    more: r.ext.more && r.ext.is_v1(),
                    ..r.ext
                },
            };
            if first {
                Incoming::FirstResponse(resp)
            } else {
                Incoming::SecondResponse(resp)
            }
        }
    };
    let back = decode(&out).unwrap_or_else(|e| panic!("our own encoding does not decode: {e}"));
    assert_eq!(back, expected, "round trip changed the message");
    if let Some(limits) = limits {
        // our encoding nests exactly as deep as what was decoded
        let mut s = Scanner::new(ScanLimits {
            max_message_bytes: usize::MAX,
            max_depth: limits.max_depth,
        });
        assert_eq!(s.scan(&out), Ok(Some(out.len())));
    }
}

/// A typed reader's result against what `peek_kind` said before it: an
/// item of the kinds `want` reads (or is cut short), any other is refused
/// for its type, and where there is no item the reader says why alike.
fn agrees<T: std::fmt::Debug>(
    res: &Result<T, DecodeError>,
    kind: Result<Kind, DecodeError>,
    want: &[Kind],
) {
    match kind {
        Ok(k) if want.contains(&k) => assert!(
            matches!(res, Ok(_) | Err(DecodeError::Truncated)),
            "{res:?} for {k:?}"
        ),
        Ok(k) => assert!(
            matches!(res, Err(DecodeError::Type(_))),
            "{res:?} for {k:?}"
        ),
        Err(e) => assert!(matches!(res, Err(x) if *x == e), "{res:?} after {e:?}"),
    }
}

/// The reader on a raw slice, driven by `ops`.
fn reader_ops(buf: &[u8], ops: &[u8]) {
    let mut r = Reader::new(buf);
    for &op in ops.iter().take(64) {
        let before = r.position();
        let kind = r.peek_kind();
        match op % 13 {
            0 => {
                if let Ok(raw) = r.raw() {
                    assert!(!raw.is_empty());
                    assert_eq!(raw.len(), r.position() - before);
                    assert_eq!(raw, &buf[before..r.position()]);
                }
            }
            1 => {
                let res = r.map_len();
                if kind == Ok(Kind::Map) {
                    assert!(!matches!(res, Err(DecodeError::Type(_))), "{res:?}");
                }
            }
            2 => {
                let res = r.array_len();
                if kind == Ok(Kind::Array) {
                    assert!(!matches!(res, Err(DecodeError::Type(_))), "{res:?}");
                }
            }
            3 => {
                let res = r.str();
                if kind == Ok(Kind::Str) {
                    assert!(
                        matches!(res, Ok(_) | Err(DecodeError::Truncated | DecodeError::Utf8)),
                        "{res:?}"
                    );
                }
                if let Ok(s) = res {
                    assert!(s.len() < r.position() - before + 1);
                }
            }
            4 => {
                let res = r.bool();
                assert_eq!(res.is_ok(), kind == Ok(Kind::Bool), "{res:?} {kind:?}");
            }
            5 => {
                let res = r.version();
                if matches!(kind, Ok(Kind::Int | Kind::Float)) {
                    assert!(!matches!(res, Err(DecodeError::Type(_))), "{res:?}");
                }
                if let Ok(v) = res {
                    assert!(v <= gossiper::wire::MAX_VERSION);
                }
            }
            6 => {
                let _ = r.skip();
            }
            7 => {
                let _ = r.at_end();
            }
            9 => agrees(&r.number(), kind, &[Kind::Int, Kind::Float]),
            10 => {
                let res = r.bin();
                agrees(&res, kind, &[Kind::Bin]);
                if let Ok(b) = res {
                    assert!(b.len() < r.position() - before);
                }
            }
            11 => {
                let res = r.ext();
                agrees(&res, kind, &[Kind::Ext]);
                if let Ok((_, data)) = res {
                    assert!(data.len() + 2 <= r.position() - before);
                }
            }
            12 => {
                let checked = Reader::new(&buf[before..]).str();
                let res = r.str_bytes();
                agrees(&res, kind, &[Kind::Str]);
                // the unchecked bytes are what `str` returns, when UTF-8
                match (res, checked) {
                    (Ok(b), Ok(s)) => assert_eq!(b, s.as_bytes()),
                    (Ok(_), Err(e)) => assert_eq!(e, DecodeError::Utf8),
                    (Err(e), Ok(_)) => panic!("str accepts what str_bytes refuses: {e:?}"),
                    (Err(_), Err(_)) => {}
                }
            }
            _ => {
                // a reader positioned past a prefix of the buffer
                let at = before.min(buf.len());
                let _ = decode(&buf[at..]);
            }
        }
        assert!(
            r.position() <= buf.len(),
            "cursor {} past the end {}",
            r.position(),
            buf.len()
        );
        if r.at_end() {
            assert!(r.peek_kind().is_err());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, stream) = data.split_at(4);
    let limits = ScanLimits {
        max_message_bytes: 1 + usize::from(u16::from_le_bytes([head[0], head[1]])) % 2048,
        max_depth: usize::from(head[2] % 12),
    };

    // The same stream cut two ways must be framed the same way.
    let whole = run_stream(limits, stream, || usize::MAX);
    let mut state = u32::from(head[3]) | 0x100;
    let chunked = run_stream(limits, stream, || {
        // xorshift: reads of 1 to 16 bytes, now and then a large one
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        if state % 8 == 0 {
            (state as usize >> 3) % 4096
        } else {
            1 + (state as usize >> 3) % 16
        }
    });
    assert_eq!(whole, chunked, "framing depends on how the stream is cut");
    let bytewise = run_stream(limits, stream, || 1);
    assert_eq!(whole, bytewise, "framing depends on how the stream is cut");

    // decode on any slice, not only scanner-framed ones
    if let Ok(m) = decode(stream) {
        round_trip(&m, None);
    }
    reader_ops(stream, data);
});
