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

/// The queue, by how many times each piece was sent.
#[derive(Clone, Debug, Default)]
pub(super) struct Broadcasts {
    by_sends: Vec<Vec<Queued>>,
    len: usize,
}

impl Broadcasts {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Removes what `q` supersedes (older news of the same peer and key, or
    /// of the same peer's liveness).
    fn supersede(&mut self, q: &Queued) {
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
                removed += usize::from(gone);
                !gone
            });
        }
        self.len -= removed;
    }

    /// Drops every queued conviction. A node that was cut off from all
    /// the others convicted them for its own silence: once it hears from
    /// them again, those convictions must not go out. No conviction from
    /// another node can have reached it meanwhile; older ones are sent by
    /// the nodes that made them.
    pub fn drop_convictions(&mut self) {
        let mut removed = 0;
        for bucket in &mut self.by_sends {
            let before = bucket.len();
            bucket.retain(|q| q.news != News::Dead);
            removed += before - bucket.len();
        }
        self.len -= removed;
    }

    fn push(&mut self, q: Queued) {
        self.supersede(&q);
        if self.len >= MAX_QUEUED {
            if let Some(bucket) = self.by_sends.iter_mut().rev().find(|b| !b.is_empty()) {
                bucket.pop();
                self.len -= 1;
            }
        }
        if self.by_sends.is_empty() {
            self.by_sends.push(Vec::new());
        }
        self.by_sends[0].push(q);
        self.len += 1;
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
    fn retransmits(&self) -> usize {
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
        let mut picked: Vec<(usize, usize)> = Vec::new(); // (bucket, index)
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
        'fill: for b in 0..self.bcast.by_sends.len().min(limit) {
            for i in 0..self.bcast.by_sends[b].len() {
                let q = &self.bcast.by_sends[b][i];
                let Some(item) = self.item_of(q) else {
                    picked.push((b, i)); // stale: dropped below
                    continue;
                };
                // written, then taken back if it does not fit
                let mark = out.len();
                write_item(&mut out, &item);
                if out.len() > budget {
                    out.truncate(mark);
                    if used > 0 {
                        break 'fill;
                    }
                    continue;
                }
                used = out.len();
                count += 1;
                picked.push((b, i));
                if count as usize >= 255 {
                    break 'fill;
                }
            }
        }
        // move what was sent one bucket up, in the order it was queued: a
        // peer's deltas keep going out in version order (stale news and
        // news sent `limit` times leave the queue)
        picked.sort_unstable();
        let mut at = 0;
        while at < picked.len() {
            let b = picked[at].0;
            let end = at + picked[at..].iter().take_while(|(pb, _)| *pb == b).count();
            let bucket = std::mem::take(&mut self.bcast.by_sends[b]);
            let mut keep = Vec::with_capacity(bucket.len());
            let mut up = Vec::new();
            let mut next = at;
            for (i, q) in bucket.into_iter().enumerate() {
                if next < end && picked[next].1 == i {
                    next += 1;
                    self.bcast.len -= 1;
                    if b + 1 < limit && self.item_of(&q).is_some() {
                        up.push(q);
                    }
                } else {
                    keep.push(q);
                }
            }
            self.bcast.by_sends[b] = keep;
            if !up.is_empty() {
                if self.bcast.by_sends.len() <= b + 1 {
                    self.bcast.by_sends.resize_with(b + 2, Vec::new);
                }
                self.bcast.len += up.len();
                self.bcast.by_sends[b + 1].extend(up);
            }
            at = end;
        }
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
