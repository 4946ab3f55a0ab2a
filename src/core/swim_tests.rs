//! Unit tests of the probes' side of a node, datagrams crafted by hand: what
//! a node does with the summaries a probe brings.

use super::*;
use crate::wire::datagram::encode;

const A: &str = "127.0.0.1:9001";
const B: &str = "127.0.0.1:9002";

fn probing(name: &str, now: Millis) -> Node {
    let mut n = Node::new(Config::default(), 1, 7);
    n.start(name, &[], now);
    n.take_events();
    n
}

/// A datagram from `from` to `to` carrying the sender's hashes.
fn crafted(kind: DatagramKind, seq: u64, from: &str, to: &str, hashes: (u64, u64)) -> Vec<u8> {
    let mut out = Vec::new();
    let (summary, members) = hashes;
    encode(
        &mut out,
        &Datagram {
            kind,
            from,
            cluster: None,
            seq,
            summary,
            members,
            about: Some(to),
            items: Vec::new(),
        },
    );
    out
}

fn ping(from: &str, to: &str, hashes: (u64, u64)) -> Vec<u8> {
    crafted(DatagramKind::Ping, 1, from, to, hashes)
}

/// Carries out what the node sent at `now`: `B` acks its probes at once,
/// with the node's own hashes (nothing to repair); returns the exchanges
/// it opened.
fn answer(n: &mut Node, now: Millis) -> Vec<ExchangeId> {
    answer_seeing(n, now, &mut |_| {})
}

/// `answer`, showing each transmit to `seen` first.
fn answer_seeing(n: &mut Node, now: Millis, seen: &mut dyn FnMut(&Transmit)) -> Vec<ExchangeId> {
    let mut ids = Vec::new();
    while let Some(t) = n.poll_transmit() {
        seen(&t);
        match t {
            Transmit::Connect { exchange, .. } => ids.push(exchange),
            Transmit::Datagram { to, bytes } if &*to == B => {
                let d = datagram::decode(&bytes).expect("decodes");
                if d.kind == DatagramKind::Ping {
                    let hashes = (n.summary(), n.members_hash());
                    let ack = crafted(DatagramKind::Ack, d.seq, B, B, hashes);
                    n.handle_datagram(B, &ack, now).unwrap();
                }
            }
            _ => {}
        }
    }
    ids
}

/// Runs the node's timers from `from` to `to`, as its driver would.
fn run(n: &mut Node, from: Millis, to: Millis) {
    run_seeing(n, from, to, &mut |_| {});
}

/// `run`, showing each transmit to `seen`.
fn run_seeing(n: &mut Node, from: Millis, to: Millis, seen: &mut dyn FnMut(&Transmit)) {
    let mut now = from;
    while now < to {
        now = n.poll_timeout().map_or(to, |t| t.clamp(now, to));
        n.handle_timeout(now);
        answer_seeing(n, now, seen);
        now += 1;
    }
}

/// A node whose own writes keep its summary changing repairs only at the
/// busy pace when summaries differ (the difference is likely news on its
/// way), but at once when the memberships differ and its own has settled:
/// a peer one of the two missed comes with no news.
#[test]
fn a_busy_node_repairs_a_differing_membership_at_once() {
    let start = 1_000;
    let mut a = probing(A, start);
    // past its joining rounds; the first difference repairs at once
    let t = start + (JOINING_ROUNDS + 1) * 1000;
    run(&mut a, start, t);
    a.handle_datagram(B, &ping(B, A, (1, 2)), t).unwrap();
    let first = answer(&mut a, t);
    assert_eq!(first.len(), 1, "a first repair");
    a.handle_exchange_failure(first[0], Failure::Connect, t);
    // three seconds of writes: the summary is busy, the membership settled
    let mut now = t;
    for i in 0..15u8 {
        run(&mut a, now, now + 200);
        now += 200;
        a.set_local("k", Arc::from(vec![i]), now).unwrap();
        answer(&mut a, now);
    }
    let (summary, members) = (a.summary(), a.members_hash());
    // the same membership, other versions: busy, so not yet
    a.handle_datagram(B, &ping(B, A, (summary ^ 1, members)), now)
        .unwrap();
    assert!(
        answer(&mut a, now).is_empty(),
        "versions alone wait for the busy pace"
    );
    // another membership: at once
    a.handle_datagram(B, &ping(B, A, (summary ^ 1, members ^ 1)), now)
        .unwrap();
    assert_eq!(
        answer(&mut a, now).len(),
        1,
        "a membership difference is repaired"
    );
    assert_eq!(a.stats().repairs, 2);
}

