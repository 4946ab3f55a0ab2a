//! The sealed transport (`wire::seal`): arbitrary frames never open without
//! the key and never panic; what is sealed opens only with a ring holding
//! the sealing key and the same associated data, and any change to the frame
//! makes it fail.
#![no_main]

use arbitrary::Arbitrary;
use gossiper::wire::seal::{
    body_len, Keyring, KEY_BYTES, LENGTH_BYTES, NONCE_BYTES, OVERHEAD, TAG_BYTES,
};
use gossiper::wire::{ScanLimits, Scanner};
use libfuzzer_sys::fuzz_target;

/// Four fixed keys; a ring is a subset of them, in any order.
const KEYS: [[u8; KEY_BYTES]; 4] = [
    [0x11; KEY_BYTES],
    [0x22; KEY_BYTES],
    [0x33; KEY_BYTES],
    [0x44; KEY_BYTES],
];

/// The transport's limit on a sealed body's plaintext.
const MAX_MESSAGE_BYTES: usize = 4096;

#[derive(Arbitrary, Debug)]
enum Tamper {
    Flip { at: u16, mask: u8 },
    Truncate { to: u16 },
    Extend { bytes: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Indices into `KEYS` (mod 4) of the ring that seals; the first seals.
    sealer: Vec<u8>,
    /// Indices of another ring that tries to open.
    opener: Vec<u8>,
    associated: Vec<u8>,
    other_associated: Vec<u8>,
    plain: Vec<u8>,
    tampers: Vec<Tamper>,
    /// Raw bytes as they would arrive on a sealed connection.
    stream: Vec<u8>,
}

fn ring(indices: &[u8]) -> (Keyring, Vec<usize>) {
    let mut ids: Vec<usize> = Vec::new();
    for &i in indices.iter().take(4) {
        let i = usize::from(i % 4);
        if !ids.contains(&i) {
            ids.push(i);
        }
    }
    let keys: Vec<[u8; KEY_BYTES]> = ids.iter().map(|&i| KEYS[i]).collect();
    (Keyring::new(&keys), ids)
}

/// `read_sealed` of the transport, without the socket: length, bound,
/// body, open, exactly one message in the plaintext.
/// The first `may_open` frames are genuine; no other frame may open.
fn read_frames(stream: &[u8], ring: &Keyring, associated: &[u8], mut may_open: usize) {
    let limits = ScanLimits {
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_depth: 8,
    };
    let mut rest = stream;
    while rest.len() >= LENGTH_BYTES {
        let len = body_len(rest[..LENGTH_BYTES].try_into().unwrap());
        if len > MAX_MESSAGE_BYTES + NONCE_BYTES + TAG_BYTES {
            return; // refused before reading the body
        }
        let Some(body) = rest.get(LENGTH_BYTES..LENGTH_BYTES + len) else {
            return; // the connection would time out
        };
        rest = &rest[LENGTH_BYTES + len..];
        let opened = ring.open(body, associated);
        if may_open == 0 {
            assert!(
                opened.is_none(),
                "a frame made without the key opened: {body:x?}"
            );
        }
        may_open = may_open.saturating_sub(1);
        let Some(plain) = opened else { return };
        assert!(plain.len() + NONCE_BYTES + TAG_BYTES == body.len());
        let _ = Scanner::new(limits).scan(&plain);
    }
}

fuzz_target!(|input: Input| {
    let (sealer, sealer_ids) = ring(&input.sealer);
    let (opener, opener_ids) = ring(&input.opener);

    // Arbitrary bytes: never open (the fuzzer holds no key), never panic.
    read_frames(&input.stream, &sealer, &input.associated, 0);
    read_frames(&input.stream, &opener, &input.associated, 0);
    read_frames(&input.stream, &Keyring::new(&[]), &input.associated, 0);
    assert!(Keyring::new(&[])
        .open(&input.plain, &input.associated)
        .is_none());
    if input.stream.len() >= LENGTH_BYTES {
        let _ = sealer.open(&input.stream[LENGTH_BYTES..], &input.associated);
    }

    if sealer.is_empty() {
        return; // the runtime never seals with an empty ring
    }
    let frame = sealer.seal(&input.plain, &input.associated);
    assert_eq!(frame.len(), input.plain.len() + OVERHEAD);
    let len = body_len(frame[..LENGTH_BYTES].try_into().unwrap());
    assert_eq!(len, frame.len() - LENGTH_BYTES);
    let body = &frame[LENGTH_BYTES..];

    // Opens with every ring that holds the sealing key, in any position.
    assert_eq!(
        sealer.open(body, &input.associated).as_deref(),
        Some(&input.plain[..])
    );
    let holds_key = opener_ids.contains(&sealer_ids[0]);
    let opened = opener.open(body, &input.associated);
    if holds_key {
        assert_eq!(opened.as_deref(), Some(&input.plain[..]));
    } else {
        assert!(opened.is_none(), "opened without the sealing key");
    }
    // Bound to the associated data.
    if input.other_associated != input.associated {
        assert!(sealer.open(body, &input.other_associated).is_none());
    }
    // Nonces are fresh: sealing again gives another frame.
    assert_ne!(sealer.seal(&input.plain, &input.associated), frame);

    // Any change to the body fails.
    for t in input.tampers.iter().take(8) {
        let mut changed = body.to_vec();
        match t {
            Tamper::Flip { at, mask } => {
                let at = usize::from(*at) % changed.len();
                changed[at] ^= (*mask).max(1);
            }
            Tamper::Truncate { to } => {
                changed.truncate(usize::from(*to) % changed.len());
            }
            Tamper::Extend { bytes } => {
                if bytes.is_empty() {
                    continue;
                }
                changed.extend_from_slice(bytes);
            }
        }
        assert!(
            sealer.open(&changed, &input.associated).is_none(),
            "a tampered frame opened ({t:?})"
        );
    }

    // The frame on a stream, followed by arbitrary bytes.
    let mut stream = frame.clone();
    stream.extend_from_slice(&input.stream);
    read_frames(&stream, &sealer, &input.associated, 1);
});
