//! Two or three `Node`s driven by an arbitrary sequence of operations: honest
//! exchanges (whole or cut short), ticks, local writes and deletes, leaves,
//! kills and restarts, and messages from a hostile peer — structured ones
//! written with the crate's own encoders, replays of recorded traffic, and
//! raw bytes — all through the real scanner and decoder.
//!
//! Invariants, checked after every operation:
//! - nothing panics;
//! - every peer's state respects the caps (`max_keys_per_peer`,
//!   `max_peer_state_bytes`, `max_peers`), its counters match its entries,
//!   and every entry lies between the peer's generation and max version;
//! - a node never accepts updates about itself: its own keys and values are
//!   changed only by its own writes (a rebirth rewrites the same values);
//! - versions never decrease, per peer and per key;
//! - a refused message changes nothing;
//! - honest messages are within `max_outgoing_message_bytes` and always
//!   accepted by honest peers.
//!
//! And at the end of a run in which only honest nodes talked to each other:
//! - after a few rounds of honest exchanges every running node holds every
//!   other running node's state exactly (but for keys whose tombstone the
//!   owner collected before it reached a peer: `tombstone_ttl_ms`'s trade).
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Arbitrary;
use gossiper::core::node::{HEARTBEAT_KEY, LEFT_KEY};
use gossiper::core::node::Transmit;
use gossiper::core::{Config, Event, Node};
use gossiper::wire::message::{encode_request, encode_response};
use gossiper::wire::write::{write_array_len, write_bool, write_nil, write_str, write_uint};
use gossiper::wire::{decode, Delta, DigestItem, Ext, Incoming, ScanLimits, Scanner, MAX_VERSION};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 3] = ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"];
/// Versions are seeded from a wall clock in microseconds.
const WALL_BASE: u64 = 1_700_000_000_000_000;
const CLUSTER: &str = "fuzz";

// ---- fuzz input ----------------------------------------------------------

