//! Unit tests of the node with two or three nodes wired by hand, and messages
//! crafted as an old node-gossip peer or a hostile sender would send them.

use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::wire::message::{encode_request, encode_response, PROTOCOL};
use crate::wire::{decode, Incoming};

const A: &str = "127.0.0.1:9001";
const B: &str = "127.0.0.1:9002";
const C: &str = "127.0.0.1:9003";
const OLD: &str = "127.0.0.1:9100";

const V1: Ext<'static> = Ext {
    protocol: PROTOCOL,
    cluster: None,
    complete: false,
    more: false,
};

fn node_with(name: &str, generation: u64, config: Config, now: Millis) -> Node {
    let mut n = Node::new(config, generation, generation ^ 0x5eed);
    n.start(name, &[], now);
    n.take_events();
    n
}

/// A node of the heartbeat protocol (gossiper 1.0's, as old peers see it):
/// these tests drive exchanges by hand and judge peers by heartbeats.
/// The probes have tests of their own (`swim_tests.rs`).
fn legacy() -> Config {
    Config {
        probes: false,
        ..Config::default()
    }
}

fn node(name: &str, generation: u64, now: Millis) -> Node {
    node_with(name, generation, legacy(), now)
}

fn as_request(bytes: &[u8]) -> Request<'_> {
    match decode(bytes).expect("decodes") {
        Incoming::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn as_first(bytes: &[u8]) -> Response<'_> {
    match decode(bytes).expect("decodes") {
        Incoming::FirstResponse(r) => r,
        other => panic!("not a first response: {other:?}"),
    }
}

fn as_second(bytes: &[u8]) -> Response<'_> {
    match decode(bytes).expect("decodes") {
        Incoming::SecondResponse(r) => r,
        other => panic!("not a second response: {other:?}"),
    }
}

/// Sizes of the three messages of one exchange.
#[derive(Debug)]
struct Sizes {
    request: usize,
    first: usize,
    second: usize,
}

/// A full exchange started by `a`.
fn exchange(a: &mut Node, b: &mut Node, now: Millis) -> Sizes {
    let req = a.request();
    let first = b.handle_request(&as_request(&req), now).expect("request");
    let second = a
        .handle_first_response(&as_first(&first), now)
        .expect("first response")
        .message;
    b.handle_second_response(&as_second(&second), now)
        .expect("second response");
    Sizes {
        request: req.len(),
        first: first.len(),
        second: second.len(),
    }
}

/// Exchanges both ways, `rounds` times, one round per second from `start`;
/// both nodes tick. Returns the time after the last round.
fn gossip(a: &mut Node, b: &mut Node, start: Millis, rounds: u64) -> Millis {
    let mut now = start;
    for _ in 0..rounds {
        now += 1000;
        a.tick(now);
        b.tick(now);
        exchange(a, b, now);
        exchange(b, a, now);
    }
    now
}

fn old_request(digest: &[(&str, u64)]) -> Vec<u8> {
    request_with(digest, &Ext::default())
}

/// A REQUEST of `digest` (no generations) with extension `ext`.
pub(super) fn request_with(digest: &[(&str, u64)], ext: &Ext) -> Vec<u8> {
    let items: Vec<DigestItem> = digest
        .iter()
        .map(|&(peer, version)| DigestItem {
            peer,
            version,
            generation: 0,
        })
        .collect();
    let mut out = Vec::new();
    encode_request(&mut out, &items, ext);
    out
}

fn v1_request(digest: &[(&str, u64, u64)]) -> Vec<u8> {
    let items: Vec<DigestItem> = digest
        .iter()
        .map(|&(peer, version, generation)| DigestItem {
            peer,
            version,
            generation,
        })
        .collect();
    let mut out = Vec::new();
    encode_request(&mut out, &items, &V1);
    out
}

fn delta<'a>(peer: &'a str, key: &'a str, value: Option<&'a [u8]>, version: u64) -> Delta<'a> {
    Delta {
        peer,
        key,
        value,
        version,
        ttl_ms: None,
    }
}

/// Makes `node` apply `updates` as the SECOND_RESPONSE of an exchange.
fn feed(node: &mut Node, updates: &[Delta], generations: &[(&str, u64)], ext: &Ext, now: Millis) {
    let mut out = Vec::new();
    encode_response(&mut out, None, updates, generations, ext);
    node.handle_second_response(&as_second(&out), now)
        .expect("accepted");
}

fn msgpack_int(n: u64) -> Vec<u8> {
    let mut v = Vec::new();
    crate::wire::write::write_uint(&mut v, n);
    v
}

fn view<'n>(node: &'n Node, name: &str) -> &'n Peer {
    let id = node
        .lookup(name)
        .unwrap_or_else(|| panic!("{name} unknown"));
    node.peer(id).expect("slot")
}

fn value_of(node: &Node, peer: &str, key: &str) -> Option<Vec<u8>> {
    let id = node.lookup(peer)?;
    node.peer(id)?.state.value(key).map(|v| v.to_vec())
}

/// Events of `node`, with peer ids replaced by names.
fn events(node: &mut Node) -> Vec<(String, String)> {
    let events = node.take_events();
    events
        .into_iter()
        .map(|e| {
            let name = |id: PeerId| {
                node.peer(id)
                    .map_or_else(|| format!("#{id}"), |p| p.name.to_string())
            };
            match e {
                Event::NewPeer { name: n, .. } => ("new_peer".into(), n.to_string()),
                Event::Update { peer, key, .. } => {
                    ("update".into(), format!("{}/{key}", name(peer)))
                }
                Event::Delete { peer, key } => ("delete".into(), format!("{}/{key}", name(peer))),
                Event::Alive { peer } => ("alive".into(), name(peer)),
                Event::Failed { peer } => ("failed".into(), name(peer)),
                Event::Left { peer } => ("left".into(), name(peer)),
                Event::Warning { warning, peer, .. } => {
                    ("warning".into(), format!("{}/{peer}", warning.name()))
                }
                Event::Removed { peer } => ("removed".into(), format!("#{peer}")),
            }
        })
        .collect()
}

fn has(events: &[(String, String)], kind: &str, what: &str) -> bool {
    events.iter().any(|(k, w)| k == kind && w == what)
}

// ---- digests and the exact shape old peers read ------------------------------

/// The REQUEST as node-gossip 0.0.3 reads it: a map whose `type` is 0 and
/// whose `digest` maps every peer name (strings) to an integer; whatever
/// else the map holds, it ignores.
#[test]
fn request_has_the_shape_an_old_peer_reads() {
    let mut a = node(A, 1000, 0);
    let mut b = node(B, 5000, 0);
    a.set_local("k", Arc::from(msgpack_int(7)), 0).unwrap();
    gossip(&mut a, &mut b, 0, 2);
    let bytes = a.request();

    // walk it with a plain msgpack reader
    let mut rd = &bytes[..];
    let fields = rmp::decode::read_map_len(&mut rd).unwrap();
    let mut kind = None;
    let mut digest = BTreeMap::new();
    for _ in 0..fields {
        let mut key = [0u8; 64];
        let key = rmp::decode::read_str(&mut rd, &mut key)
            .unwrap()
            .to_string();
        match key.as_str() {
            "type" => kind = Some(rmp::decode::read_int::<u64, _>(&mut rd).unwrap()),
            "digest" => {
                let n = rmp::decode::read_map_len(&mut rd).unwrap();
                for _ in 0..n {
                    let mut buf = [0u8; 64];
                    let peer = rmp::decode::read_str(&mut rd, &mut buf)
                        .unwrap()
                        .to_string();
                    let version: u64 = rmp::decode::read_int(&mut rd).unwrap();
                    assert!(version <= MAX_SAFE_VERSION_FOR_TEST, "JS holds it exactly");
                    digest.insert(peer, version);
                }
            }
            // extension fields: an old peer skips them
            "gossiper" | "gens" | "complete" | "cluster" => {
                let consumed = crate::wire::read::Reader::new(rd).raw().unwrap().len();
                rd = &rd[consumed..];
            }
            other => panic!("unexpected field {other}"),
        }
    }
    assert!(rd.is_empty(), "one message, nothing after it");
    assert_eq!(kind, Some(0));
    // every peer it knows, itself included, at its highest version
    let expect: BTreeMap<String, u64> = [
        (A.to_string(), a.local_state().max_version),
        (B.to_string(), view(&a, B).state.max_version),
    ]
    .into();
    assert_eq!(digest, expect);
    assert_eq!(
        view(&a, B).state.max_version,
        b.local_state().max_version,
        "a is up to date with b"
    );

    // and the same through serde, as a JS object would hold it
    #[derive(serde::Deserialize)]
    struct OldRequest {
        #[serde(rename = "type")]
        kind: u8,
        digest: BTreeMap<String, u64>,
    }
    let old: OldRequest = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(old.kind, 0);
    assert_eq!(old.digest, expect);
}

