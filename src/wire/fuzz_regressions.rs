//! Inputs found by the fuzz targets (`fuzz/`, cargo-fuzz), kept as unit tests
//! so they run with `cargo test`. The raw inputs are under
//! `fuzz/regressions/<target>/` and replay with `cargo fuzz run <target> FILE`.

use super::scan::{ScanError, ScanLimits, Scanner};

/// fuzz/regressions/wire_decode/scanner-called-after-too-deep
///
/// `scan` counted the container against its parent before checking the
/// depth, so after `TooDeep` the parent's count could sit at 0 without being
/// closed; scanning again subtracted from that 0 (an overflow panic in debug
/// builds, a scanner waiting for 2^64 items in release ones). The depth is
/// now checked before any state changes: an error leaves the scanner as it
/// was, and scanning again fails again.
#[test]
fn scanning_again_after_too_deep_fails_again() {
    // the fuzzer's input: limits from its first bytes, then five nested
    // arrays under a depth limit of three
    let limits = ScanLimits {
        max_message_bytes: 948,
        max_depth: 3,
    };
    let stream = [0x91, 0x91, 0x91, 0x91, 0x91, 0x23, 0xcd];
    let mut s = Scanner::new(limits);
    assert_eq!(s.scan(&stream), Err(ScanError::TooDeep));
    assert_eq!(s.scan(&stream), Err(ScanError::TooDeep));
    s.reset();
    assert_eq!(s.scan(&stream), Err(ScanError::TooDeep));

    // the smallest case: the parent's last child is the container too deep
    let limits = ScanLimits {
        max_message_bytes: 64,
        max_depth: 1,
    };
    let mut s = Scanner::new(limits);
    for _ in 0..3 {
        assert_eq!(s.scan(&[0x91, 0x91, 0x01]), Err(ScanError::TooDeep));
    }
    // and the scanner is still good for a valid message after a reset
    s.reset();
    assert_eq!(s.scan(&[0x91, 0x01]), Ok(Some(2)));
}

/// Every other error also leaves the scanner unchanged (sticky errors).
#[test]
fn every_scan_error_is_sticky() {
    let limits = ScanLimits {
        max_message_bytes: 16,
        max_depth: 2,
    };
    let cases: &[(&[u8], ScanError)] = &[
        (&[0x92, 0xc1], ScanError::InvalidMarker(0xc1)),
        (&[0x92, 0xdb, 0, 0, 1, 0], ScanError::TooLarge),
        (&[0xdc, 0, 100], ScanError::TooLarge),
        (&[0x92, 0x91, 0x91, 0x01], ScanError::TooDeep),
    ];
    for (bytes, err) in cases {
        let mut s = Scanner::new(limits);
        for _ in 0..3 {
            assert_eq!(s.scan(bytes), Err(*err), "{bytes:x?}");
        }
    }
}