/// One ack that came late (a loaded process, say) stretches the probe
/// period, and the stretch fades with time: a few seconds later the node
/// probes at its usual pace again, although the stretched periods brought
/// few samples meanwhile.
#[test]
fn a_late_ack_stretches_the_probes_for_seconds_only() {
    let start = 1_000;
    let mut a = probing(A, start);
    a.handle_datagram(B, &ping(B, A, (a.summary(), a.members_hash())), start)
        .unwrap();
    answer(&mut a, start);
    let usual = a.probe_period();
    // the next probe of B goes unanswered for 900 ms, then its ack comes
    let mut now = start;
    let seq = loop {
        now = a.poll_timeout().expect("timers").max(now);
        a.handle_timeout(now);
        let sent = std::iter::from_fn(|| a.poll_transmit()).find_map(|t| match t {
            Transmit::Datagram { bytes, .. } => datagram::decode(&bytes)
                .ok()
                .filter(|d| d.kind == DatagramKind::Ping)
                .map(|d| d.seq),
            _ => None,
        });
        if let Some(seq) = sent {
            break seq;
        }
    };
    let late = now + 900;
    let ack = crafted(
        DatagramKind::Ack,
        seq,
        B,
        B,
        (a.summary(), a.members_hash()),
    );
    a.handle_datagram(B, &ack, late).unwrap();
    assert!(
        a.probe_period() >= 3 * usual,
        "stretched: {}",
        a.probe_period()
    );
    run(&mut a, late, late + 10_000);
    assert_eq!(a.probe_period(), usual, "back to the usual pace");
}

/// A gossip datagram from `from` carrying one small delta of peer `of`.
fn gossip_delta(from: &str, of: &str, key: &str, version: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode(
        &mut out,
        &Datagram {
            kind: DatagramKind::Gossip,
            from,
            cluster: None,
            seq: 0,
            summary: 1,
            members: 2,
            about: None,
            items: vec![Item::Delta {
                peer: of,
                version,
                // a first incarnation: its versions start here
                generation: version,
                flags: 1,
                key,
                value: Some(&[0x01]),
                ttl_ms: None,
            }],
        },
    );
    out
}

/// Runs the node's timers from `from` to `to` (`run`), and counts the items
/// about `of` its datagrams carried.
fn items_sent_about(n: &mut Node, of: &str, from: Millis, to: Millis) -> usize {
    let mut count = 0;
    run_seeing(n, from, to, &mut |t| {
        if let Transmit::Datagram { bytes, .. } = t {
            let d = datagram::decode(bytes).expect("decodes");
            count += d
                .items
                .iter()
                .filter(|i| matches!(i, Item::Delta { peer, .. } if *peer == of))
                .count();
        }
    });
    count
}

/// Rumour mongering with feedback: news that others keep sending back is
/// spread less, down to not at all once it came back as often as it would
/// be sent, also when it is the only news of its peer in the queue (the
/// usual case while a cluster forms: one join per peer).
#[test]
fn news_that_keeps_coming_back_is_sent_less() {
    const C: &str = "127.0.0.1:9003";
    let start = 1_000;
    let spread = |echoes: usize| {
        let mut a = probing(A, start);
        a.handle_datagram(B, &ping(B, A, (a.summary(), a.members_hash())), start)
            .unwrap();
        answer(&mut a, start);
        a.handle_datagram(B, &gossip_delta(B, C, "k", 5), start)
            .unwrap();
        for _ in 0..echoes {
            a.handle_datagram(B, &gossip_delta(B, C, "k", 5), start)
                .unwrap();
        }
        let limit = a.retransmits();
        (items_sent_about(&mut a, C, start, start + 20_000), limit)
    };
    let (alone, limit) = spread(0);
    assert_eq!(alone, limit, "news nobody sends back goes out in full");
    let (echoed, _) = spread(1);
    assert_eq!(echoed, limit - 1, "each echo counts as one send");
    let (drowned, _) = spread(limit);
    assert_eq!(drowned, 0, "news heard back often enough is not sent");
}
