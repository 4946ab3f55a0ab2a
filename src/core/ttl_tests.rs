//! Keys with a time to live: nodes wired by hand through the same calls the
//! runtime makes (`accept`, `handle_message`, `handle_timeout`), messages
//! crafted as an old node-gossip peer sends them, and the simulator.

use super::*;
use crate::core::node::tests::request_with as request;
use crate::core::node::Transmit;
use crate::wire::message::PROTOCOL;
use crate::wire::{decode, Incoming};

const A: &str = "127.0.0.1:9001";
const B: &str = "127.0.0.1:9002";
const C: &str = "127.0.0.1:9003";
const D: &str = "127.0.0.1:9004";
const OLD: &str = "127.0.0.1:9100";

fn node(name: &str, generation: u64, now: Millis) -> Node {
    let config = Config {
        push_on_change: false,
        ..Config::default()
    };
    let mut n = Node::new(config, generation, generation ^ 0x77);
    n.start(name, &[], now);
    n.take_events();
    n
}

/// One exchange started by `a`, carried as the runtime carries it.
fn exchange(a: &mut Node, b: &mut Node, now: Millis) {
    let to = b.name().clone();
    let opened = a.open_exchange(to, false);
    let message = loop {
        match a.poll_transmit().expect("the exchange's REQUEST") {
            Transmit::Connect {
                exchange, message, ..
            } if exchange == opened => break message,
            _ => {}
        }
    };
    let served = b.accept(a.name(), now);
    let first = b.handle_message(served, &message, now).unwrap();
    let second = a.handle_message(opened, &first.message.unwrap(), now);
    let second = second.unwrap().message.expect("SECOND_RESPONSE");
    assert!(b.handle_message(served, &second, now).unwrap().end);
}

/// Serves `request` (bytes) at `node` and returns its FIRST_RESPONSE.
fn serve(node: &mut Node, request: &[u8], now: Millis) -> Vec<u8> {
    let id = node.accept(OLD, now);
    node.handle_message(id, request, now)
        .unwrap()
        .message
        .unwrap()
}

const V1: Ext<'static> = Ext {
    protocol: PROTOCOL,
    cluster: None,
    complete: false,
    more: false,
};

fn id(node: &Node, name: &str) -> PeerId {
    node.lookup(name)
        .unwrap_or_else(|| panic!("{name} unknown"))
}

fn entry(node: &Node, owner: &str, key: &str) -> Option<crate::core::peer_state::Entry> {
    let p = node.peer(node.lookup(owner)?)?;
    p.state.get(key).cloned()
}

fn live(node: &Node, owner: &str, key: &str) -> bool {
    entry(node, owner, key).is_some_and(|e| e.value.is_some())
}

/// The keys `node` reported deleted, as "owner/key".
fn deletes(node: &mut Node) -> Vec<String> {
    let events = node.take_events();
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Delete { peer, key } => {
                let name = node.peer(peer).map_or("?".into(), |p| p.name.to_string());
                Some(format!("{name}/{key}"))
            }
            _ => None,
        })
        .collect()
}

fn lease() -> Value {
    Arc::from(&[0xa2, b'o', b'k'][..])
}

#[test]
fn a_key_expires_at_its_owner_and_at_every_holder_on_schedule() {
    let (mut a, mut b, mut c) = (node(A, 1000, 0), node(B, 5000, 0), node(C, 9000, 0));
    a.set_local_expiring("lease", lease(), 5000, 1000).unwrap();
    assert_eq!(a.time_left(a.me_id(), "lease"), Some(5000));
    exchange(&mut b, &mut a, 1000);
    assert!(live(&b, A, "lease"));
    assert_eq!(b.time_left(id(&b, A), "lease"), Some(5000));
    // relayed 500 ms later, with the time it has left then: C's deadline
    // is B's, whose clock C never sees
    exchange(&mut c, &mut b, 1500);
    assert_eq!(c.time_left(id(&c, A), "lease"), Some(4500));
    let version = entry(&c, A, "lease").unwrap().version;
    for n in [&mut a, &mut b, &mut c] {
        assert_eq!(n.next_expiry(), Some(6000), "{}", n.name());
        assert!(n.poll_timeout().unwrap() <= 6000);
        n.handle_timeout(5999);
        assert!(deletes(n).is_empty(), "{} deleted early", n.name());
    }
    assert!(live(&a, A, "lease") && live(&b, A, "lease") && live(&c, A, "lease"));
    for n in [&mut a, &mut b, &mut c] {
        n.handle_timeout(6000);
        assert_eq!(deletes(n), vec![format!("{A}/lease")], "{}", n.name());
        assert!(!live(n, A, "lease"));
        assert_eq!(n.next_expiry(), None);
    }
    // holders keep a tombstone at the version they had (they cannot write
    // the owner's state), the owner one at a new version, as a deletion
    assert_eq!(entry(&b, A, "lease").unwrap().version, version);
    assert_eq!(entry(&c, A, "lease").unwrap().version, version);
    let tomb = a.local_state().get("lease").unwrap().clone();
    assert!(tomb.value.is_none() && tomb.version > version);
    assert!(!a.local_state().keys().any(|k| &**k == "lease"));
    // the owner's tombstone reaches them without a second `delete`
    exchange(&mut b, &mut a, 6100);
    assert_eq!(entry(&b, A, "lease").unwrap().version, tomb.version);
    assert!(deletes(&mut b).is_empty());
}