const MAX_SAFE_VERSION_FOR_TEST: u64 = (1 << 53) - 1;

#[test]
fn seeds_are_not_peers_until_they_answer() {
    let mut a = Node::new(legacy(), 1000, 1);
    a.start(A, &[B.to_string(), C.to_string(), A.to_string()], 0);
    let ev = events(&mut a);
    assert!(!ev.iter().any(|(k, w)| k == "new_peer" && w != A), "{ev:?}");
    assert_eq!(a.peers().count(), 1, "only itself");
    // the first contact goes to a seed at once, not at the first round
    let to: Vec<Arc<str>> = std::iter::from_fn(|| a.poll_transmit())
        .filter_map(|t| match t {
            Transmit::Connect { to, .. } => Some(to),
            Transmit::Resolve { .. } | Transmit::Datagram { .. } => None,
        })
        .collect();
    assert_eq!(to.len(), 1);
    assert!(&*to[0] == B || &*to[0] == C, "{to:?}");
    let bytes = a.request();
    let req = as_request(&bytes);
    let names: Vec<(&str, u64)> = req.digest.iter().map(|d| (d.peer, d.version)).collect();
    assert_eq!(names, vec![(A, a.local_state().max_version)], "itself only");
    assert!(req.ext.is_v1());
    assert!(req.ext.complete);
    // once b answers, it is a peer under the name it gives itself
    let mut b = node(B, 5_000, 0);
    exchange(&mut a, &mut b, 1);
    assert!(has(&events(&mut a), "new_peer", B));
}

/// A node started before its seed listens (nodes started together, a
/// seed restarting) is refused, and tries again soon rather than spend a
/// whole round alone: after a twentieth of a round, then twice as long
/// each time, until the rounds' own contacts take over.
#[test]
fn a_refused_seed_is_tried_again_soon_then_less_soon() {
    let mut a = Node::new(Config::default(), 1000, 1);
    a.start(A, &[B.to_string()], 0);
    let mut contacts: Vec<Millis> = Vec::new();
    let mut now = 0;
    while now < 2_000 {
        while let Some(t) = a.poll_transmit() {
            if let Transmit::Connect { exchange, to, .. } = t {
                assert_eq!(&*to, B);
                contacts.push(now);
                a.handle_exchange_failure(exchange, Failure::Connect, now);
            }
        }
        now = a.poll_timeout().expect("timers").max(now + 1);
        a.handle_timeout(now);
    }
    // at once; retries 50, 100 and 200 ms after each refusal; this
    // node's rounds fall at 750 ms into each second (its seed picks the
    // phase), and that round contacts the seed instead of the retry due
    // then; after its refusal, a last retry 800 ms later (the next would
    // wait longer than a round); then the rounds alone
    assert_eq!(contacts, vec![0, 50, 150, 350, 750, 1_550, 1_750]);
}

#[test]
fn a_seed_given_as_a_host_name_is_resolved_each_time_it_is_tried() {
    let mut a = Node::new(legacy(), 1000, 1);
    a.start(A, &["seeds.example:9000".to_string()], 0);
    let resolves = |a: &mut Node| -> Vec<(usize, Arc<str>)> {
        std::iter::from_fn(|| a.poll_transmit())
            .filter_map(|t| match t {
                Transmit::Resolve { seed, name } => Some((seed, name)),
                Transmit::Connect { .. } | Transmit::Datagram { .. } => None,
            })
            .collect()
    };
    let asked = resolves(&mut a);
    assert_eq!(asked, vec![(0, Arc::<str>::from("seeds.example:9000"))]);
    // it does not resolve: a warning, and no peer under the host name
    a.handle_resolved(0, Err("no such host".into()), 5);
    let ev = events(&mut a);
    assert!(
        has(&ev, "warning", "seedUnresolved/seeds.example:9000"),
        "{ev:?}"
    );
    assert_eq!(a.peers().count(), 1);
    assert_eq!(a.stats().warnings[Warning::SeedUnresolved as usize], 1);
    // the next rounds try again (no live peer: every round)
    a.tick(1000);
    assert_eq!(resolves(&mut a).len(), 1);
    // now it resolves to two addresses: one of them is contacted
    a.handle_resolved(0, Ok(vec![B.to_string(), C.to_string()]), 1001);
    let to: Vec<Arc<str>> = std::iter::from_fn(|| a.poll_transmit())
        .filter_map(|t| match t {
            Transmit::Connect { to, .. } => Some(to),
            Transmit::Resolve { .. } | Transmit::Datagram { .. } => None,
        })
        .collect();
    assert_eq!(to.len(), 1);
    assert!(&*to[0] == B || &*to[0] == C);
    assert_eq!(a.peers().count(), 1, "still not a peer before it answers");
    // the same failure again within the minute is counted, not reported
    a.handle_resolved(0, Err("no such host".into()), 2000);
    assert!(!has(
        &events(&mut a),
        "warning",
        "seedUnresolved/seeds.example:9000"
    ));
    assert_eq!(a.stats().warnings[Warning::SeedUnresolved as usize], 2);
}

/// What the answer to an old peer looks like: `request_digest` and
/// `updates` as 4-tuples `[peer, key, value, version]`.
#[test]
fn first_response_to_an_old_peer_has_the_original_shape() {
    let mut b = node(B, 5000, 0);
    b.set_local("k", Arc::from(msgpack_int(3)), 0).unwrap();
    let req = old_request(&[(OLD, 4), (B, 0)]);
    let bytes = b.handle_request(&as_request(&req), 10).unwrap();

    #[derive(serde::Deserialize)]
    struct OldFirstResponse {
        #[serde(rename = "type")]
        kind: u8,
        request_digest: BTreeMap<String, u64>,
        updates: Vec<(String, String, serde::de::IgnoredAny, u64)>,
    }
    let old: OldFirstResponse = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(old.kind, 1);
    assert_eq!(old.request_digest, BTreeMap::from([(OLD.to_string(), 0)]));
    let got: Vec<(&str, &str, u64)> = old
        .updates
        .iter()
        .map(|(p, k, _, v)| (p.as_str(), k.as_str(), *v))
        .collect();
    assert_eq!(
        got,
        vec![(B, HEARTBEAT_KEY, 5000), (B, "k", 5001)],
        "all of b's deltas after 0, ascending"
    );
    // no `gens` map for an old peer's benefit is needed, but it must not hurt:
    // a v1 sender always includes it and node-gossip ignores unknown fields
}

// ---- deltas ordering -----------------------------------------------------------

#[test]
fn deltas_go_most_first_by_peer_and_ascending_within_a_peer() {
    let mut b = node(B, 5000, 0);
    let (x, y, z) = ("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1");
    let v = msgpack_int(1);
    let mut updates = Vec::new();
    // x: 2 deltas, y: 5, z: 3; written in a scrambled order
    for (peer, versions) in [
        (y, &[14u64, 11, 13, 10, 12][..]),
        (x, &[21, 20]),
        (z, &[32, 30, 31]),
    ] {
        for &ver in versions {
            updates.push((peer, format!("k{ver}"), ver));
        }
    }
    let deltas: Vec<Delta> = updates
        .iter()
        .map(|(p, k, ver)| delta(p, k, Some(&v), *ver))
        .collect();
    // apply peer by peer, ascending, as a real sender would order them
    let mut sorted = deltas.clone();
    sorted.sort_by_key(|d| (d.peer, d.version));
    feed(&mut b, &sorted, &[], &V1, 1);

    let req = old_request(&[(OLD, 0), (x, 0), (y, 0), (z, 0)]);
    let bytes = b.handle_request(&as_request(&req), 2).unwrap();
    let resp = as_first(&bytes);
    let got: Vec<(&str, u64)> = resp.updates.iter().map(|d| (d.peer, d.version)).collect();
    assert_eq!(
        got,
        vec![
            (y, 10),
            (y, 11),
            (y, 12),
            (y, 13),
            (y, 14),
            (z, 30),
            (z, 31),
            (z, 32),
            (x, 20),
            (x, 21)
        ]
    );
    // b does not know OLD: it registered it and asks for everything
    assert_eq!(resp.requests, vec![(OLD, 0)]);
}

