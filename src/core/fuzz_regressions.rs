//! Inputs found by the fuzz targets (`fuzz/`, cargo-fuzz), kept as unit tests
//! so they run with `cargo test`. The raw inputs are under
//! `fuzz/regressions/<target>/` and replay with `cargo fuzz run <target> FILE`.

use super::node::{HEARTBEAT_KEY, LEFT_KEY};
use super::{Config, Node};
use crate::wire::{decode, Incoming};

const A: &str = "127.0.0.1:9001";
const B: &str = "127.0.0.1:9002";
const C: &str = "127.0.0.1:9003";

fn node(config: &Config, name: &str, seeds: &[&str], generation: u64) -> Node {
    let mut n = Node::new(config.clone(), generation, generation);
    let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    n.start(name, &seeds, 0);
    n
}

/// One whole exchange initiated by `a`, through the real encoder and decoder.
fn exchange(a: &mut Node, b: &mut Node, now: u64) {
    let req = a.request();
    let Ok(Incoming::Request(r)) = decode(&req) else {
        panic!("not a request")
    };
    let first = b.handle_request(&r, now).unwrap();
    let Ok(Incoming::FirstResponse(r)) = decode(&first) else {
        panic!("not a first response")
    };
    let second = a.handle_first_response(&r, now).unwrap().message;
    let Ok(Incoming::SecondResponse(r)) = decode(&second) else {
        panic!("not a second response")
    };
    b.handle_second_response(&r, now).unwrap();
}

/// fuzz/regressions/state_merge/heartbeat-longer-than-max-key-bytes
///
/// `maxKeyBytes` may be set as low as 1, but `apply_delta` held the
/// protocol's own keys to it too: with `max_key_bytes` under 13, every
/// `__heartbeat__` update from a peer was refused (and skipped for good), so
/// no node ever held another's heartbeat, and under 8 a peer's `__left__`
/// was refused, so a peer that left was not seen to leave. The reserved keys
/// are now exempt from the key length limit.
#[test]
fn reserved_keys_pass_a_max_key_bytes_shorter_than_they_are() {
    let config = Config {
        max_key_bytes: 4,
        ..Config {
            probes: false,
            ..Config::default()
        }
    };
    config.validate().unwrap();
    let mut a = node(&config, A, &[B, C], 1_000);
    let mut b = node(&config, B, &[A, C], 2_000);
    a.tick(1_000);
    exchange(&mut a, &mut b, 1_000);
    let id = b.lookup(A).unwrap();
    let view = &b.peer(id).unwrap().state;
    assert_eq!(view.max_version, a.local_state().max_version);
    assert_eq!(
        view.value(HEARTBEAT_KEY),
        a.local_state().value(HEARTBEAT_KEY),
        "the heartbeat was refused"
    );
    // a's view of b too (the second response)
    let id_b = a.lookup(B).unwrap();
    assert_eq!(
        a.peer(id_b).unwrap().state.value(HEARTBEAT_KEY),
        b.local_state().value(HEARTBEAT_KEY)
    );

    // a leave is seen
    let _ = a.leave(0);
    exchange(&mut a, &mut b, 2_000);
    let p = b.peer(id).unwrap();
    assert!(p.state.value(LEFT_KEY).is_some());
    assert!(p.left, "the leave was refused");

    // user keys are still held to the limit
    let mut c = node(&config, C, &[A, B], 3_000);
    assert!(c
        .set_local("long-key", std::sync::Arc::from(&[1u8][..]), 0)
        .is_err());
    c.set_local("k", std::sync::Arc::from(&[1u8][..]), 0)
        .unwrap();
    exchange(&mut c, &mut b, 3_000);
    let id_c = b.lookup(C).unwrap();
    assert_eq!(
        b.peer(id_c).unwrap().state.value("k").map(|v| &v[..]),
        Some(&[1u8][..])
    );
}

/// fuzz/regressions/state_merge/generation-floor-after-clock-back-restart
///
/// A peer can hold our generation without any of our versions: it read our
/// digest (and took our generation from it) but the exchange was cut before
/// our updates arrived. If we then restart with the clock set back, every
/// version we write is under that generation, which the peer takes as the
/// floor of what it accepts from us: it refused all of it, for good. We
/// start a new incarnation above what others saw of us only when a digest
/// shows a *version* above ours, and that peer's digest showed version 0.
/// A digest that shows a *generation* of ours above our own now triggers
/// the same rebirth (under the same ceiling).
#[test]
fn a_restart_under_a_generation_a_peer_holds_is_reborn_above_it() {
    let config = Config {
        probes: false,
        ..Config::default()
    };
    let g: u64 = 1_700_000_001_000_000;
    let mut a = node(&config, A, &[B], g);
    let mut b = node(&config, B, &[A], g);
    // b asks a; a's answer reaches b, b's second response is lost
    let req = b.request();
    let Ok(Incoming::Request(r)) = decode(&req) else {
        panic!("not a request")
    };
    let first = a.handle_request(&r, 1_000).unwrap();
    let Ok(Incoming::FirstResponse(r)) = decode(&first) else {
        panic!("not a first response")
    };
    let _lost = b.handle_first_response(&r, 1_000).unwrap();
    let id = a.lookup(B).unwrap();
    assert_eq!(a.peer(id).unwrap().state.generation, g);
    assert_eq!(a.peer(id).unwrap().state.max_version, 0);

    // b restarts with its clock 12.5 hours back, and writes a key
    let mut b = node(&config, B, &[A], g - 45_000 * 1_000_000);
    b.set_local("k", std::sync::Arc::from(&[7u8][..]), 0)
        .unwrap();
    for round in 2..5 {
        exchange(&mut b, &mut a, round * 1_000);
        exchange(&mut a, &mut b, round * 1_000);
    }
    assert!(
        b.generation() > g,
        "b was not reborn above the generation a holds"
    );
    let view = &a.peer(id).unwrap().state;
    assert_eq!(view.max_version, b.local_state().max_version);
    assert_eq!(view.value("k").map(|v| &v[..]), Some(&[7u8][..]));
}