#[test]
fn the_deletion_survives_the_owner() {
    let (mut a, mut b) = (node(A, 1000, 0), node(B, 5000, 0));
    a.set_local_expiring("lease", lease(), 10_000, 0).unwrap();
    exchange(&mut b, &mut a, 0);
    a.stop(); // killed: it never writes its tombstone
              // a node that hears of the key only after the owner died gets it from a
              // holder, with the time it has left
    let mut c = node(C, 9000, 3000);
    exchange(&mut c, &mut b, 3000);
    assert!(live(&c, A, "lease"));
    assert_eq!(c.time_left(id(&c, A), "lease"), Some(7000));
    for n in [&mut b, &mut c] {
        n.handle_timeout(9999);
        assert!(live(n, A, "lease"), "{}", n.name());
        n.handle_timeout(10_000);
        assert!(!live(n, A, "lease"), "{}", n.name());
        assert_eq!(deletes(n), vec![format!("{A}/lease")]);
    }
    // one that comes later still learns the key is gone, not its value
    let mut d = node(D, 12_000, 20_000);
    exchange(&mut d, &mut b, 20_000);
    assert!(d.lookup(A).is_some(), "D learnt of A");
    assert!(!live(&d, A, "lease"));
    let updates = d.take_events();
    assert!(
        !updates
            .iter()
            .any(|e| matches!(e, Event::Update { key, .. } if &**key == "lease")),
        "{updates:?}"
    );
    // and an old copy of the value (the same version) cannot bring it back
    exchange(&mut b, &mut c, 21_000);
    assert!(!live(&b, A, "lease") && !live(&c, A, "lease"));
}

#[test]
fn writing_the_key_again_replaces_its_deadline() {
    let (mut a, mut b) = (node(A, 1000, 0), node(B, 5000, 0));
    a.set_local_expiring("lease", lease(), 1000, 0).unwrap();
    exchange(&mut b, &mut a, 0);
    // renewed before it is due: the first deadline does nothing
    a.set_local_expiring("lease", lease(), 5000, 500).unwrap();
    exchange(&mut b, &mut a, 500);
    for n in [&mut a, &mut b] {
        n.handle_timeout(1000);
        assert!(live(n, A, "lease"), "{}", n.name());
        assert!(deletes(n).is_empty());
        assert_eq!(n.next_expiry(), Some(5500));
        n.handle_timeout(5500);
        assert!(!live(n, A, "lease"));
    }
    // written without a time to live: permanent, at the owner and at holders
    a.set_local_expiring("flag", lease(), 1000, 6000).unwrap();
    exchange(&mut b, &mut a, 6000);
    assert_eq!(b.next_expiry(), Some(7000));
    a.set_local("flag", lease(), 6500).unwrap();
    exchange(&mut b, &mut a, 6500);
    assert_eq!(b.next_expiry(), None, "B dropped the deadline");
    assert_eq!(b.time_left(id(&b, A), "flag"), None);
    for n in [&mut a, &mut b] {
        n.handle_timeout(7000);
        n.handle_timeout(100_000);
        assert!(live(n, A, "flag"), "{}", n.name());
    }
    // deleted and set again before the deadline: the new value stays
    a.set_local_expiring("k", lease(), 1000, 200_000).unwrap();
    assert_eq!(a.delete_local("k", 200_100), Ok(true));
    a.set_local("k", lease(), 200_200).unwrap();
    a.handle_timeout(201_000);
    assert!(live(&a, A, "k"));
}

