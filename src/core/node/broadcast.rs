//! Dissemination between peers that speak probes: news (a small update, a
//! peer's newer state, a suspicion, a conviction) goes into a queue and
//! rides on every probe, ack and gossip datagram, the least-sent first,
//! until it has been sent `retransmits()` times: about log N rounds of
//! infection reach every node with high probability, and a quiet cluster
//! sends no news at all. New news also goes out at once to `fanout` peers
//! (a `Gossip` datagram), so it crosses the cluster in network hops.
//!
//! The queue holds references (peer, version, key), not copies: the bytes
//! are read from the peer's state when a datagram is filled, so news that a
//! newer write replaced is dropped instead of sent.

use std::collections::VecDeque;

use super::*;
use crate::wire::datagram::{write_item, Item};

/// Updates up to this size travel in datagrams; a larger one is announced
/// (`Notice`) and fetched over TCP by those who lack it.
pub const SMALL_UPDATE_BYTES: usize = 512;

/// News kept at most; beyond it the most-sent goes (a repair exchange
/// brings what was dropped).
const MAX_QUEUED: usize = 16 * 1024;

/// What is news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum News {
    /// The peer has state up to `version` (too large to send, or newer).
    Notice,
    Suspect,
    Dead,
    /// Its key `key` at `version`.
    Delta,
}

#[derive(Clone, Debug)]
pub(super) struct Queued {
    news: News,
    peer: PeerId,
    version: u64,
    key: Option<Arc<str>>,
    /// A suspicion's suspecter.
    by: PeerId,
}

impl Queued {
    /// News of `peer`'s liveness (not a delta), suspected `by` someone.
    pub(super) fn liveness(news: News, peer: PeerId, version: u64, by: PeerId) -> Self {
        Queued {
            news,
            peer,
            version,
            key: None,
            by,
        }
    }
}

/// The queue, by how many times each piece was sent: bucket `b` holds, in
/// the order queued, the news sent `b` times. A datagram takes from the
/// fronts, and what it took goes to the back of the next bucket, so each
/// datagram costs what it carries, however long the queue (thousands of
/// joins while a large cluster forms).
#[derive(Clone, Debug, Default)]
pub(super) struct Broadcasts {
    by_sends: Vec<VecDeque<Queued>>,
    len: usize,
    /// How much news of each peer is queued, by slot (at most `MAX_QUEUED`,
    /// so it fits): a push of news about a peer with none queued has
    /// nothing to supersede, and skips the scan.
    of_peer: Vec<u16>,
    /// By slot, how often the newest state of the peer came back to us
    /// from others while its news was queued here.
    heard: Vec<u8>,
}

impl Broadcasts {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn counted(&mut self, peer: PeerId) {
        let i = peer as usize;
        if self.of_peer.len() <= i {
            self.of_peer.resize(i + 1, 0);
        }
        self.of_peer[i] += 1;
        self.len += 1;
    }

    /// `n` pieces of news of `peer` left the queue for good.
    fn uncounted(&mut self, peer: PeerId, n: u32) {
        self.taken(peer, n);
        self.forget(peer);
    }

    /// `n` pieces of news of `peer` left the queue, perhaps to come back
    /// (a datagram took them): what was heard of the peer is kept.
    fn taken(&mut self, peer: PeerId, n: u32) {
        if let Some(c) = self.of_peer.get_mut(peer as usize) {
            *c -= n as u16;
        }
        self.len -= n as usize;
    }

    /// With no news of `peer` left, what was heard of it is void.
    fn forget(&mut self, peer: PeerId) {
        if self.of_peer.get(peer as usize).is_some_and(|&c| c == 0) {
            if let Some(h) = self.heard.get_mut(peer as usize) {
                *h = 0;
            }
        }
    }

    /// Others sent us the newest state of `peer`, which we are spreading:
    /// they have it, and so do those they told. Rumour mongering with
    /// feedback (Demers et al., 1987): each time counts as one of our own
    /// sends, so that news everyone already has stops early. While a large
    /// cluster forms, every node would otherwise send every join its full
    /// count of times, long after all have it.
    pub(super) fn heard_again(&mut self, peer: PeerId) {
        let i = peer as usize;
        if self.of_peer.get(i).is_none_or(|&c| c == 0) {
            return;
        }
        if self.heard.len() <= i {
            self.heard.resize(i + 1, 0);
        }
        self.heard[i] = self.heard[i].saturating_add(1);
    }

    /// Sends of `q` so far, counting the times it came back.
    fn sends(&self, q: &Queued, bucket: usize) -> usize {
        let heard = match q.news {
            News::Delta | News::Notice => self.heard.get(q.peer as usize).copied().unwrap_or(0),
            // verdicts keep their full count: a missed one costs a false
            // failure or a slow detection
            News::Suspect | News::Dead => 0,
        };
        bucket + usize::from(heard)
    }

