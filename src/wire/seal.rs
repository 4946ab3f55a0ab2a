//! Authenticated encryption of whole messages with a keyring
//! (XChaCha20-Poly1305: ChaCha20-Poly1305 with 192-bit nonces, so nonces can
//! be drawn at random for every message without a realistic risk of reuse).
//!
//! A sealed message on the stream is `length (u32, big endian) ‖ nonce (24)
//! ‖ ciphertext ‖ tag (16)`, the length covering nonce, ciphertext and tag.
//! The cluster name is the associated data, so a message sealed for one
//! cluster does not open in another even under the same key. The first key
//! of the ring seals; every key is tried to open, which is what lets a
//! cluster rotate keys without downtime.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub const KEY_BYTES: usize = 32;
pub const NONCE_BYTES: usize = 24;
pub const TAG_BYTES: usize = 16;
pub const LENGTH_BYTES: usize = 4;
/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = LENGTH_BYTES + NONCE_BYTES + TAG_BYTES;

pub struct Keyring {
    ciphers: Vec<XChaCha20Poly1305>,
}

impl Keyring {
    /// A ring of 32-byte keys; the first one seals.
    pub fn new(keys: &[[u8; KEY_BYTES]]) -> Self {
        Keyring {
            ciphers: keys
                .iter()
                .map(|k| XChaCha20Poly1305::new(k.into()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ciphers.is_empty()
    }

    /// The framed, sealed form of `plain`.
    pub fn seal(&self, plain: &[u8], associated: &[u8]) -> Vec<u8> {
        let cipher = &self.ciphers[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: associated,
                },
            )
            .expect("sealing into memory cannot fail");
        let body = NONCE_BYTES + sealed.len();
        let mut out = Vec::with_capacity(LENGTH_BYTES + body);
        out.extend_from_slice(&(body as u32).to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a frame body (nonce ‖ ciphertext ‖ tag) with any key of the ring.
    pub fn open(&self, body: &[u8], associated: &[u8]) -> Option<Vec<u8>> {
        if body.len() < NONCE_BYTES + TAG_BYTES {
            return None;
        }
        let (nonce, sealed) = body.split_at(NONCE_BYTES);
        let nonce = XNonce::from_slice(nonce);
        self.ciphers.iter().find_map(|c| {
            c.decrypt(
                nonce,
                Payload {
                    msg: sealed,
                    aad: associated,
                },
            )
            .ok()
        })
    }
}

/// The body length a frame header announces.
pub fn body_len(header: [u8; LENGTH_BYTES]) -> usize {
    u32::from_be_bytes(header) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    fn body(frame: &[u8]) -> &[u8] {
        let len = body_len(frame[..4].try_into().unwrap());
        assert_eq!(len, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn seals_and_opens_with_the_cluster_name_bound() {
        let ring = Keyring::new(&[A]);
        let frame = ring.seal(b"\x81\xa4type\x00", b"prod");
        assert_eq!(frame.len(), 7 + OVERHEAD);
        assert!(
            !frame.windows(4).any(|w| w == b"type"),
            "no plaintext on the wire"
        );
        assert_eq!(
            ring.open(body(&frame), b"prod").unwrap(),
            b"\x81\xa4type\x00"
        );
        assert!(
            ring.open(body(&frame), b"test").is_none(),
            "another cluster's name"
        );
    }

    #[test]
    fn nonces_differ_every_time() {
        let ring = Keyring::new(&[A]);
        assert_ne!(ring.seal(b"x", b""), ring.seal(b"x", b""));
    }

    #[test]
    fn rotation_opens_with_any_key_and_seals_with_the_first() {
        let old = Keyring::new(&[A]);
        let both_old_first = Keyring::new(&[A, B]);
        let both_new_first = Keyring::new(&[B, A]);
        let new = Keyring::new(&[B]);
        let from_old = old.seal(b"m", b"");
        assert!(both_new_first.open(body(&from_old), b"").is_some());
        let from_rotated = both_new_first.seal(b"m", b"");
        assert!(new.open(body(&from_rotated), b"").is_some());
        assert!(
            old.open(body(&from_rotated), b"").is_none(),
            "the old-only ring cannot read the new key"
        );
        assert!(both_old_first.open(body(&from_rotated), b"").is_some());
    }

    #[test]
    fn tampering_and_short_frames_fail() {
        let ring = Keyring::new(&[A]);
        let mut frame = ring.seal(b"hello", b"");
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert!(ring.open(body(&frame), b"").is_none());
        assert!(ring.open(&[0; 10], b"").is_none());
        assert!(Keyring::new(&[B])
            .open(body(&ring.seal(b"x", b"")), b"")
            .is_none());
    }
}