#[derive(Arbitrary, Debug)]
struct Input {
    cfg: CfgIn,
    three: bool,
    seed: u64,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct CfgIn {
    max_keys_per_peer: u8,
    max_peer_state_bytes: u16,
    max_peers: u8,
    max_key_bytes: u8,
    max_value_bytes: u8,
    max_value_depth: u8,
    outgoing_extra: u16,
    incoming_extra: u16,
    removal: Option<u16>,
    tombstone_ttl: u16,
    fanout: u8,
    cluster: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Advance {
        ms: u16,
    },
    /// A gossip round: tick, then exchange with the chosen targets.
    Tick {
        node: u8,
    },
    Exchange {
        from: u8,
        to: u8,
    },
    /// An exchange whose connection drops after one or two messages.
    CutExchange {
        from: u8,
        to: u8,
        messages: u8,
    },
    Set {
        node: u8,
        key: KeyPick,
        value: ValuePick,
    },
    Delete {
        node: u8,
        key: KeyPick,
    },
    Leave {
        node: u8,
    },
    Kill {
        node: u8,
    },
    Restart {
        node: u8,
        clock_back: u16,
    },
    StopStart {
        node: u8,
    },
    Hostile {
        node: u8,
        msg: HostileMsg,
    },
    Replay {
        node: u8,
        index: u16,
    },
    Raw {
        node: u8,
        bytes: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum KeyPick {
    Pool(u8),
    Heartbeat,
    Left,
    Long(u16),
    Empty,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ValuePick {
    Nil,
    True,
    Int(u64),
    Str { len: u16, fill: u8 },
    Bin { len: u16 },
    Nested { depth: u8, leaf: u8 },
}

#[derive(Arbitrary, Debug)]
enum NamePick {
    Node(u8),
    Outsider(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum VersionPick {
    Zero,
    Small(u8),
    /// Relative to what the target holds for the peer named.
    Near(i16),
    Big(u64),
    Max,
    OverMax,
}

#[derive(Arbitrary, Debug)]
struct HExt {
    protocol: u8,
    cluster: u8,
    complete: bool,
    more: bool,
}

#[derive(Arbitrary, Debug)]
struct HDigest {
    peer: NamePick,
    version: VersionPick,
    generation: VersionPick,
}

#[derive(Arbitrary, Debug)]
struct HDelta {
    peer: NamePick,
    key: KeyPick,
    value: Option<ValuePick>,
    version: VersionPick,
}

#[derive(Arbitrary, Debug)]
enum HostileMsg {
    Request {
        digest: Vec<HDigest>,
        ext: HExt,
    },
    First {
        requests: Vec<(NamePick, VersionPick)>,
        updates: Vec<HDelta>,
        gens: Vec<(NamePick, VersionPick)>,
        ext: HExt,
    },
    Second {
        updates: Vec<HDelta>,
        gens: Vec<(NamePick, VersionPick)>,
        ext: HExt,
    },
}

// ---- building values and messages -----------------------------------------

fn key_of(k: KeyPick) -> String {
    match k {
        KeyPick::Pool(i) => format!("k{}", i % 8),
        KeyPick::Heartbeat => HEARTBEAT_KEY.to_string(),
        KeyPick::Left => LEFT_KEY.to_string(),
        KeyPick::Long(n) => "L".repeat(usize::from(n % 300)),
        KeyPick::Empty => String::new(),
    }
}

/// A msgpack value; `max_depth` bounds its nesting as the binding does.
fn value_of(v: ValuePick, max_depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        ValuePick::Nil => write_nil(&mut out),
        ValuePick::True => write_bool(&mut out, true),
        ValuePick::Int(i) => write_uint(&mut out, i),
        ValuePick::Str { len, fill } => {
            let c = char::from(b'a' + fill % 26);
            write_str(&mut out, &c.to_string().repeat(usize::from(len % 400)));
        }
        ValuePick::Bin { len } => {
            let len = usize::from(len % 400);
            if len < 256 {
                out.extend_from_slice(&[0xc4, len as u8]);
            } else {
                out.push(0xc5);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            out.extend(std::iter::repeat_n(0xab, len));
        }
        ValuePick::Nested { depth, leaf } => {
            let depth = usize::from(depth).min(max_depth);
            for _ in 0..depth {
                write_array_len(&mut out, 1);
            }
            write_uint(&mut out, u64::from(leaf));
        }
    }
    out
}

struct Builder<'a> {
    target: &'a Node,
}

impl Builder<'_> {
    fn name(&self, n: &NamePick) -> String {
        match n {
            NamePick::Node(i) => NAMES[usize::from(*i) % 3].to_string(),
            NamePick::Outsider(i) => format!("10.0.0.{}:{}", i % 16, 7000 + u16::from(i / 16)),
            NamePick::Raw(s) => s.clone(),
        }
    }

    fn version(&self, peer: &str, v: &VersionPick) -> u64 {
        match v {
            VersionPick::Zero => 0,
            VersionPick::Small(s) => u64::from(*s),
            VersionPick::Near(d) => {
                let base = self
                    .target
                    .lookup(peer)
                    .and_then(|id| self.target.peer(id))
                    .map_or(WALL_BASE, |p| p.state.max_version);
                base.saturating_add_signed(i64::from(*d)).min(MAX_VERSION)
            }
            VersionPick::Big(b) => b % (MAX_VERSION + 1),
            VersionPick::Max => MAX_VERSION,
            VersionPick::OverMax => MAX_VERSION + 1 + u64::from(peer.len() as u8),
        }
    }

    fn ext<'s>(&self, e: &HExt, cluster: &'s str) -> Ext<'s> {
        Ext {
            protocol: u64::from(e.protocol % 3),
            cluster: match e.cluster % 3 {
                0 => None,
                1 => Some(CLUSTER),
                _ => Some(cluster),
            },
            complete: e.complete,
            more: e.more,
        }
    }

    fn message(&self, m: &HostileMsg, depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let other_cluster = "other";
        match m {
            HostileMsg::Request { digest, ext } => {
                let names: Vec<String> = digest.iter().map(|d| self.name(&d.peer)).collect();
                let items: Vec<DigestItem> = digest
                    .iter()
                    .zip(&names)
                    .map(|(d, name)| DigestItem {
                        peer: name,
                        version: self.version(name, &d.version),
                        generation: self.version(name, &d.generation),
                    })
                    .collect();
                encode_request(&mut out, &items, &self.ext(ext, other_cluster));
            }
            HostileMsg::First {
                requests,
                updates,
                gens,
                ext,
            } => {
                let r = self.pairs(requests);
                let g = self.pairs(gens);
                let u = self.updates(updates, depth);
                let rs: Vec<(&str, u64)> = r.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                let gs: Vec<(&str, u64)> = g.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                let us = deltas(&u);
                encode_response(&mut out, Some(&rs), &us, &gs, &self.ext(ext, other_cluster));
            }
            HostileMsg::Second { updates, gens, ext } => {
                let g = self.pairs(gens);
                let u = self.updates(updates, depth);
                let gs: Vec<(&str, u64)> = g.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                let us = deltas(&u);
                encode_response(&mut out, None, &us, &gs, &self.ext(ext, other_cluster));
            }
        }
        out
    }

    fn pairs(&self, p: &[(NamePick, VersionPick)]) -> Vec<(String, u64)> {
        p.iter()
            .map(|(n, v)| {
                let name = self.name(n);
                let v = self.version(&name, v);
                (name, v)
            })
            .collect()
    }

    fn updates(&self, u: &[HDelta], depth: usize) -> Vec<(String, String, Option<Vec<u8>>, u64)> {
        u.iter()
            .map(|d| {
                let name = self.name(&d.peer);
                let v = self.version(&name, &d.version);
                // hostile values may nest deeper than allowed
                (
                    name,
                    key_of(d.key),
                    d.value.map(|x| value_of(x, depth + 2)),
                    v,
                )
            })
            .collect()
    }
}

fn deltas(u: &[(String, String, Option<Vec<u8>>, u64)]) -> Vec<Delta<'_>> {
    u.iter()
        .map(|(p, k, v, ver)| Delta {
            peer: p,
            key: k,
            value: v.as_deref(),
            version: *ver,
            ttl_ms: None,
        })
        .collect()
}

// ---- snapshots and invariants ----------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct PeerSnap {
    id: u32,
    generation: u64,
    max_version: u64,
    /// key → (version, value; None for a tombstone)
    entries: BTreeMap<String, (u64, Option<Vec<u8>>)>,
}