#[test]
fn a_v1_peer_gets_peers_with_several_deltas_first_in_varying_order() {
    let mut b = node(B, 5000, 0);
    // four peers with 3 deltas each, one with a single delta
    let many = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1"];
    let single = "10.0.0.9:1";
    let v = msgpack_int(1);
    let keys: Vec<String> = (0..3).map(|k| format!("k{k}")).collect();
    for (i, peer) in many.iter().enumerate() {
        let base = 100 * (i as u64 + 1);
        let deltas: Vec<Delta> = (0..3)
            .map(|k| delta(peer, &keys[k], Some(&v), base + k as u64))
            .collect();
        feed(&mut b, &deltas, &[(peer, base)], &V1, 1);
    }
    feed(
        &mut b,
        &[delta(single, "k", Some(&v), 900)],
        &[(single, 900)],
        &V1,
        1,
    );

    let mut digest: Vec<(&str, u64, u64)> = many.iter().map(|&p| (p, 0, 0)).collect();
    digest.push((single, 0, 0));
    let req = v1_request(&digest);
    let mut firsts = HashSet::new();
    for _ in 0..40 {
        let bytes = b.handle_request(&as_request(&req), 2).unwrap();
        let resp = as_first(&bytes);
        let got: Vec<(&str, u64)> = resp
            .updates
            .iter()
            .filter(|d| d.key != HEARTBEAT_KEY)
            .map(|d| (d.peer, d.version))
            .collect();
        assert_eq!(got.len(), 13);
        // each peer's run is whole and ascending; the single delta comes last
        for run in got[..12].chunks(3) {
            assert!(run.iter().all(|d| d.0 == run[0].0), "{got:?}");
            assert!(run.windows(2).all(|w| w[0].1 < w[1].1), "{got:?}");
        }
        assert_eq!(got[12], (single, 900));
        firsts.insert(got[0].0.to_string());
    }
    // different requests start with different peers (all four, in 40 tries)
    assert_eq!(firsts.len(), many.len(), "{firsts:?}");
}

// ---- the version rule --------------------------------------------------------

#[test]
fn only_versions_above_the_max_apply() {
    let mut b = node(B, 5000, 0);
    let x = "10.0.0.1:1";
    let (one, two, three) = (msgpack_int(1), msgpack_int(2), msgpack_int(3));
    feed(
        &mut b,
        &[delta(x, "a", Some(&one), 10), delta(x, "b", Some(&one), 12)],
        &[],
        &V1,
        1,
    );
    assert_eq!(view(&b, x).state.max_version, 12);
    let stale_before = b.stats.updates_stale;

    // below the max, even for a key whose own version is lower, or new
    feed(
        &mut b,
        &[delta(x, "a", Some(&two), 11), delta(x, "c", Some(&two), 12)],
        &[],
        &V1,
        2,
    );
    assert_eq!(b.stats.updates_stale, stale_before + 2);
    assert_eq!(value_of(&b, x, "a"), Some(one.clone()));
    assert_eq!(value_of(&b, x, "c"), None);

    // above the max: applied, and the max follows
    feed(&mut b, &[delta(x, "a", Some(&three), 13)], &[], &V1, 3);
    assert_eq!(value_of(&b, x, "a"), Some(three));
    assert_eq!(view(&b, x).state.max_version, 13);
    let ev = events(&mut b);
    assert!(has(&ev, "update", &format!("{x}/a")));
    assert!(!has(&ev, "update", &format!("{x}/c")));
}

// ---- unknown peers and ourselves ---------------------------------------------------

#[test]
fn unknown_peers_in_a_digest_are_registered_and_requested_from_zero() {
    let mut b = node(B, 5000, 0);
    let x = "10.0.0.9:7";
    let req = old_request(&[(OLD, 3), (x, 42), (B, 0)]);
    let bytes = b.handle_request(&as_request(&req), 5).unwrap();
    let resp = as_first(&bytes);
    let requested: HashSet<(&str, u64)> = resp.requests.iter().copied().collect();
    assert_eq!(requested, HashSet::from([(OLD, 0), (x, 0)]));
    let ev = events(&mut b);
    assert!(has(&ev, "new_peer", OLD));
    assert!(has(&ev, "new_peer", x));
    assert!(b.lookup(x).is_some());
    // a name that is not host:port is not registered
    let req = old_request(&[(OLD, 3), ("not a peer", 1)]);
    let refused = b.stats.peers_refused;
    b.handle_request(&as_request(&req), 6).unwrap();
    assert_eq!(b.stats.peers_refused, refused + 1);
    assert!(b.lookup("not a peer").is_none());
}

#[test]
fn updates_about_ourselves_are_ignored() {
    let mut b = node(B, 5000, 0);
    b.set_local("k", Arc::from(msgpack_int(1)), 0).unwrap();
    let before = b.local_state().max_version;
    let forged = msgpack_int(666);
    feed(
        &mut b,
        &[
            delta(B, "k", Some(&forged), before + 100),
            delta(B, "new", Some(&forged), before + 101),
        ],
        &[(B, before + 100)],
        &V1,
        1,
    );
    assert_eq!(b.stats.updates_about_self, 2);
    assert_eq!(
        b.local_state().value("k").unwrap().as_ref(),
        &msgpack_int(1)[..]
    );
    assert!(b.local_state().value("new").is_none());
    assert_eq!(b.local_state().max_version, before);
    assert_eq!(b.generation(), 5000, "not reborn by a forged generation");
    assert!(events(&mut b).is_empty());
}

// ---- fast join only for v1 peers -------------------------------------------------

#[test]
fn old_requesters_only_get_peers_they_named_v1_get_the_rest() {
    let mut b = node(B, 5000, 0);
    let mut c = node(C, 9000, 0);
    c.set_local("c", Arc::from(msgpack_int(3)), 0).unwrap();
    gossip(&mut b, &mut c, 0, 1);
    let x = "10.0.0.1:1";
    feed(&mut b, &[delta(x, "x", Some(&[0x01]), 77)], &[], &V1, 10);
    assert_eq!(b.peers().count(), 3);

    // an old peer that names only itself: it would crash on an update
    // about a peer it never heard of, so it gets none
    let req = old_request(&[(OLD, 1)]);
    let bytes = b.handle_request(&as_request(&req), 11).unwrap();
    let resp = as_first(&bytes);
    assert!(resp.updates.is_empty(), "{:?}", resp.updates);
    // naming b only: b's own state, nothing about c or x
    let req = old_request(&[(OLD, 1), (B, 0)]);
    let bytes = b.handle_request(&as_request(&req), 12).unwrap();
    let resp = as_first(&bytes);
    assert!(!resp.updates.is_empty());
    assert!(resp.updates.iter().all(|d| d.peer == B));

    // a v1 peer naming only itself learns everyone (fast join)
    let y = "127.0.0.1:9200";
    let req = v1_request(&[(y, 1, 1)]);
    let bytes = b.handle_request(&as_request(&req), 13).unwrap();
    let resp = as_first(&bytes);
    let peers: HashSet<&str> = resp.updates.iter().map(|d| d.peer).collect();
    assert_eq!(
        peers,
        HashSet::from([B, C, x, OLD])
            .difference(&HashSet::from([OLD]))
            .copied()
            .collect()
    );
    // with the generation of each, so it can tell incarnations apart
    let gens: HashSet<&str> = resp.generations.iter().map(|(p, _)| *p).collect();
    assert!(gens.contains(B) && gens.contains(C));
    // and a real v1 node applies all of it
    let mut d = node("127.0.0.1:9300", 100, 13);
    exchange(&mut d, &mut b, 14);
    for peer in [B, C, x] {
        assert!(d.lookup(peer).is_some(), "{peer}");
    }
    assert_eq!(value_of(&d, C, "c"), Some(msgpack_int(3)));
}

// ---- restarts ----------------------------------------------------------------------