    /// Gives back the room of buckets that drained (each grows as large as
    /// the news of a whole cluster's start, which then moves on).
    fn trim(&mut self) {
        for bucket in &mut self.by_sends {
            if bucket.capacity() > 64 && bucket.len() < bucket.capacity() / 4 {
                bucket.shrink_to(2 * bucket.len());
            }
        }
        if self.len == 0 {
            self.of_peer = Vec::new();
            self.heard = Vec::new();
        }
    }

    /// Removes what `q` supersedes (older news of the same peer and key, or
    /// of the same peer's liveness).
    fn supersede(&mut self, q: &Queued) {
        if self.of_peer.get(q.peer as usize).is_none_or(|&c| c == 0) {
            return;
        }
        let liveness = matches!(q.news, News::Suspect | News::Dead);
        let mut removed = 0;
        for bucket in &mut self.by_sends {
            bucket.retain(|o| {
                let same = o.peer == q.peer
                    && match (q.news, o.news) {
                        (News::Delta, News::Delta) => o.key == q.key,
                        (News::Notice, News::Notice) => true,
                        // each suspecter's word counts on its own
                        (News::Suspect, News::Suspect) => o.by == q.by || o.version < q.version,
                        _ => liveness && matches!(o.news, News::Suspect | News::Dead),
                    };
                let gone = same
                    && (o.version < q.version
                        || (o.version == q.version && rank(o.news) <= rank(q.news)));
                removed += u32::from(gone);
                !gone
            });
        }
        self.uncounted(q.peer, removed);
    }

    /// Drops every queued conviction. A node that was cut off from all
    /// the others convicted them for its own silence: once it hears from
    /// them again, those convictions must not go out. No conviction from
    /// another node can have reached it meanwhile; older ones are sent by
    /// the nodes that made them.
    pub fn drop_convictions(&mut self) {
        let mut gone: Vec<PeerId> = Vec::new();
        for bucket in &mut self.by_sends {
            bucket.retain(|q| {
                let dead = q.news == News::Dead;
                if dead {
                    gone.push(q.peer);
                }
                !dead
            });
        }
        for peer in gone {
            self.uncounted(peer, 1);
        }
    }

    fn push(&mut self, q: Queued) {
        self.supersede(&q);
        if self.len >= MAX_QUEUED {
            let most_sent = self.by_sends.iter_mut().rev().find(|b| !b.is_empty());
            if let Some(gone) = most_sent.and_then(VecDeque::pop_back) {
                self.uncounted(gone.peer, 1);
            }
        }
        if self.by_sends.is_empty() {
            self.by_sends.push(VecDeque::new());
        }
        if let Some(h) = self.heard.get_mut(q.peer as usize) {
            // newer state: nobody has it yet
            *h = 0;
        }
        self.counted(q.peer);
        self.by_sends[0].push_back(q);
    }

    /// Takes the front of bucket `b` off the queue.
    fn pop_front(&mut self, b: usize) -> Option<Queued> {
        let q = self.by_sends.get_mut(b)?.pop_front()?;
        self.taken(q.peer, 1);
        Some(q)
    }

    /// Puts `q` back at the front of bucket `b`.
    fn push_front(&mut self, b: usize, q: Queued) {
        self.counted(q.peer);
        self.by_sends[b].push_front(q);
    }

    /// Puts `q` at the back of bucket `b`.
    fn push_back(&mut self, b: usize, q: Queued) {
        if self.by_sends.len() <= b {
            self.by_sends.resize_with(b + 1, VecDeque::new);
        }
        self.counted(q.peer);
        self.by_sends[b].push_back(q);
    }
}

/// Among news of one peer's liveness at one version: a conviction says more.
fn rank(n: News) -> u8 {
    match n {
        News::Suspect => 1,
        News::Dead => 2,
        _ => 0,
    }
}

/// Flags of a peer on the wire: bit 0, it speaks probes.
pub(super) fn proto_flags(p: &Peer) -> u64 {
    u64::from(p.proto == PROTO_PROBES) | (u64::from(p.proto == PROTO_LEGACY) << 1)
}

impl Node {
    /// Times each piece of news is sent: 4 · ⌈log10(N + 1)⌉ for N peers
    /// (memberlist's multiplier).
    pub(super) fn retransmits(&self) -> usize {
        let n = self.index.len() as f64 + 1.0;
        4 * (n.log10().ceil() as usize).max(1)
    }

    /// Queues that `by` suspects `id` as of `version`, and sends it out.
    pub(super) fn broadcast_suspicion(&mut self, id: PeerId, version: u64, by: PeerId) {
        self.bcast
            .push(Queued::liveness(News::Suspect, id, version, by));
        self.gossip_soon();
    }