impl PeerSnap {
    fn live(&self) -> BTreeMap<&str, &[u8]> {
        self.entries
            .iter()
            .filter_map(|(k, (_, v))| v.as_deref().map(|v| (k.as_str(), v)))
            .collect()
    }
}

type Snap = BTreeMap<String, PeerSnap>;

fn snapshot(node: &Node) -> Snap {
    node.peers()
        .map(|(id, p)| {
            let entries = p
                .state
                .deltas_after(0)
                .map(|(k, e)| {
                    (
                        k.to_string(),
                        (e.version, e.value.as_deref().map(<[u8]>::to_vec)),
                    )
                })
                .collect();
            (
                p.name.to_string(),
                PeerSnap {
                    id,
                    generation: p.state.generation,
                    max_version: p.state.max_version,
                    entries,
                },
            )
        })
        .collect()
}

/// Checks one node on its own.
fn check_node(node: &Node) {
    let cfg = node.config();
    let me = node.me_id();
    let count = node.peers().count();
    assert!(
        count <= cfg.max_peers.max(1),
        "{count} peers, over max_peers {}",
        cfg.max_peers
    );
    for (id, p) in node.peers() {
        let s = &p.state;
        // counters agree with the entries
        let (mut live, mut dead, mut bytes) = (0, 0, 0);
        for (k, e) in s.deltas_after(0) {
            bytes += k.len() + e.value.as_ref().map_or(0, |v| v.len());
            if e.value.is_some() {
                live += 1;
            } else {
                dead += 1;
            }
            assert!(
                e.version <= s.max_version,
                "{}: entry {k} at {} over max {}",
                p.name,
                e.version,
                s.max_version
            );
            assert!(
                e.version >= s.generation,
                "{}: entry {k} at {} under generation {}",
                p.name,
                e.version,
                s.generation
            );
        }
        assert_eq!(live, s.live_keys(), "{}: live key count", p.name);
        assert_eq!(dead, s.tombstones(), "{}: tombstone count", p.name);
        assert_eq!(bytes, s.bytes(), "{}: byte count", p.name);
        assert_eq!(
            s.keys().count(),
            live,
            "{}: entries and version index disagree",
            p.name
        );
        if id == me {
            // our own writes are capped by set_local; the heartbeat's value
            // grows by a few bytes and a leave adds one key
            assert!(live <= cfg.max_keys_per_peer + 1);
            assert!(bytes <= cfg.max_peer_state_bytes + 32);
        } else {
            assert!(
                gossiper::core::peer_name::is_valid(&p.name),
                "invalid name {:?} stored",
                p.name
            );
            assert_eq!(node.lookup(&p.name), Some(id));
            assert!(
                live <= cfg.max_keys_per_peer,
                "{}: {live} keys over max_keys_per_peer",
                p.name
            );
            assert!(
                bytes <= cfg.max_peer_state_bytes,
                "{}: {bytes} bytes over max_peer_state_bytes",
                p.name
            );
        }
    }
}