#[test]
fn a_restart_with_a_higher_generation_replaces_the_old_keys() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    a.set_local("old", Arc::from(msgpack_int(1)), 0).unwrap();
    a.set_local("both", Arc::from(msgpack_int(1)), 0).unwrap();
    let now = gossip(&mut a, &mut b, 0, 2);
    assert_eq!(value_of(&b, A, "old"), Some(msgpack_int(1)));
    events(&mut b);

    // same name, new process: versions start far above the old ones
    let mut a2 = node(A, 1_000_000, now);
    a2.set_local("both", Arc::from(msgpack_int(2)), 0).unwrap();
    a2.set_local("new", Arc::from(msgpack_int(2)), 0).unwrap();
    exchange(&mut a2, &mut b, now + 100);
    let ev = events(&mut b);
    // what the new life set comes at once; what it did not set is reported
    // deleted once the grace is over, and a key it set again never is
    assert!(has(&ev, "update", &format!("{A}/new")));
    assert!(has(&ev, "update", &format!("{A}/both")));
    assert!(!ev.iter().any(|(k, _)| k == "delete"), "{ev:?}");
    let grace = Config::default().restart_grace_ms;
    b.check_liveness(now + 100 + grace - 1);
    assert!(!events(&mut b).iter().any(|(k, _)| k == "delete"));
    b.check_liveness(now + 100 + grace);
    let ev = events(&mut b);
    assert!(has(&ev, "delete", &format!("{A}/old")), "{ev:?}");
    assert!(!has(&ev, "delete", &format!("{A}/both")), "{ev:?}");
    assert_eq!(value_of(&b, A, "old"), None);
    assert_eq!(value_of(&b, A, "both"), Some(msgpack_int(2)));
    assert_eq!(value_of(&b, A, "new"), Some(msgpack_int(2)));
    assert_eq!(view(&b, A).state.generation, 1_000_000);
    assert_eq!(view(&b, A).state.max_version, a2.local_state().max_version);

    // a third node that only hears of the restart through b drops them too
    let mut c = node(C, 9_000, 0);
    // c first learns the old incarnation from an old copy of b's knowledge
    let mut b_old = node(B, 5_000, 0);
    b_old.set_local("x", Arc::from(msgpack_int(0)), 0).unwrap();
    gossip(&mut a, &mut b_old, 0, 1);
    exchange(&mut c, &mut b_old, now);
    assert_eq!(value_of(&c, A, "old"), Some(msgpack_int(1)));
    events(&mut c);
    exchange(&mut c, &mut b, now + 200);
    c.check_liveness(now + 200 + grace);
    let ev = events(&mut c);
    assert!(has(&ev, "delete", &format!("{A}/old")), "{ev:?}");
    assert!(!has(&ev, "delete", &format!("{A}/both")), "{ev:?}");
    assert_eq!(value_of(&c, A, "both"), Some(msgpack_int(2)));
    // the old incarnation's versions are refused afterwards
    exchange(&mut c, &mut b_old, now + 300);
    assert_eq!(value_of(&c, A, "old"), None);
}

// ---- deletes -----------------------------------------------------------------------

#[test]
fn a_delete_travels_as_a_tombstone_and_old_peers_see_nil() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    a.set_local("k", Arc::from(msgpack_int(1)), 0).unwrap();
    let now = gossip(&mut a, &mut b, 0, 1);
    assert_eq!(value_of(&b, A, "k"), Some(msgpack_int(1)));
    events(&mut b);

    assert_eq!(a.delete_local("k", now), Ok(true));
    assert_eq!(a.delete_local("k", now), Ok(false), "already gone");
    let deleted_at = a.local_state().get("k").unwrap().version;
    exchange(&mut b, &mut a, now + 10);
    let ev = events(&mut b);
    assert!(has(&ev, "delete", &format!("{A}/k")), "{ev:?}");
    assert_eq!(value_of(&b, A, "k"), None);
    assert!(view(&b, A)
        .state
        .get("k")
        .is_some_and(|e| e.value.is_none()));

    // an old peer that knew k at its first version is sent nil for it
    let req = old_request(&[(OLD, 0), (A, deleted_at - 1)]);
    let bytes = a.handle_request(&as_request(&req), now + 20).unwrap();
    let mut rd = &bytes[..];
    let fields = rmp::decode::read_map_len(&mut rd).unwrap();
    let mut seen_nil = false;
    for _ in 0..fields {
        let mut key = [0u8; 32];
        let key = rmp::decode::read_str(&mut rd, &mut key)
            .unwrap()
            .to_string();
        if key != "updates" {
            let n = crate::wire::read::Reader::new(rd).raw().unwrap().len();
            rd = &rd[n..];
            continue;
        }
        let n = rmp::decode::read_array_len(&mut rd).unwrap();
        for _ in 0..n {
            let len = rmp::decode::read_array_len(&mut rd).unwrap();
            assert!(len >= 4);
            let mut buf = [0u8; 32];
            let peer = rmp::decode::read_str(&mut rd, &mut buf)
                .unwrap()
                .to_string();
            let mut buf = [0u8; 32];
            let key = rmp::decode::read_str(&mut rd, &mut buf)
                .unwrap()
                .to_string();
            let value_is_nil = rd[0] == 0xc0;
            let raw = crate::wire::read::Reader::new(rd).raw().unwrap().len();
            rd = &rd[raw..];
            let version: u64 = rmp::decode::read_int(&mut rd).unwrap();
            for _ in 4..len {
                let raw = crate::wire::read::Reader::new(rd).raw().unwrap().len();
                rd = &rd[raw..];
            }
            if peer == A && key == "k" {
                assert!(value_is_nil, "an old peer reads the value slot: nil");
                assert_eq!(version, deleted_at);
                seen_nil = true;
            }
        }
    }
    assert!(seen_nil);
}

#[test]
fn collected_tombstones_do_not_resurrect_the_key() {
    let ttl = 60_000;
    let config = Config {
        tombstone_ttl_ms: ttl,
        ..legacy()
    };
    let mut a = node_with(A, 1_000, config.clone(), 0);
    let mut b = node_with(B, 5_000, config.clone(), 0);
    a.set_local("k", Arc::from(msgpack_int(1)), 0).unwrap();
    let k_version = a.local_state().get("k").unwrap().version;
    let mut now = gossip(&mut a, &mut b, 0, 1);
    a.delete_local("k", now).unwrap();
    now = gossip(&mut a, &mut b, now, 1);
    assert!(view(&b, A).state.get("k").is_some(), "tombstone held");
    // past the ttl both collect it
    now = gossip(&mut a, &mut b, now + ttl, 2);
    assert!(a.local_state().get("k").is_none());
    assert!(view(&b, A).state.get("k").is_none());
    assert!(a.stats.tombstones_collected >= 1 && b.stats.tombstones_collected >= 1);

    // a straggler that still has k at its old version gossips it to b
    let straggler = "127.0.0.1:9400";
    let one = msgpack_int(1);
    feed(
        &mut b,
        &[delta(A, "k", Some(&one), k_version)],
        &[(A, 1_000)],
        &V1,
        now,
    );
    assert_eq!(value_of(&b, A, "k"), None, "stale: below a's max version");
    // and as a requester whose digest says it knows a at that version, it is
    // not sent anything that revives it either
    let req = v1_request(&[(straggler, 1, 1), (A, k_version, 1_000)]);
    let bytes = b.handle_request(&as_request(&req), now).unwrap();
    let resp = as_first(&bytes);
    assert!(resp.updates.iter().all(|d| d.key != "k"));
    gossip(&mut a, &mut b, now, 2);
    assert_eq!(value_of(&b, A, "k"), None);
    assert!(a.local_state().value("k").is_none());
}

// ---- leaving -----------------------------------------------------------------------