#[test]
fn old_peers_get_plain_values_and_see_the_deletion_as_null() {
    let mut a = node(A, 1000, 0);
    a.set_local_expiring("lease", lease(), 5000, 0).unwrap();
    let ours = a.local_state().get("lease").unwrap().version;
    let lease_of = |bytes: &[u8]| {
        let Incoming::FirstResponse(r) = decode(bytes).unwrap() else {
            panic!("not a FIRST_RESPONSE")
        };
        let d = r.updates.iter().find(|d| d.key == "lease").copied();
        d.map(|d| (d.value.map(<[u8]>::to_vec), d.version, d.ttl_ms))
    };
    let old = serve(&mut a, &request(&[(A, 0)], &Ext::default()), 1000);
    assert_eq!(lease_of(&old), Some((Some(lease().to_vec()), ours, None)));
    // the four elements node-gossip reads, no more: 0x94 then the peer name
    let mut tuple = vec![0x94, 0xa0 | A.len() as u8];
    tuple.extend_from_slice(A.as_bytes());
    tuple.extend_from_slice(&[0xa5]);
    tuple.extend_from_slice(b"lease");
    assert!(old.windows(tuple.len()).any(|w| w == tuple));
    let new = serve(&mut a, &request(&[(A, 0)], &V1), 1000);
    assert_eq!(
        lease_of(&new),
        Some((Some(lease().to_vec()), ours, Some(4000)))
    );
    // after expiry an old peer reads null, at a version above what it holds
    a.handle_timeout(5000);
    let old = serve(&mut a, &request(&[(A, ours)], &Ext::default()), 5100);
    let (value, version, ttl) = lease_of(&old).expect("the deletion");
    assert!(version > ours && ttl.is_none());
    assert_eq!(value, None, "written as nil, the value old peers read");
}

#[test]
fn a_key_due_before_its_timer_fired_goes_out_as_a_deletion() {
    let (mut a, mut b) = (node(A, 1000, 0), node(B, 5000, 0));
    a.set_local_expiring("lease", lease(), 1000, 0).unwrap();
    exchange(&mut b, &mut a, 0);
    // C asks B at 1000 before B's timer has run: B sends no value
    let mut c = node(C, 9000, 1000);
    exchange(&mut c, &mut b, 1000);
    assert!(!live(&c, A, "lease"));
    assert!(entry(&c, A, "lease").is_some_and(|e| e.value.is_none()));
}

#[test]
fn a_stopped_node_expires_nothing_until_it_starts_again() {
    let (mut a, mut b) = (node(A, 1000, 0), node(B, 5000, 0));
    a.set_local_expiring("lease", lease(), 1000, 0).unwrap();
    exchange(&mut b, &mut a, 0);
    b.stop();
    assert_eq!(b.poll_timeout(), None, "no timer while stopped");
    b.handle_timeout(2000);
    assert!(live(&b, A, "lease"));
    b.start(B, &[], 3000);
    b.take_events();
    assert!(b.poll_timeout().unwrap() <= 3000, "due at once");
    b.handle_timeout(3000);
    assert!(!live(&b, A, "lease"));
    assert_eq!(deletes(&mut b), vec![format!("{A}/lease")]);
}

#[test]
fn claimed_times_are_bounded_and_the_protocol_keys_never_expire() {
    let mut b = node(B, 5000, 0);
    let gen = 1_000_000;
    let deltas = [
        Delta {
            peer: A,
            key: HEARTBEAT_KEY,
            value: Some(&[0x01]),
            version: gen,
            ttl_ms: Some(10),
        },
        Delta {
            peer: A,
            key: "forever",
            value: Some(&[0x02]),
            version: gen + 1,
            ttl_ms: Some(crate::wire::MAX_VERSION),
        },
    ];
    let mut second = Vec::new();
    crate::wire::message::encode_response(&mut second, None, &deltas, &[(A, gen)], &V1);
    let first_req = request(&[(A, gen + 1)], &V1);
    let id_b = b.accept(A, 100);
    b.handle_message(id_b, &first_req, 100).unwrap();
    b.handle_message(id_b, &second, 100).unwrap();
    let a = id(&b, A);
    assert!(live(&b, A, "forever"));
    assert_eq!(b.time_left(a, "forever"), Some(MAX_TTL_MS));
    assert_eq!(b.time_left(a, HEARTBEAT_KEY), None);
    assert_eq!(b.next_expiry(), Some(100 + MAX_TTL_MS));
}

#[test]
fn a_new_incarnation_keeps_our_deadlines() {
    let mut a = node(A, 1000, 0);
    a.set_local_expiring("lease", lease(), 5000, 0).unwrap();
    a.set_local_expiring("made-permanent", lease(), 5000, 0)
        .unwrap();
    a.set_local("made-permanent", lease(), 10).unwrap();
    let before = a.local_state().get("lease").unwrap().version;
    let floor = a.local_state().max_version + 100;
    a.rebirth(floor);
    assert!(a.local_state().get("lease").unwrap().version > floor);
    assert!(a.local_state().get("lease").unwrap().version > before);
    assert_eq!(a.time_left(a.me_id(), "lease"), Some(5000));
    assert_eq!(a.time_left(a.me_id(), "made-permanent"), None);
    a.handle_timeout(5000);
    assert!(!live(&a, A, "lease"));
    assert!(live(&a, A, "made-permanent"));
}

