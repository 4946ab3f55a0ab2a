//! REQUEST: the digest of every peer we know, split into slices of the
//! name space when it does not fit one message.

use super::*;

/// Slices of the name space, by the low bits of `name_hash`: a digest too
/// large for one message lists a run of consecutive slices, in slice order.
pub(super) const SLICES: usize = 1024;

pub(super) fn slice_of(hash: u64) -> usize {
    hash as usize & (SLICES - 1)
}

/// A slot's entry in `Node::digest_info`: the low 16 bits of its name's hash
/// and, above, an upper bound of the bytes its digest entry takes.
pub(super) fn digest_info(name: &str) -> u32 {
    let size = str_size(name) + 2 * 9;
    ((size as u32) << 16) | (name_hash(name) as u32 & 0xffff)
}

pub(super) fn info_size(info: u32) -> usize {
    (info >> 16) as usize
}

/// The names a digest covers: the requester knows no other name in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Covered {
    /// A complete digest: every name.
    All,
    /// Slices `first ..= first + span` (modulo `SLICES`).
    Slices { first: usize, span: usize },
}

impl Covered {
    pub(super) fn contains(self, hash: u64) -> bool {
        match self {
            Covered::All => true,
            Covered::Slices { first, span } => (slice_of(hash) + SLICES - first) % SLICES <= span,
        }
    }
}

/// What a digest covers. A split digest lists the requester itself, then
/// the names of a run of slices in slice order; 32 or more names in slice
/// order are taken for one (a window of names in any other order is
/// sorted by chance with odds far below 2^-32). Anything else covers
/// nothing known.
pub(super) fn digest_coverage(
    digest: &[DigestItem],
    hashes: &[u64],
    complete: bool,
) -> Option<Covered> {
    if complete {
        return Some(Covered::All);
    }
    if digest.len() < 33 {
        return None;
    }
    let first = slice_of(hashes[1]);
    let mut span = 0;
    for &h in &hashes[2..] {
        let at = (slice_of(h) + SLICES - first) % SLICES;
        if at < span {
            return None;
        }
        span = at;
    }
    Some(Covered::Slices { first, span })
}

impl Node {
    /// REQUEST: our digest, every peer we know with its highest version.
    ///
    /// When it does not all fit, the peers are split by the low bits of their
    /// names' hashes into the fewest (a power of two) partitions that each
    /// fit, and each REQUEST lists ourselves and one partition, in turn: every
    /// peer is named once every so many requests, and the peer that answers
    /// can tell from the names which partition it got (`digest_partition`),
    /// so that every peer of that partition missing from the digest is one
    /// the requester does not know, which it sends first.
    pub fn request(&mut self) -> Vec<u8> {
        self.request_to(None)
    }

    /// `request()` for an exchange with `target`: when that is a seed's
    /// address we hold no peer of, the (complete) digest also names it at
    /// version 0, as node-gossip names its seeds, so that an old peer, which
    /// only tells of peers named to it, answers with its own state.
    pub(super) fn request_to(&mut self, target: Option<&str>) -> Vec<u8> {
        let seed: Option<Arc<str>> = target
            .filter(|t| self.is_seed_address(t) && self.lookup(t).is_none())
            .map(Arc::from);
        let observer = self.config.observer;
        let mine_size = {
            let me = self.me();
            digest_item_size(&me.digest_item())
        };
        let mut budget = self
            .config
            .max_outgoing_message_bytes
            .saturating_sub(envelope_size(&self.ext(false)));
        // an observer never names itself, so nobody learns of it
        if !observer {
            budget = budget.saturating_sub(mine_size);
        }
        let bound: usize = self.digest_info.iter().map(|&i| info_size(i)).sum();
        let slots_listed = (bound > budget).then(|| self.next_slices(budget));
        let ext = self.ext(false);
        let slots = self.peers.len();
        let mut items: Vec<DigestItem> = Vec::new();
        let mut flags: Vec<u64> = Vec::new();
        if !observer {
            let me = self.me();
            items.push(me.digest_item());
            flags.push(self.flags_of(self.me));
        }
        if let Some(listed) = slots_listed {
            for i in listed {
                let Some(p) = &self.peers[i] else { continue };
                let item = p.digest_item();
                let size = digest_item_size(&item);
                if size > budget {
                    break; // only when one slice alone is too large
                }
                budget -= size;
                items.push(item);
                flags.push(self.flags_of(i as PeerId));
            }
            let ext = Ext {
                complete: false,
                ..ext
            };
            let mut out = Vec::with_capacity(self.config.max_outgoing_message_bytes - budget);
            message::encode_request_with(&mut out, &items, &flags, &ext);
            return out;
        }
        if let Some(seed) = &seed {
            let item = DigestItem {
                peer: seed,
                version: 0,
                generation: 0,
            };
            let size = digest_item_size(&item);
            if size <= budget {
                budget -= size;
                items.push(item);
                flags.push(0);
            }
        }
        let start = self.digest_cursor % slots.max(1);
        let mut taken = 0;
        let mut complete = true;
        for step in 0..slots {
            let i = (start + step) % slots;
            let Some(p) = &self.peers[i] else { continue };
            if i as PeerId == self.me {
                continue;
            }
            let item = p.digest_item();
            let size = digest_item_size(&item);
            if size > budget {
                complete = false;
                break;
            }
            budget -= size;
            items.push(item);
            flags.push(self.flags_of(i as PeerId));
            taken = step + 1;
        }
        let ext = Ext { complete, ..ext };
        let mut out = Vec::with_capacity(self.config.max_outgoing_message_bytes - budget);
        message::encode_request_with(&mut out, &items, &flags, &ext);
        let next = (start + taken) % slots.max(1);
        self.digest_cursor = next;
        out
    }

    /// A REQUEST that names only ourselves and `ids`: the peer that answers
    /// sends their newer state and nothing else (a pull of large updates).
    pub(super) fn request_for(&self, ids: &[PeerId]) -> Vec<u8> {
        let mut items = Vec::with_capacity(ids.len() + 1);
        let mut flags = Vec::with_capacity(ids.len() + 1);
        if !self.config.observer {
            items.push(self.me().digest_item());
            flags.push(self.flags_of(self.me));
        }
        for &id in ids {
            if let Some(p) = self.peer(id) {
                items.push(p.digest_item());
                flags.push(self.flags_of(id));
            }
        }
        let mut out = Vec::new();
        message::encode_request_with(&mut out, &items, &flags, &self.ext(false));
        out
    }

    /// The slots the next split digest lists: the names of as many
    /// consecutive slices as fit in `budget` bytes, from where the last one
    /// ended, in slice order.
    pub(super) fn next_slices(&mut self, budget: usize) -> Vec<usize> {
        let mut sums = vec![0usize; SLICES];
        for &info in &self.digest_info {
            sums[info as usize & (SLICES - 1)] += info_size(info);
        }
        let start = self.digest_slice % SLICES;
        let (mut count, mut used) = (0, 0);
        while count < SLICES {
            let size = sums[(start + count) % SLICES];
            if used + size > budget {
                break;
            }
            used += size;
            count += 1;
        }
        let count = count.max(1);
        self.digest_slice = (start + count) % SLICES;
        let mut listed: Vec<(usize, usize)> = self
            .digest_info
            .iter()
            .enumerate()
            .filter(|&(_, &info)| info != 0)
            .map(|(i, &info)| ((info as usize % SLICES + SLICES - start) % SLICES, i))
            .filter(|&(at, _)| at < count)
            .collect();
        listed.sort_unstable();
        listed.into_iter().map(|(_, i)| i).collect()
    }
}