#[test]
fn leave_is_reported_left_on_the_next_exchange() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    let now = gossip(&mut a, &mut b, 0, 5);
    events(&mut b);
    let tell = a.leave(now);
    assert_eq!(tell.len(), 1);
    let to: Vec<Arc<str>> = std::iter::from_fn(|| a.poll_transmit())
        .filter_map(|t| match t {
            Transmit::Connect { to, .. } => Some(to),
            Transmit::Resolve { .. } | Transmit::Datagram { .. } => None,
        })
        .collect();
    assert_eq!(to, vec![Arc::<str>::from(B)]);
    // right away: no silence, the detector has no say in it
    exchange(&mut a, &mut b, now + 1);
    let ev = events(&mut b);
    // a planned leave, told apart from a crash
    assert!(has(&ev, "left", A), "{ev:?}");
    assert!(!has(&ev, "failed", A), "{ev:?}");
    assert!(!view(&b, A).alive && view(&b, A).left);
    assert!(view(&b, A).state.value(LEFT_KEY).is_some());
    // never shown as a key, and it stays failed
    assert!(!ev.iter().any(|(_, w)| w.contains(LEFT_KEY)));
    for t in 1..30 {
        b.tick(now + t * 1000);
    }
    assert!(events(&mut b).iter().all(|(k, _)| k != "alive"));
    assert!(!view(&b, A).alive);
    // a's restart brings it back
    let mut a2 = node(A, 1_000_000, now + 30_000);
    exchange(&mut a2, &mut b, now + 30_000);
    b.tick(now + 31_000);
    let ev = events(&mut b);
    assert!(has(&ev, "alive", A), "{ev:?}");
    assert!(!view(&b, A).left);
}

/// The moment `b` reports a silent `a` failed when it is judged every `step` ms.
fn failure_reported_at(step: Millis) -> Millis {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    let mut now = gossip(&mut a, &mut b, 0, 20);
    events(&mut b);
    loop {
        now += step;
        if now.is_multiple_of(1000) {
            b.tick(now);
        } else {
            b.check_liveness(now);
        }
        if has(&events(&mut b), "failed", A) {
            return now;
        }
        assert!(now < 60_000, "never reported");
    }
}

#[test]
fn liveness_checks_between_rounds_report_a_failure_sooner() {
    let every = node(B, 5_000, 0).liveness_check_interval();
    assert_eq!(every, 1000 / LIVENESS_CHECKS_PER_ROUND);
    let by_ticks = failure_reported_at(1000);
    let by_checks = failure_reported_at(every);
    // the verdict falls between two ticks: checks see it within `every`
    assert!(by_checks < by_ticks, "{by_checks} vs {by_ticks}");
    assert!(by_ticks - by_checks < 1000);
}

#[test]
fn after_a_stall_of_our_own_peers_are_judged_a_round_later() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    let now = gossip(&mut a, &mut b, 0, 20);
    b.check_liveness(now + 250);
    events(&mut b);
    // b was suspended for 30 s: a's silence is b's own
    let back = now + 30_000;
    b.check_liveness(back);
    b.check_liveness(back + 250);
    b.tick(back + 500);
    assert!(events(&mut b).iter().all(|(k, _)| k != "failed"));
    assert!(view(&b, A).alive);
    // a round later a still says nothing: now it is judged
    b.check_liveness(back + 1000);
    assert!(has(&events(&mut b), "failed", A));
}

/// Two nodes whose rounds all run 4 s late (a process with far more nodes
/// than its CPU can serve), checked four times a second in between: does
/// `b` report `a` failed? `b` judges by real time, or by its `RoundClock`.
fn overload_convicts(round_clock: bool) -> bool {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    let start = gossip(&mut a, &mut b, 0, 20);
    events(&mut b);
    let mut clock = crate::core::time::RoundClock::new(1000);
    clock.rounds_from(start + 1000);
    let mut time = |real: Millis, round: Option<Millis>| {
        if !round_clock {
            return real;
        }
        if let Some(due) = round {
            // what the runtime tells the clock as a round starts
            clock.round(due, real);
        }
        clock.at(real)
    };
    let (mut due, mut last) = (start + 1000, start);
    for _ in 0..6 {
        let ran = due + 4000;
        for check in (last + 250..ran).step_by(250) {
            b.check_liveness(time(check, None));
        }
        let now = time(ran, Some(due));
        a.tick(now);
        b.tick(now);
        exchange(&mut a, &mut b, now);
        exchange(&mut b, &mut a, now);
        if has(&events(&mut b), "failed", A) {
            return true;
        }
        (due, last) = (ran + 1000, ran);
    }
    false
}

#[test]
fn rounds_running_late_convict_no_one_when_judged_by_the_round_clock() {
    assert!(
        overload_convicts(false),
        "real time: a's 5 s silences look like a failure"
    );
    assert!(!overload_convicts(true));
}

// ---- dead peer removal ----------------------------------------------------------------

#[test]
fn dead_peers_are_removed_and_stale_gossip_does_not_bring_them_back() {
    let config = Config {
        dead_peer_removal_ms: Some(20_000),
        ..legacy()
    };
    let mut a = node_with(A, 1_000, config.clone(), 0);
    let mut b = node_with(B, 5_000, config.clone(), 0);
    let mut c = node_with(C, 9_000, config.clone(), 0);
    let mut now = 0;
    for _ in 0..10 {
        now += 1000;
        for n in [&mut a, &mut b, &mut c] {
            n.tick(now);
        }
        exchange(&mut a, &mut b, now);
        exchange(&mut b, &mut c, now);
        exchange(&mut c, &mut a, now);
    }
    let a_max = view(&b, A).state.max_version;
    assert_eq!(view(&c, A).state.max_version, a_max);
    events(&mut b);

    // a dies; b alone keeps ticking (c is frozen with its view of a)
    let died = now;
    let mut failed_at = None;
    let mut removed_at = None;
    while removed_at.is_none() && now < died + 60_000 {
        now += 1000;
        b.tick(now);
        for (k, _) in events(&mut b) {
            match k.as_str() {
                "failed" => failed_at = failed_at.or(Some(now)),
                "removed" => removed_at = Some(now),
                _ => {}
            }
        }
    }
    let failed_at = failed_at.expect("a failed");
    let removed_at = removed_at.expect("a removed");
    assert!(
        failed_at - died <= 10_000,
        "failed after {} ms",
        failed_at - died
    );
    assert!(removed_at - failed_at >= 20_000 && removed_at - failed_at <= 21_000);
    assert!(b.lookup(A).is_none());

    // c still holds a at the same version: both directions of an exchange
    exchange(&mut c, &mut b, now);
    exchange(&mut b, &mut c, now);
    assert!(b.lookup(A).is_none(), "stale gossip brought a back");
    assert!(!events(&mut b)
        .iter()
        .any(|(k, w)| k == "new_peer" && w == A));

    // the real a, restarted, comes back
    let mut a2 = node_with(A, 10_000_000, config, now);
    exchange(&mut a2, &mut b, now + 1);
    assert!(b.lookup(A).is_some());
    assert!(has(&events(&mut b), "new_peer", A));
    assert!(view(&b, A).alive);
    assert_eq!(view(&b, A).state.generation, 10_000_000);
}

// ---- the outgoing budget --------------------------------------------------------------

fn small_config() -> Config {
    Config {
        max_outgoing_message_bytes: 2048,
        max_value_bytes: 256,
        max_key_bytes: 64,
        ..legacy()
    }
}