/// fuzz/regressions/state_merge/rebirth-under-versions-another-peer-holds
///
/// A process whose clock went back is reborn above the version the first
/// peer to name it saw of its last life. But peers lag each other: another
/// peer may hold a version or two more of that last life. A rebirth at
/// `floor + 1` then rewrote its first key at a version that peer already
/// held (from the last life), so that peer refused it as stale and kept the
/// old value for good. A rebirth now starts a margin (one second of the
/// microsecond clock) above the floor.
#[test]
fn a_rebirth_starts_above_what_lagging_peers_did_not_report() {
    let config = Config {
        probes: false,
        ..Config::default()
    };
    let g: u64 = 1_700_000_001_000_000;
    let mut a = node(&config, A, &[B, C], g);
    let mut b = node(&config, B, &[A, C], g + 10);
    let mut c = node(&config, C, &[A, B], g + 20);
    exchange(&mut b, &mut a, 1_000); // b saw a's last life up to g
    a.tick(1_000);
    exchange(&mut c, &mut a, 1_000); // c saw it up to g + 1
    let id_b = b.lookup(A).unwrap();
    let id_c = c.lookup(A).unwrap();
    assert_eq!(b.peer(id_b).unwrap().state.max_version, g);
    assert_eq!(c.peer(id_c).unwrap().state.max_version, g + 1);

    // a restarts with its clock 45000 s back; b names it first
    let mut a = node(&config, A, &[B, C], g - 45_000 * 1_000_000);
    a.set_local("k", std::sync::Arc::from(&[7u8][..]), 0)
        .unwrap();
    exchange(&mut b, &mut a, 2_000);
    assert!(a.generation() > g, "reborn above what b saw");
    for round in 3..6 {
        exchange(&mut a, &mut c, round * 1_000);
        exchange(&mut c, &mut a, round * 1_000);
        exchange(&mut a, &mut b, round * 1_000);
    }
    for (name, view) in [("b", b.peer(id_b).unwrap()), ("c", c.peer(id_c).unwrap())] {
        let view = &view.state;
        assert_eq!(view.max_version, a.local_state().max_version, "{name}");
        assert_eq!(view.generation, a.generation(), "{name}");
        for key in [HEARTBEAT_KEY, "k"] {
            assert_eq!(
                view.value(key),
                a.local_state().value(key),
                "{name}'s view of a's {key}"
            );
        }
    }
}

/// fuzz/regressions/state_merge/removed-peer-back-through-later-deltas
///
/// A peer forgotten after a long failure is kept in a list with the version
/// we had of it, so that stale gossip does not bring it back: it is
/// registered again only from news above that version. News from updates
/// was judged delta by delta: a message bringing the peer's whole state (in
/// version order) had its first deltas refused and the peer registered at
/// the first delta above the old version, the ones before it skipped for
/// good, since our view of the peer then stood above them. A peer is now
/// judged by its newest version in the message, and registered with all of it.
#[test]
fn a_removed_peer_comes_back_with_all_its_state() {
    let config = Config {
        dead_peer_removal_ms: Some(1_000),
        ..Config {
            probes: false,
            ..Config::default()
        }
    };
    let g: u64 = 1_700_000_001_000_000;
    let mut a = node(&config, A, &[], g);
    let mut b = node(&config, B, &[A, C], g + 10);
    let mut c = node(&config, C, &[A, B], g + 20);
    c.set_local("k", std::sync::Arc::from(&[7u8][..]), 0)
        .unwrap();
    exchange(&mut c, &mut a, 1_000); // a holds c up to its "k"
    exchange(&mut b, &mut a, 1_000);
    assert!(a.lookup(C).is_some());

    // a hears nothing for long: c and b fail, then are forgotten
    a.tick(100_000);
    a.tick(101_000);
    a.tick(102_000);
    assert!(a.lookup(C).is_none(), "c was not removed");

    // c goes on, b learns all of it, and tells a (which names neither)
    c.tick(102_000);
    c.tick(103_000);
    exchange(&mut c, &mut b, 103_000);
    exchange(&mut a, &mut b, 103_000);
    let id = a.lookup(C).expect("c is back");
    let view = &a.peer(id).unwrap().state;
    assert_eq!(view.max_version, c.local_state().max_version);
    assert_eq!(
        view.value("k").map(|v| &v[..]),
        Some(&[7u8][..]),
        "c's k skipped"
    );
}