/// Versions never go back, and nothing about ourselves came from outside.
fn check_step(node: &Node, before: &Snap, after: &Snap, removed: &[String], from_outside: bool) {
    let me = node.name().to_string();
    for (name, b) in before {
        if removed.contains(name) {
            continue;
        }
        let Some(a) = after.get(name) else { continue };
        assert!(
            a.max_version >= b.max_version,
            "{name}: max version went back {} -> {}",
            b.max_version,
            a.max_version
        );
        assert!(a.generation >= b.generation, "{name}: generation went back");
        for (k, (v, val)) in &b.entries {
            if let Some((v2, val2)) = a.entries.get(k) {
                assert!(v2 >= v, "{name}/{k}: version went back {v} -> {v2}");
                if v2 == v {
                    assert_eq!(val, val2, "{name}/{k}: value changed at the same version");
                }
            }
        }
    }
    if from_outside {
        let (b, a) = (&before[&me], &after[&me]);
        assert_eq!(b.live(), a.live(), "our own state changed from outside");
        assert!(a.generation >= b.generation);
    }
}

// ---- the cluster -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Up,
    Down,
}

struct Member {
    node: Node,
    status: Status,
}

struct Cluster {
    config: Config,
    /// How many honest nodes (2 or 3).
    n: usize,
    members: Vec<Member>,
    now: u64,
    seed: u64,
    /// The highest version each name ever wrote, over its incarnations.
    issued: Vec<u64>,
    /// The lowest generation each name ever started at.
    lowest_generation: Vec<u64>,
    /// Whether a name already restarted with its clock gone back. Two such
    /// incarnations can each restart above the same floor they were told of
    /// and write the same versions: beyond what versions can tell apart (a
    /// design limit, see README), so the harness tries it once per name.
    clock_went_back: Vec<bool>,
    /// The node collected (or otherwise lost) a tombstone of its own.
    collected: Vec<bool>,
    /// Honest messages seen on the wire.
    recorded: Vec<Vec<u8>>,
    /// A message from outside the honest nodes was accepted.
    tainted: bool,
    /// While settling: skip the per-step snapshots (speed), keep the rest.
    light: bool,
    limits: ScanLimits,
}

enum Delivery {
    /// Not a message (scanner or decoder refused it).
    Undecodable,
    Refused,
    Accepted(Option<Vec<u8>>),
}

impl Cluster {
    fn new(config: Config, n: usize, seed: u64) -> Self {
        let limits = ScanLimits {
            max_message_bytes: config.max_message_bytes,
            max_depth: config.max_message_depth(),
        };
        let mut c = Cluster {
            members: Vec::new(),
            issued: vec![0; n],
            collected: vec![false; n],
            lowest_generation: vec![WALL_BASE + 1_000 * 1_000; n],
            clock_went_back: vec![false; n],
            n,
            config,
            now: 1_000,
            seed,
            recorded: Vec::new(),
            tainted: false,
            light: false,
            limits,
        };
        for i in 0..n {
            let node = c.fresh_node(i, c.wall());
            c.members.push(Member {
                node,
                status: Status::Up,
            });
        }
        c
    }

    fn wall(&self) -> u64 {
        WALL_BASE + self.now * 1000
    }

    fn seeds(&self, i: usize) -> Vec<String> {
        (0..self.n)
            .filter(|&j| j != i)
            .map(|j| NAMES[j].to_string())
            .collect()
    }

    fn fresh_node(&mut self, i: usize, generation: u64) -> Node {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut node = Node::new(self.config.clone(), generation, self.seed);
        let seeds = self.seeds(i);
        node.start(NAMES[i], &seeds, self.now);
        node
    }