#[test]
fn messages_stay_within_the_budget_and_every_peer_is_served() {
    let config = small_config();
    config.validate().unwrap();
    let budget = config.max_outgoing_message_bytes;
    // b knows 300 peers with 1 to 4 keys each (about 40 kB of state)
    let mut b = node_with(B, 5_000, config.clone(), 0);
    let names: Vec<String> = (0..300)
        .map(|i| format!("10.0.{}.{}:7000", i / 256, i % 256))
        .collect();
    let value = vec![0xa8, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h'];
    for (i, name) in names.iter().enumerate() {
        let keys: Vec<String> = (0..=(i % 4)).map(|k| format!("key{k}")).collect();
        let deltas: Vec<Delta> = keys
            .iter()
            .enumerate()
            .map(|(k, key)| delta(name, key, Some(&value), 100 + k as u64))
            .collect();
        feed(&mut b, &deltas, &[(name, 100)], &V1, 1);
    }
    assert_eq!(b.peers().count(), 301);

    // b's digests are split and rotate over every peer
    let mut named = HashSet::new();
    let mut requests = 0;
    while named.len() < 301 {
        let bytes = b.request();
        assert!(bytes.len() <= budget, "request of {} bytes", bytes.len());
        let req = as_request(&bytes);
        assert!(!req.ext.complete);
        assert_eq!(req.digest[0].peer, B, "itself always");
        named.extend(req.digest.iter().map(|d| d.peer.to_string()));
        requests += 1;
        assert!(requests < 20, "digest windows do not cover the peers");
    }

    // a new node pulls everything through budget-sized messages, over
    // exchanges in both directions, each side ticking
    let mut a = node_with(A, 1_000, config, 0);
    a.start(A, &[B.to_string()], 0);
    let mut now = 1;
    let mut rounds = 0;
    let caught_up = |a: &Node, b: &Node| {
        b.peers().all(|(_, p)| {
            a.lookup(&p.name)
                .and_then(|id| a.peer(id))
                .is_some_and(|q| q.state.max_version >= p.state.max_version || p.name == *a.name())
        })
    };
    let mut most = 0;
    while !caught_up(&a, &b) {
        now += 1000;
        rounds += 1;
        if rounds > 200 {
            let behind: Vec<(String, u64, Option<u64>)> = b
                .peers()
                .filter_map(|(_, p)| {
                    let ours = a
                        .lookup(&p.name)
                        .and_then(|id| a.peer(id))
                        .map(|q| q.state.max_version);
                    (ours.is_none_or(|v| v < p.state.max_version) && p.name != *a.name())
                        .then(|| (p.name.to_string(), p.state.max_version, ours))
                })
                .collect();
            panic!(
                "not caught up after 200 rounds: {} behind, e.g. {:?}; a knows {}",
                behind.len(),
                &behind[..behind.len().min(5)],
                a.peers().count()
            );
        }
        // heartbeats advance as they would
        a.tick(now);
        b.tick(now);
        let s1 = exchange(&mut a, &mut b, now);
        let s2 = exchange(&mut b, &mut a, now);
        for s in [s1, s2] {
            most = most.max(s.request).max(s.first).max(s.second);
        }
    }
    assert!(most <= budget, "a message of {most} bytes");
    assert!(most > budget / 2, "the budget is used ({most})");
    // every key of every peer arrived, exactly
    for name in &names {
        let theirs = view(&b, name);
        let ours = view(&a, name);
        assert_eq!(ours.state.live_keys(), theirs.state.live_keys(), "{name}");
    }
    assert!(
        rounds >= 5,
        "40 kB cannot fit in a few 2 kB messages ({rounds})"
    );
    // a holds everything: b fills the room its split digest leaves with peers
    // a may know, but leaves out nothing a lacks, so no catch-up follows
    let (more, first_more) = exchange_more(&mut a, &mut b, now);
    assert!(
        !more && !first_more,
        "more {more}, first said more {first_more}"
    );
}

/// One exchange started by `a`; whether `a` was told (or found) that more
/// was left out, and whether the FIRST_RESPONSE said so.
fn exchange_more(a: &mut Node, b: &mut Node, now: Millis) -> (bool, bool) {
    let req = a.request();
    let first = b.handle_request(&as_request(&req), now).unwrap();
    let first_more = as_first(&first).ext.more;
    let second = a.handle_first_response(&as_first(&first), now).unwrap();
    b.handle_second_response(&as_second(&second.message), now)
        .unwrap();
    (second.more, first_more)
}

#[test]
fn a_response_that_leaves_updates_out_says_so_until_all_has_moved() {
    let config = small_config();
    let keys = 200; // about 7 kB of state against 2 kB messages
    let mut b = node_with(B, 5_000, config.clone(), 0);
    for k in 0..keys {
        b.set_local(&format!("key{k}"), Arc::from(msgpack_int(k)), 0)
            .unwrap();
    }
    let mut a = node_with(A, 1_000, config.clone(), 0);
    a.start(A, &[B.to_string()], 0);

    // a pulls: b's FIRST_RESPONSE is full and says so, until a holds all
    let mut pulls = 0;
    loop {
        let (more, first_more) = exchange_more(&mut a, &mut b, 10);
        assert_eq!(more, first_more, "a has nothing b lacks but itself");
        pulls += 1;
        if !more {
            break;
        }
        assert!(pulls < 10, "still more after {pulls} exchanges");
    }
    assert!(pulls >= 3, "7 kB cannot move in two 2 kB messages");
    assert_eq!(view(&a, B).state.live_keys(), view(&b, B).state.live_keys());
    // nothing left: the next exchange says no more
    assert_eq!(exchange_more(&mut a, &mut b, 20), (false, false));

    // b pushes to a newcomer c: c asks for everything in its FIRST_RESPONSE,
    // and b finds its own SECOND_RESPONSE cut (c's response is not)
    let mut c = node_with(C, 2_000, config, 0);
    c.start(C, &[B.to_string()], 0);
    exchange(&mut c, &mut b, 30); // b learns of c
    let (more, first_more) = exchange_more(&mut b, &mut c, 40);
    assert!(
        more && !first_more,
        "more {more}, first said more {first_more}"
    );
}

#[test]
fn a_peer_is_small() {
    // what a node pays per peer it knows, besides its ring and index slot
    assert!(std::mem::size_of::<Option<Peer>>() <= 88);
}

#[test]
fn names_compare_and_hash_as_specified() {
    for (a, b) in [
        ("", ""),
        ("a:1", "a:1"),
        ("10.0.0.1:9000", "10.0.0.1:9000"),
        ("10.0.0.1:9000", "10.0.0.2:9000"),
        ("10.0.0.1:9000", "10.0.0.1:900"),
        ("node-a.example:65535", "node-a.example:65534"),
        ("node-a.example:65535", "xode-a.example:65535"),
    ] {
        assert_eq!(same_name(a, b), a == b, "{a} {b}");
    }
    // fixed across builds and machines: other nodes compute it too
    assert_eq!(name_hash("10.0.0.1:9000"), name_hash("10.0.0.1:9000"));
    assert_ne!(name_hash("10.0.0.1:9000"), name_hash("10.0.0.2:9000"));
    assert_eq!(name_hash(""), 8_848_935_107_335_307_795);
}

/// A digest too large for one message lists slices of the name space in
/// turn; the responder tells which from the names, and sends first the
/// state of every peer in them that the requester did not name, which it
/// therefore does not know.
#[test]
fn a_split_digest_tells_the_responder_what_the_requester_lacks() {
    let config = small_config();
    let mut a = node_with(A, 1_000, config.clone(), 0);
    let mut b = node_with(B, 5_000, config.clone(), 0);
    let names: Vec<String> = (0..400)
        .map(|i| format!("10.2.{}.{}:7000", i / 256, i % 256))
        .collect();
    // b knows all 400, a the even ones
    for (i, name) in names.iter().enumerate() {
        let d = [delta(name, "k", Some(&[0x01]), 100)];
        feed(&mut b, &d, &[(name, 100)], &V1, 1);
        if i % 2 == 0 {
            feed(&mut a, &d, &[(name, 100)], &V1, 1);
        }
    }
    let mut covered_all = std::collections::HashSet::new();
    for _ in 0..60 {
        let bytes = a.request();
        assert!(bytes.len() <= config.max_outgoing_message_bytes);
        let req = as_request(&bytes);
        assert!(!req.ext.complete);
        let hashes: Vec<u64> = req.digest.iter().map(|i| name_hash(i.peer)).collect();
        let covered = digest_coverage(&req.digest, &hashes, false).expect("a run of slices");
        let listed: HashSet<&str> = req.digest.iter().map(|i| i.peer).collect();
        // every peer a knows in those slices is listed
        for (i, name) in names.iter().enumerate() {
            if covered.contains(name_hash(name)) {
                assert_eq!(
                    listed.contains(name.as_str()),
                    a.lookup(name).is_some(),
                    "{name}"
                );
                covered_all.insert(i);
            }
        }
        // b answers with the ones a lacks there, alongside what a named
        let first = b.handle_request(&req, 2).unwrap();
        let resp = as_first(&first);
        let lacking = |name: &str| covered.contains(name_hash(name)) && a.lookup(name).is_none();
        let sent_lacking = resp.updates.iter().filter(|d| lacking(d.peer)).count();
        let was_lacking = names.iter().filter(|n| lacking(n)).count();
        assert!(
            sent_lacking > 0 || was_lacking == 0,
            "{sent_lacking} of {was_lacking}"
        );
        a.handle_first_response(&resp, 2).unwrap();
        if names.iter().all(|n| a.lookup(n).is_some()) {
            break;
        }
    }
    assert!(
        names.iter().all(|n| a.lookup(n).is_some()),
        "a learnt every peer b knows"
    );
    assert!(covered_all.len() >= names.len() / 2);
    // a digest in any other order is not taken for slices
    let mut shuffled: Vec<(&str, u64, u64)> = names[..100]
        .iter()
        .map(|n| (n.as_str(), 100, 100))
        .collect();
    shuffled.insert(0, (A, 1, 1));
    let bytes = v1_request(&shuffled);
    let req = as_request(&bytes);
    let hashes: Vec<u64> = req.digest.iter().map(|i| name_hash(i.peer)).collect();
    assert_eq!(digest_coverage(&req.digest, &hashes, false), None);
    assert_eq!(
        digest_coverage(&req.digest, &hashes, true),
        Some(Covered::All)
    );
}

#[test]
fn no_peer_starves_under_a_tight_budget_while_others_keep_changing() {
    // b hears from 200 peers; 20 of them change constantly; a must still
    // get every one of the 180 quiet ones
    let config = small_config();
    let mut b = node_with(B, 5_000, config.clone(), 0);
    let mut a = node_with(A, 1_000, config, 0);
    let names: Vec<String> = (0..200)
        .map(|i| format!("10.1.{}.{}:7000", i / 256, i % 256))
        .collect();
    let value = vec![0xa4, b'a', b'b', b'c', b'd'];
    let mut versions = vec![100u64; names.len()];
    let mut now = 0;
    for round in 0..300 {
        now += 1000;
        for (i, name) in names.iter().enumerate() {
            if round == 0 || i < 20 {
                // busy peers write 5 keys a round
                let n = if round == 0 { 1 } else { 5 };
                let keys: Vec<String> = (0..n).map(|k| format!("k{k}")).collect();
                let deltas: Vec<Delta> = keys
                    .iter()
                    .enumerate()
                    .map(|(k, key)| delta(name, key, Some(&value), versions[i] + k as u64 + 1))
                    .collect();
                versions[i] += n as u64;
                feed(&mut b, &deltas, &[], &V1, now);
            }
        }
        a.tick(now);
        b.tick(now);
        // both ways, as in a cluster (with a only ever initiating, the busy
        // peers' deltas fill every FIRST_RESPONSE and the quiet ones never come)
        exchange(&mut a, &mut b, now);
        exchange(&mut b, &mut a, now);
        let quiet_served = names[20..].iter().all(|n| {
            a.lookup(n)
                .and_then(|id| a.peer(id))
                .is_some_and(|p| p.state.max_version >= 101)
        });
        if quiet_served {
            return;
        }
    }
    let missing = names[20..].iter().filter(|n| a.lookup(n).is_none()).count();
    let behind = names[20..]
        .iter()
        .filter(|n| {
            a.lookup(n)
                .and_then(|id| a.peer(id))
                .is_none_or(|p| p.state.max_version < 101)
        })
        .count();
    panic!("{missing} quiet peers never reached a, {behind} behind");
}

// ---- cluster names -----------------------------------------------------------------

#[test]
fn another_cluster_is_refused() {
    let named = |name: Option<&str>| Config {
        cluster_name: name.map(String::from),
        ..legacy()
    };
    let mut a = node_with(A, 1_000, named(Some("blue")), 0);
    let mut b = node_with(B, 5_000, named(Some("green")), 0);
    let mut c = node_with(C, 9_000, named(None), 0);
    let mut a2 = node_with("127.0.0.1:9004", 2_000, named(Some("blue")), 0);

    let req = a.request();
    assert_eq!(
        b.handle_request(&as_request(&req), 1),
        Err(Refusal::WrongCluster)
    );
    assert_eq!(
        c.handle_request(&as_request(&req), 1),
        Err(Refusal::WrongCluster)
    );
    let req = old_request(&[(OLD, 1)]);
    assert_eq!(
        a.handle_request(&as_request(&req), 1),
        Err(Refusal::WrongCluster)
    );
    // nothing was learnt from a refused message
    assert!(b.lookup(A).is_none() && c.lookup(A).is_none());

    // responses are checked too
    let req = a.request();
    let first = a2.handle_request(&as_request(&req), 2).unwrap();
    assert_eq!(
        b.handle_first_response(&as_first(&first), 2).err(),
        Some(Refusal::WrongCluster)
    );
    let second = a
        .handle_first_response(&as_first(&first), 2)
        .unwrap()
        .message;
    assert_eq!(
        b.handle_second_response(&as_second(&second), 2),
        Err(Refusal::WrongCluster)
    );
    a2.handle_second_response(&as_second(&second), 2).unwrap();
    assert!(a2.lookup(A).is_some(), "same cluster is fine");
}

// ---- caps against a hostile sender ----------------------------------------------------------

#[test]
fn state_caps_hold_against_a_hostile_sender() {
    let config = Config {
        max_keys_per_peer: 10,
        max_value_bytes: 64,
        max_peers: 20,
        ..legacy()
    };
    let mut b = node_with(B, 5_000, config, 0);
    let x = "10.0.0.1:1";
    let keys: Vec<String> = (0..100).map(|k| format!("k{k}")).collect();
    let small = msgpack_int(1);
    let mut big = vec![0xc4, 200];
    big.extend(std::iter::repeat_n(0u8, 200));
    let mut updates: Vec<Delta> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| delta(x, k, Some(&small), 10 + i as u64))
        .collect();
    updates.push(delta(x, "big", Some(&big), 1_000));
    feed(&mut b, &updates, &[], &V1, 1);
    let p = view(&b, x);
    assert_eq!(p.state.live_keys(), 10, "max_keys_per_peer");
    assert!(p.state.value("big").is_none(), "max_value_bytes");
    assert_eq!(b.stats.updates_refused, 91);
    // refused versions are skipped for good: asking again brings nothing
    assert_eq!(p.state.max_version, 1_000);

    // max_peers: 100 names by digest, 100 more by updates
    let names: Vec<String> = (0..200).map(|i| format!("10.9.0.{i}:1")).collect();
    let digest: Vec<(&str, u64)> = names[..100].iter().map(|n| (n.as_str(), 5)).collect();
    let req = old_request(&digest);
    let first = b.handle_request(&as_request(&req), 2).unwrap();
    assert!(as_first(&first).requests.len() <= 20);
    let updates: Vec<Delta> = names[100..]
        .iter()
        .map(|n| delta(n, "k", Some(&small), 5))
        .collect();
    feed(&mut b, &updates, &[], &V1, 3);
    assert_eq!(b.peers().count(), 20, "max_peers, ourselves included");
    assert!(b.stats.peers_refused >= 180);
    // and the node still works
    let mut a = node(A, 1_000, 0);
    let sizes = exchange(&mut a, &mut b, 4);
    assert!(sizes.first > 0);
}