/// The cluster as a whole, in the simulator: 1–10 ms per message, 1 s rounds.
#[cfg(feature = "sim")]
mod sim {
    use crate::core::time::Millis;
    use crate::sim::{msgpack_str, Sim, SimConfig};

    const TTL: Millis = 8000;
    /// How long after the owner's deadline every holder has deleted the key:
    /// a copy lives longer by the time it spent in transit, a few hops of at
    /// most 10 ms here.
    const SLACK: Millis = 200;

    fn formed(n: usize, seed: u64) -> Sim {
        let mut sim = Sim::new(SimConfig::new(n, seed));
        let deadline = sim.now() + 30_000;
        sim.run_until_cond(deadline, 100, |s| s.all_know_all() && s.converged())
            .expect("formed");
        sim
    }

    /// Up nodes other than `owner` that hold `key` of `owner` live.
    fn holders(sim: &Sim, owner: usize, key: &str) -> Vec<usize> {
        let name = sim.name(owner).clone();
        sim.up()
            .into_iter()
            .filter(|&i| i != owner)
            .filter(|&i| {
                let node = sim.node(i);
                let p = node.lookup(&name).and_then(|id| node.peer(id));
                p.is_some_and(|p| p.state.value(key).is_some())
            })
            .collect()
    }

    #[test]
    fn an_expiring_key_goes_everywhere_on_schedule() {
        let n = 40;
        let mut sim = formed(n, 11);
        let owner = 7;
        let t0 = sim.now();
        let deletes = sim.total_counts().delete;
        sim.set_expiring(owner, "lease", &msgpack_str("held"), TTL)
            .unwrap();
        let spread =
            sim.run_until_cond(t0 + TTL, 50, |s| holders(s, owner, "lease").len() == n - 1);
        let spread = spread.expect("the key reached everyone") - t0;
        println!("lease everywhere after {spread} ms");
        sim.run_until(t0 + TTL - 1);
        assert_eq!(holders(&sim, owner, "lease").len(), n - 1, "none early");
        sim.run_until(t0 + TTL + SLACK);
        assert_eq!(holders(&sim, owner, "lease"), Vec::<usize>::new());
        assert!(sim.node(owner).local_state().value("lease").is_none());
        // one `delete` per node: its own expiry, or the owner's tombstone
        assert_eq!(sim.total_counts().delete - deletes, n as u64);
        sim.run_rounds(5);
        assert!(sim.converged() && sim.value_everywhere(owner, "lease"));
        assert_eq!(
            sim.total_counts().delete - deletes,
            n as u64,
            "no second one"
        );
    }

    #[test]
    fn an_expiring_key_goes_everywhere_after_its_owner_was_killed() {
        let n = 40;
        let mut sim = formed(n, 12);
        let owner = 7;
        let t0 = sim.now();
        sim.set_expiring(owner, "lease", &msgpack_str("held"), TTL)
            .unwrap();
        sim.run_until_cond(t0 + TTL, 50, |s| holders(s, owner, "lease").len() == n - 1)
            .expect("the key reached everyone");
        sim.run_until(t0 + 2000);
        sim.kill(owner);
        // a node restarted now (a new process, empty) hears of the key only
        // from the holders, with the time it has left
        let late = 30;
        sim.run_until(t0 + 3000);
        sim.restart(late);
        let relayed = sim.run_until_cond(t0 + TTL - 1, 50, |s| {
            holders(s, owner, "lease").contains(&late)
        });
        assert!(relayed.is_some(), "the restarted node got the key");
        let counts = sim.total_counts().delete;
        sim.run_until(t0 + TTL - 1);
        assert_eq!(holders(&sim, owner, "lease").len(), n - 1, "none early");
        sim.run_until(t0 + TTL + SLACK);
        assert_eq!(holders(&sim, owner, "lease"), Vec::<usize>::new());
        assert_eq!(sim.total_counts().delete - counts, n as u64 - 1);
        // a node that starts after the deadline never sees it live
        let later = 31;
        sim.restart(later);
        sim.run_rounds(10);
        assert!(sim.node(later).lookup(sim.name(owner)).is_some());
        assert!(!holders(&sim, owner, "lease").contains(&later));
    }
}