    fn issued(&mut self, i: usize) -> u64 {
        let v = self.members[i].node.local_state().max_version;
        self.issued[i] = self.issued[i].max(v);
        self.issued[i]
    }

    fn idx(&self, i: u8) -> usize {
        usize::from(i) % self.members.len()
    }

    fn up(&self, i: usize) -> bool {
        self.members[i].status == Status::Up
    }

    /// Runs `f` on node `i` with every invariant checked around it.
    fn step<R>(&mut self, i: usize, from_outside: bool, f: impl FnOnce(&mut Node, u64) -> R) -> R {
        let now = self.now;
        let node = &mut self.members[i].node;
        let tombstones = node.local_state().tombstones();
        if self.light {
            let r = f(node, now);
            node.take_events();
            if node.local_state().tombstones() < tombstones {
                self.collected[i] = true;
            }
            return r;
        }
        let before = snapshot(node);
        let r = f(node, now);
        if node.local_state().tombstones() < tombstones {
            self.collected[i] = true;
        }
        let after = snapshot(node);
        let events = node.take_events();
        let mut removed = Vec::new();
        for e in &events {
            match e {
                Event::Removed { peer } => {
                    if let Some((name, _)) = before.iter().find(|(_, p)| p.id == *peer) {
                        removed.push(name.clone());
                    }
                }
                Event::Update { peer, .. } | Event::Delete { peer, .. } if from_outside => {
                    assert_ne!(
                        *peer,
                        node.me_id(),
                        "an update about ourselves from outside"
                    );
                }
                _ => {}
            }
        }
        check_node(node);
        check_step(node, &before, &after, &removed, from_outside);
        r
    }

    /// Scans and decodes `bytes` as node `i` would read them, and hands the
    /// message to the handler its type calls for.
    fn deliver(&mut self, i: usize, bytes: &[u8], honest: bool) -> Delivery {
        let mut scanner = Scanner::new(self.limits);
        let len = match scanner.scan(bytes) {
            Ok(Some(len)) => len,
            r => {
                assert!(!honest, "an honest message did not scan: {r:?}");
                return Delivery::Undecodable;
            }
        };
        assert!(len <= self.limits.max_message_bytes);
        let msg = &bytes[..len];
        let decoded = match decode(msg) {
            Ok(m) => m,
            Err(e) => {
                assert!(!honest, "an honest message did not decode: {e}");
                return Delivery::Undecodable;
            }
        };
        let before = (!honest).then(|| snapshot(&self.members[i].node));
        let result = self.step(i, !honest, |node, now| match &decoded {
            Incoming::Request(r) => node.handle_request(r, now).map(Some),
            Incoming::FirstResponse(r) => node
                .handle_first_response(r, now)
                .map(|second| Some(second.message)),
            Incoming::SecondResponse(r) => node.handle_second_response(r, now).map(|_| None),
        });
        match result {
            Ok(reply) => {
                if !honest {
                    self.tainted = true;
                }
                if let Some(reply) = &reply {
                    self.check_outgoing(reply);
                }
                Delivery::Accepted(reply)
            }
            Err(refusal) => {
                assert!(!honest, "an honest message was refused: {refusal:?}");
                assert_eq!(
                    before,
                    Some(snapshot(&self.members[i].node)),
                    "a refused message changed state"
                );
                Delivery::Refused
            }
        }
    }

    fn check_outgoing(&mut self, bytes: &[u8]) {
        assert!(
            bytes.len() <= self.config.max_outgoing_message_bytes,
            "an outgoing message of {} bytes over max_outgoing_message_bytes {}",
            bytes.len(),
            self.config.max_outgoing_message_bytes
        );
        if self.recorded.len() < 64 {
            self.recorded.push(bytes.to_vec());
        }
    }

    /// An honest exchange initiated by `a` with `b`, cut after `messages`.
    fn exchange(&mut self, a: usize, b: usize, messages: u8) {
        if a == b || !self.up(a) || !self.up(b) {
            return;
        }
        let req = self.step(a, false, |n, _| n.request());
        self.check_outgoing(&req);
        let Delivery::Accepted(Some(first)) = self.deliver(b, &req, true) else {
            unreachable!()
        };
        if messages < 2 {
            return;
        }
        let Delivery::Accepted(Some(second)) = self.deliver(a, &first, true) else {
            unreachable!()
        };
        if messages < 3 {
            return;
        }
        let Delivery::Accepted(None) = self.deliver(b, &second, true) else {
            unreachable!()
        };
    }