#[test]
fn local_writes_respect_the_caps() {
    let config = Config {
        max_keys_per_peer: 2,
        max_value_bytes: 8,
        max_key_bytes: 4,
        ..legacy()
    };
    let mut a = node_with(A, 1_000, config, 0);
    // the heartbeat counts as one key
    assert!(a.set_local("a", Arc::from(msgpack_int(1)), 0).is_ok());
    assert_eq!(
        a.set_local("b", Arc::from(msgpack_int(1)), 0),
        Err(StateError::TooManyKeys { max: 2 })
    );
    assert!(
        a.set_local("a", Arc::from(msgpack_int(2)), 0).is_ok(),
        "overwrite is fine"
    );
    assert!(matches!(
        a.set_local("a", Arc::from(vec![0u8; 9]), 0),
        Err(StateError::ValueTooLarge { .. })
    ));
    assert!(matches!(
        a.set_local("toolong", Arc::from(msgpack_int(1)), 0),
        Err(StateError::KeyTooLong { .. })
    ));
    let mut d = node(B, 1_000, 0);
    for reserved in [HEARTBEAT_KEY, LEFT_KEY] {
        assert_eq!(
            d.set_local(reserved, Arc::from(msgpack_int(1)), 0),
            Err(StateError::ReservedKey(reserved.to_string()))
        );
        assert!(d.delete_local(reserved, 0).is_err());
    }
}

// ---- failure detection through the node ---------------------------------------------------