    /// Queues news about peer `id` and sends it out at once.
    pub(super) fn broadcast(
        &mut self,
        news: News,
        id: PeerId,
        version: u64,
        key: Option<Arc<str>>,
    ) {
        let news = match (news, &key) {
            (News::Delta, Some(k)) => {
                let small = self.peer(id).and_then(|p| p.state.get(k)).is_some_and(|e| {
                    e.value.as_ref().map_or(0, |v| v.len()) + k.len() <= SMALL_UPDATE_BYTES
                });
                if small {
                    News::Delta
                } else {
                    News::Notice
                }
            }
            (n, _) => n,
        };
        let key = if news == News::Delta { key } else { None };
        let by = self.me;
        self.bcast.push(Queued {
            news,
            peer: id,
            version,
            key,
            by,
        });
        self.gossip_soon();
    }

    /// News for a datagram of `budget` bytes at most, after `first` (news
    /// for this datagram's receiver alone, not queued): the least-sent
    /// first; each taken counts as sent once more. Returns the items as a
    /// msgpack array.
    pub(super) fn take_news(&mut self, budget: usize, first: Option<Queued>) -> Vec<u8> {
        let limit = self.retransmits();
        let mut out = Vec::new();
        let mut count = 0u32;
        let mut used = 0;
        if let Some(q) = first {
            if let Some(item) = self.item_of(&q) {
                write_item(&mut out, &item);
                used = out.len();
                count += 1;
            }
        }
        // what was sent, for the next bucket once the datagram is full (so
        // that one datagram never carries a piece twice)
        let mut sent: Vec<(usize, Queued)> = Vec::new();
        // peers whose news left the queue
        let mut gone: Vec<PeerId> = Vec::new();
        for b in 0..self.bcast.by_sends.len().min(limit) {
            // news too large to go alone, kept at the front in its order
            let mut skipped: Vec<Queued> = Vec::new();
            let mut full = false;
            while let Some(q) = self.bcast.pop_front(b) {
                // stale news (replaced, or its peer gone), and news that came
                // back often enough, leave the queue
                if self.bcast.sends(&q, b) >= limit {
                    gone.push(q.peer);
                    continue;
                }
                let Some(item) = self.item_of(&q) else {
                    gone.push(q.peer);
                    continue;
                };
                // written, then taken back if it does not fit
                let mark = out.len();
                write_item(&mut out, &item);
                if out.len() > budget {
                    out.truncate(mark);
                    if used > 0 {
                        self.bcast.push_front(b, q);
                        full = true;
                        break;
                    }
                    skipped.push(q);
                    continue;
                }
                used = out.len();
                count += 1;
                sent.push((b, q));
                if count as usize >= 255 {
                    full = true;
                    break;
                }
            }
            for q in skipped.into_iter().rev() {
                self.bcast.push_front(b, q);
            }
            if full {
                break;
            }
        }
        // each piece sent goes one bucket up, in the order it was queued: a
        // peer's deltas keep going out in version order (news sent `limit`
        // times leaves the queue)
        for (b, q) in sent {
            if self.bcast.sends(&q, b + 1) < limit {
                self.bcast.push_back(b + 1, q);
            } else {
                gone.push(q.peer);
            }
        }
        // once the survivors are back: what was heard of a peer lasts as
        // long as news of it is queued
        for peer in gone {
            self.bcast.forget(peer);
        }
        self.bcast.trim();
        let mut framed = Vec::with_capacity(out.len() + 5);
        crate::wire::write::write_array_len(&mut framed, count as usize);
        framed.extend_from_slice(&out);
        framed
    }

    /// The item `q` stands for, as the peer's state has it now; `None` when
    /// it is stale (a newer write replaced it, the peer is gone).
    fn item_of<'a>(&'a self, q: &'a Queued) -> Option<Item<'a>> {
        let p = self.peer(q.peer)?;
        let peer: &str = &p.name;
        Some(match q.news {
            News::Suspect => Item::Suspect {
                peer,
                version: q.version,
                by: &self.peer(q.by)?.name,
            },
            News::Dead => Item::Dead {
                peer,
                version: q.version,
            },
            News::Notice => Item::Notice {
                peer,
                version: p.state.max_version,
                generation: p.state.generation,
                flags: self.flags_of(q.peer),
            },
            News::Delta => {
                let key = q.key.as_deref()?;
                let entry = p.state.get(key).filter(|e| e.version == q.version)?;
                let deadlines = self.deadlines_of(q.peer, &p.name);
                let d = super::ttl::expiring_delta(
                    peer,
                    key,
                    entry,
                    deadlines,
                    self.expiry_now(),
                    true,
                );
                Item::Delta {
                    peer,
                    version: q.version,
                    generation: p.state.generation,
                    flags: self.flags_of(q.peer),
                    key,
                    value: d.value,
                    ttl_ms: d.ttl_ms,
                }
            }
        })
    }
}