    fn run(&mut self, op: &Op) {
        match *op {
            Op::Advance { ms } => self.now += u64::from(ms),
            Op::Tick { node } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                let targets = self.step(i, false, |n, now| n.tick(now));
                for t in targets {
                    if let Some(j) = NAMES.iter().position(|n| **n == *t) {
                        if j < self.members.len() {
                            self.exchange(i, j, 3);
                        }
                    }
                }
            }
            Op::Exchange { from, to } => self.exchange(self.idx(from), self.idx(to), 3),
            Op::CutExchange { from, to, messages } => {
                self.exchange(self.idx(from), self.idx(to), 1 + messages % 2)
            }
            Op::Set { node, key, value } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                let key = key_of(key);
                let value: Arc<[u8]> = Arc::from(value_of(value, self.config.max_value_depth));
                let _ = self.step(i, false, |n, now| n.set_local(&key, value, now));
            }
            Op::Delete { node, key } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                let key = key_of(key);
                let _ = self.step(i, false, |n, now| n.delete_local(&key, now));
            }
            Op::Leave { node } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                // the leave's exchanges, run by hand like every other here
                let targets: Vec<Arc<str>> = self.step(i, false, |n, now| {
                    n.leave(now);
                    std::iter::from_fn(|| n.poll_transmit())
                        .filter_map(|t| match t {
                            Transmit::Connect { to, .. } => Some(to),
                            Transmit::Resolve { .. } | Transmit::Datagram { .. } => None,
                        })
                        .collect()
                });
                for t in targets {
                    if let Some(j) = NAMES.iter().position(|n| **n == *t) {
                        if j < self.members.len() {
                            self.exchange(i, j, 3);
                        }
                    }
                }
                self.members[i].node.stop();
                self.members[i].status = Status::Down;
            }
            Op::Kill { node } => {
                let i = self.idx(node);
                self.members[i].node.stop();
                self.members[i].status = Status::Down;
            }
            Op::Restart { node, clock_back } => {
                let i = self.idx(node);
                let issued = self.issued(i);
                // Versions come from a wall clock in microseconds: a restart
                // starts above every version its name ever wrote (the design
                // assumes under a million writes per second). A clock that
                // went back does so by whole seconds, below every earlier
                // incarnation: a clock never reads the same microsecond
                // twice, and an incarnation that starts inside an earlier
                // one's versions and writes past them before anyone tells it
                // is beyond what versions can tell apart. It is tried only
                // where peers are never removed: a removed name is re-admitted
                // only above the version it was removed at (by design).
                let clock_back = if self.clock_went_back[i] { 0 } else { clock_back };
                self.clock_went_back[i] |= clock_back > 0 && self.config.dead_peer_removal_ms.is_none();
                let generation = if clock_back > 0 && self.config.dead_peer_removal_ms.is_none() {
                    (issued + 1)
                        .min(self.wall())
                        .min(self.lowest_generation[i])
                        .saturating_sub(u64::from(clock_back) * 1_000_000)
                        .max(1)
                } else {
                    self.wall().max(issued + 1)
                };
                self.lowest_generation[i] = self.lowest_generation[i].min(generation);
                let node = self.fresh_node(i, generation);
                self.members[i] = Member {
                    node,
                    status: Status::Up,
                };
                self.members[i].node.take_events();
                check_node(&self.members[i].node);
            }
            Op::StopStart { node } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                let seeds = self.seeds(i);
                self.step(i, false, |n, now| {
                    n.stop();
                    n.start(NAMES[i], &seeds, now);
                });
            }
            Op::Hostile { node, ref msg } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                let bytes = Builder {
                    target: &self.members[i].node,
                }
                .message(msg, self.config.max_value_depth);
                self.deliver(i, &bytes, false);
            }
            Op::Replay { node, index } => {
                let i = self.idx(node);
                if !self.up(i) || self.recorded.is_empty() {
                    return;
                }
                let bytes = self.recorded[usize::from(index) % self.recorded.len()].clone();
                self.deliver(i, &bytes, false);
            }
            Op::Raw { node, ref bytes } => {
                let i = self.idx(node);
                if !self.up(i) {
                    return;
                }
                self.deliver(i, bytes, false);
            }
        }
    }

    fn converged(&self) -> Result<(), String> {
        for (i, owner) in self.members.iter().enumerate() {
            if owner.status != Status::Up {
                continue;
            }
            let own = &snapshot(&owner.node)[NAMES[i]];
            for (j, other) in self.members.iter().enumerate() {
                if j == i || other.status != Status::Up {
                    continue;
                }
                let view = snapshot(&other.node);
                let Some(v) = view.get(NAMES[i]) else {
                    return Err(format!("node {j} does not know node {i}"));
                };
                let (view_live, own_live) = (v.live(), own.live());
                let live_ok = if self.collected[i] {
                    // A tombstone the owner collected before it reached this
                    // peer is gone for good, and the key with it: that is
                    // what `tombstone_ttl_ms` trades (keys the owner holds
                    // must still agree, and nothing else may differ).
                    own_live
                        .iter()
                        .all(|(k, val)| view_live.get(k) == Some(val))
                        && view_live
                            .keys()
                            .all(|k| own_live.contains_key(k) || !own.entries.contains_key(*k))
                } else {
                    view_live == own_live
                };
                if v.max_version != own.max_version || !live_ok || v.generation != own.generation {
                    return Err(format!(
                        "node {j}'s view of node {i} differs:\n  view {v:?}\n  own  {own:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Honest rounds until every running node holds every other's state.
    fn settle(&mut self) {
        let n = self.members.len();
        self.light = true;
        // a few rounds with ticks, so liveness and clean-up run as usual
        for _ in 0..2 {
            self.now += self.config.gossip_interval_ms;
            for i in 0..n {
                if self.up(i) {
                    self.step(i, false, |node, now| {
                        node.tick(now);
                    });
                }
            }
            self.all_pairs();
        }
        for _ in 0..40 {
            for m in &self.members {
                check_node(&m.node);
            }
            if self.converged().is_ok() {
                return;
            }
            self.all_pairs();
        }
        if let Err(e) = self.converged() {
            panic!("honest nodes did not converge: {e}");
        }
    }

    fn all_pairs(&mut self) {
        let n = self.members.len();
        for a in 0..n {
            for b in 0..n {
                self.exchange(a, b, 3);
            }
        }
    }
}

fn config_of(c: &CfgIn) -> Config {
    let max_key_bytes = 4 + usize::from(c.max_key_bytes % 60);
    let max_value_bytes = 1 + usize::from(c.max_value_bytes);
    let max_outgoing_message_bytes =
        max_value_bytes + max_key_bytes + 1024 + usize::from(c.outgoing_extra % 2048);
    let config = Config {
        fanout: 1 + usize::from(c.fanout % 3),
        dead_peer_removal_ms: c.removal.map(|r| 1_000 + u64::from(r)),
        tombstone_ttl_ms: 1_000 + u64::from(c.tombstone_ttl) * 10,
        cluster_name: c.cluster.then(|| CLUSTER.to_string()),
        max_outgoing_message_bytes,
        max_message_bytes: max_outgoing_message_bytes + usize::from(c.incoming_extra % 4096),
        max_value_depth: 1 + usize::from(c.max_value_depth % 6),
        max_key_bytes,
        max_value_bytes,
        max_keys_per_peer: 1 + usize::from(c.max_keys_per_peer % 16),
        max_peer_state_bytes: 32 + usize::from(c.max_peer_state_bytes % 4096),
        // room for the honest nodes, and not much more
        max_peers: 3 + usize::from(c.max_peers % 6),
        ..Config::default()
    };
    config.validate().expect("a valid configuration");
    config
}

fuzz_target!(|input: Input| {
    let config = config_of(&input.cfg);
    let n = if input.three { 3 } else { 2 };
    let mut cluster = Cluster::new(config, n, input.seed);
    for i in 0..n {
        cluster.members[i].node.take_events();
        check_node(&cluster.members[i].node);
    }
    for op in input.ops.iter().take(200) {
        cluster.run(op);
    }
    for m in &cluster.members {
        let _ = m.node.report(cluster.now);
    }
    if !cluster.tainted {
        cluster.settle();
    }
});