/// A peer first named in a digest and heard from a moment later must be
/// judged from the initial interval, not from the few milliseconds between
/// the two (which made it "failed" after about 2 s of ordinary silence).
#[test]
fn a_peer_heard_of_then_heard_from_is_not_judged_on_the_gap() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    // b names itself to a (a registers it), then a hears b's state 10 ms later
    let req = b.request();
    let first = a.handle_request(&as_request(&req), 1_000).unwrap();
    let second = b
        .handle_first_response(&as_first(&first), 1_005)
        .unwrap()
        .message;
    a.handle_second_response(&as_second(&second), 1_010)
        .unwrap();
    events(&mut a);
    let cfg = a.config().detector.clone();
    let id = a.lookup(B).unwrap();
    assert_eq!(a.detector_mean(id), Some(cfg.initial_interval_ms));
    assert_eq!(view(&a, B).last_heard(), Some(1_010));
    // 2.5 s later, without news: not failed
    a.tick(2_000);
    a.tick(3_000);
    a.tick(3_500);
    assert!(!has(&events(&mut a), "failed", B));
    assert!(view(&a, B).alive);
}

#[test]
fn a_silent_peer_fails_and_comes_back() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    let mut now = gossip(&mut a, &mut b, 0, 30);
    events(&mut a);
    let stopped = now;
    let failed_at = loop {
        now += 1000;
        a.tick(now);
        if has(&events(&mut a), "failed", B) {
            break now;
        }
        assert!(now - stopped < 60_000);
    };
    // the default (normal) model: within a few seconds of 1 s heartbeats
    assert!(failed_at - stopped <= 6_000, "{} ms", failed_at - stopped);
    now += 1000;
    b.tick(now);
    exchange(&mut b, &mut a, now);
    now += 1000;
    a.tick(now);
    assert!(has(&events(&mut a), "alive", B));
}

// ---- values larger than the batching target -------------------------------------------

/// A msgpack bin of `n` bytes.
fn msgpack_bin(n: usize) -> Vec<u8> {
    let mut v = vec![0xc6];
    v.extend_from_slice(&(n as u32).to_be_bytes());
    v.resize(5 + n, 0xab);
    v
}

#[test]
fn an_update_larger_than_the_batching_target_travels_alone_then_the_rest_follows() {
    let config = Config {
        max_outgoing_message_bytes: 4096,
        ..legacy()
    };
    config.validate().unwrap();
    let mut a = node_with(A, 1_000, config.clone(), 0);
    let mut b = node_with(B, 5_000, config.clone(), 0);
    let big: Value = Arc::from(msgpack_bin(100_000));
    a.set_local("big", big.clone(), 0).unwrap();
    a.set_local("small", Arc::from(&[0x01][..]), 0).unwrap();
    // b asks until it has everything; the message that carries the big
    // update carries nothing else, over the target but within the ceiling,
    // and announces that more is left; every other stays within the target
    let mut carried_big = 0;
    for now in 1..10 {
        let req = b.request();
        let first = a.handle_request(&as_request(&req), now).unwrap();
        let resp = as_first(&first);
        let keys: Vec<&str> = resp.updates.iter().map(|d| d.key).collect();
        let second = b.handle_first_response(&resp, now).unwrap();
        if keys.contains(&"big") {
            carried_big += 1;
            assert_eq!(keys, ["big"], "alone");
            assert!(first.len() > 4096 && first.len() <= config.max_message_bytes);
            assert!(second.more, "the rest is announced for a catch-up");
        } else {
            assert!(first.len() <= 4096, "{} bytes", first.len());
        }
        if value_of(&b, A, "small").is_some() {
            break;
        }
    }
    assert_eq!(carried_big, 1);
    assert_eq!(value_of(&b, A, "big").as_deref(), Some(&big[..]));
    assert_eq!(value_of(&b, A, "small"), Some(vec![0x01]));
}

#[test]
fn remote_state_is_bounded_all_together() {
    let config = Config {
        max_state_bytes: 10_000,
        ..legacy()
    };
    let mut b = node_with(B, 5_000, config, 0);
    let value = msgpack_bin(3_000);
    for i in 0..5 {
        let peer = format!("10.0.0.{i}:1");
        feed(&mut b, &[delta(&peer, "k", Some(&value), 10)], &[], &V1, 1);
    }
    let held = b
        .peers()
        .filter(|(id, _)| *id != b.me_id())
        .map(|(_, p)| p.state.bytes())
        .sum::<usize>();
    assert!(held <= 10_000, "held {held} bytes");
    assert_eq!(b.stats.updates_refused, 2);
    // a rewrite that does not grow what is held is still taken
    feed(
        &mut b,
        &[delta("10.0.0.0:1", "k", Some(&[1]), 11)],
        &[],
        &V1,
        2,
    );
    assert_eq!(value_of(&b, "10.0.0.0:1", "k"), Some(vec![1]));
    // and the room it freed takes a refused peer's next write
    feed(
        &mut b,
        &[delta("10.0.0.4:1", "k", Some(&value), 12)],
        &[],
        &V1,
        3,
    );
    assert_eq!(
        value_of(&b, "10.0.0.4:1", "k").map(|v| v.len()),
        Some(3_005)
    );
}

// ---- stop, then start again in the same process --------------------------------------

#[test]
fn a_node_started_again_blames_no_peer_for_its_own_silence() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    let mut c = node(C, 9_000, 0);
    let mut now = 0;
    for _ in 0..20 {
        now += 1000;
        for n in [&mut a, &mut b, &mut c] {
            n.tick(now);
        }
        exchange(&mut a, &mut b, now);
        exchange(&mut a, &mut c, now);
        exchange(&mut b, &mut c, now);
    }
    a.take_events();
    a.stop();
    // thirty seconds stopped: b runs on, c dies meanwhile
    for _ in 0..30 {
        now += 1000;
        b.tick(now);
    }
    a.start(A, &[], now);
    a.check_liveness(now);
    assert!(
        !events(&mut a).iter().any(|(k, _)| k == "failed"),
        "nobody is failed for our silence"
    );
    // from now on b is heard and c is not: c is reported after the usual
    // detection time, and b never
    let restarted = now;
    let mut c_failed_at = None;
    for _ in 0..40 {
        now += 250;
        if now % 1000 == 0 {
            a.tick(now);
            b.tick(now);
            exchange(&mut a, &mut b, now);
        }
        a.check_liveness(now);
        for (kind, who) in events(&mut a) {
            if kind == "failed" {
                assert_eq!(who, C, "only the dead peer fails");
                c_failed_at.get_or_insert(now);
            }
        }
    }
    let took = c_failed_at.expect("c reported failed") - restarted;
    assert!(
        (3_000..=10_000).contains(&took),
        "c failed {took} ms after the start"
    );
}

// ---- a restarted peer: no flapping ------------------------------------------------------

#[test]
fn a_restarted_peer_is_alive_before_its_news_and_keys_set_again_are_never_deleted() {
    let mut a = node(A, 1_000, 0);
    let mut b = node(B, 5_000, 0);
    for k in ["role", "pid", "load", "gone"] {
        a.set_local(k, Arc::from(msgpack_int(1)), 0).unwrap();
    }
    let mut now = gossip(&mut a, &mut b, 0, 5);
    // a is killed; b reports it failed
    for _ in 0..20 {
        now += 1000;
        b.tick(now);
    }
    assert!(has(&events(&mut b), "failed", A));
    // a new process on the same address sets its keys again, but one of
    // them only a moment after its first exchange
    let mut a2 = node(A, 100_000_000, now);
    a2.set_local("role", Arc::from(msgpack_int(1)), 0).unwrap();
    a2.set_local("pid", Arc::from(msgpack_int(2)), 0).unwrap();
    exchange(&mut a2, &mut b, now + 10);
    let ev = events(&mut b);
    let alive_at = ev.iter().position(|(k, w)| k == "alive" && w == A);
    let first_update = ev.iter().position(|(k, _)| k == "update");
    assert!(
        alive_at.is_some() && alive_at < first_update,
        "alive first: {ev:?}"
    );
    assert!(!ev.iter().any(|(k, _)| k == "delete"), "{ev:?}");
    a2.set_local("load", Arc::from(msgpack_int(3)), 0).unwrap();
    exchange(&mut a2, &mut b, now + 500);
    // the grace ends: only the key the new life never set is deleted
    let mut deleted = Vec::new();
    for t in [1_000, 3_000, 6_000, 10_000] {
        b.check_liveness(now + t);
        deleted.extend(
            events(&mut b)
                .into_iter()
                .filter(|(k, _)| k == "delete")
                .map(|(_, w)| w),
        );
    }
    assert_eq!(deleted, vec![format!("{A}/gone")]);
    assert_eq!(value_of(&b, A, "load"), Some(msgpack_int(3)));
}
