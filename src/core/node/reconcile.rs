//! The Scuttlebutt exchange: answering a digest with deltas and requests,
//! filling responses up to the outgoing budget.

use super::*;

pub(super) const NIL: &[u8] = &[0xc0];

/// Slots of the cache of heartbeat values (see `Node::heartbeat_value`).
pub(super) const HEARTBEAT_VALUES: usize = 64;

/// After this many peers in a row whose next delta did not fit, a message is
/// taken as full: trying the rest of thousands of peers for the last few
/// bytes costs more than it brings.
pub(super) const MAX_MISSES: usize = 64;

/// The initiator's answer to a FIRST_RESPONSE.
#[derive(Debug)]
pub struct SecondResponse {
    pub message: Vec<u8>,
    /// Either side left updates or requests out for lack of room: another
    /// exchange with the same peer at once would move more (catch-up).
    pub more: bool,
}

/// `a` and `b` alternately, then what is left of the longer.
pub(super) fn interleave<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => {
                out.extend(x);
                out.extend(y);
            }
        }
    }
}

/// The value of a heartbeat from `cache`: heartbeats are counters that every
/// peer advances about once a round, so the peers a node holds carry a few
/// dozen distinct values between them, and one copy of each serves them all.
pub(super) fn heartbeat_value(
    cache: &mut [Option<Value>; HEARTBEAT_VALUES],
    bytes: &[u8],
) -> Value {
    let Some(&last) = bytes.last().filter(|_| bytes.len() <= 9) else {
        return Arc::from(bytes);
    };
    let slot = &mut cache[last as usize % HEARTBEAT_VALUES];
    match slot {
        Some(v) if **v == *bytes => v.clone(),
        _ => {
            let v: Value = Arc::from(bytes);
            *slot = Some(v.clone());
            v
        }
    }
}

impl Node {
    pub(super) fn cluster_ok(&self, ext: &Ext) -> bool {
        ext.cluster == self.config.cluster_name.as_deref()
    }

    pub(super) fn ext(&self, complete: bool) -> Ext<'_> {
        Ext {
            protocol: if self.config.probes {
                message::PROTOCOL
            } else {
                1
            },
            cluster: self.config.cluster_name.as_deref(),
            complete,
            more: false,
        }
    }

    // ---- the exchange -----------------------------------------------------

    /// Answers a REQUEST with FIRST_RESPONSE: deltas for peers we know
    /// better, requests for peers they know better, and — for v1 peers —
    /// state of peers their digest did not name (fast join).
    pub fn handle_request(&mut self, req: &Request, now: Millis) -> Result<Vec<u8>, Refusal> {
        if !self.cluster_ok(&req.ext) {
            return Err(Refusal::WrongCluster);
        }
        let v1 = req.ext.is_v1();
        self.partner_probes = req.ext.probes();
        let mut mentioned = vec![false; self.peers.len()];
        let mut wants: Vec<(PeerId, u64)> = Vec::new();
        let mut requests: Vec<(PeerId, u64, u64)> = Vec::new();
        let hashes: Vec<u64> = req.digest.iter().map(|i| name_hash(i.peer)).collect();
        for (i, (item, &hash)) in req.digest.iter().zip(&hashes).enumerate() {
            let id = match self.lookup_hashed(item.peer, hash) {
                Some(id) => id,
                None => {
                    if let Some(id) = self.register(item.peer, item.version, now) {
                        self.learn_protocol(req, i, id, now);
                        if mentioned.len() <= id as usize {
                            mentioned.resize(id as usize + 1, false);
                        }
                        mentioned[id as usize] = true;
                        requests.push((id, 0, item.version));
                        // a generation implies versions at least that high
                        if v1 && item.generation <= item.version {
                            self.observe_generation(id, item.generation, now);
                        }
                    }
                    continue;
                }
            };
            if mentioned.get(id as usize).copied().unwrap_or(true) {
                continue; // a name listed twice
            }
            self.learn_protocol(req, i, id, now);
            mentioned[id as usize] = true;
            if id == self.me {
                let mine = &self.me().state;
                // someone saw versions of ours we no longer have, or holds an
                // incarnation of ours newer than this one as the floor of
                // what it accepts from us (our clock went back across a
                // restart): start above them
                let floor = item.version.max(item.generation);
                if (item.version > mine.max_version || item.generation > mine.generation)
                    && floor < REBIRTH_CEILING
                {
                    self.rebirth(floor.max(mine.max_version));
                }
            } else if v1 && item.generation <= item.version {
                // a generation implies versions at least that high
                self.observe_generation(id, item.generation, now);
            }
            let ours = self.peer(id).map_or(0, |p| p.state.max_version);
            if ours > item.version {
                wants.push((id, item.version));
            } else if ours < item.version && id != self.me {
                requests.push((id, ours, item.version));
            }
        }
        self.sort_deltas_first(&mut wants, v1);
        self.sort_stalest_first(&mut requests, |&(_, ours, theirs)| {
            theirs.saturating_sub(ours)
        });
        let requests: Vec<(PeerId, u64)> =
            requests.iter().map(|&(id, ours, _)| (id, ours)).collect();
        if !v1 {
            let ext = self.ext(false);
            let definite = wants.len();
            return Ok(self
                .build_response(Some(&requests), wants.into_iter(), definite, v1, ext)
                .0);
        }
        // Peers the requester did not name: those of the partition its digest
        // covers (all, for a complete digest) it does not know, and their
        // state goes out alongside what it named; the others it may know,
        // and their state fills what room is left, in a rotating order.
        let n = self.peers.len();
        let unnamed = |i: usize| !mentioned.get(i).copied().unwrap_or(false);
        let covered = digest_coverage(&req.digest, &hashes, req.ext.complete);
        let me_hash = name_hash(&self.me().name);
        let slot_hash = |i: usize| {
            if i == self.me as usize {
                me_hash
            } else {
                u64::from(self.digest_info[i] & 0xffff)
            }
        };
        let occupied = |i: usize| i == self.me as usize || self.digest_info[i] != 0;
        let in_partition = |i: usize| covered.is_some_and(|c| c.contains(slot_hash(i)));
        let mut unknown: Vec<(PeerId, u64)> = (0..n)
            .filter(|&i| occupied(i) && unnamed(i) && in_partition(i))
            .map(|i| (i as PeerId, 0))
            .collect();
        self.rng.shuffle(&mut unknown);
        let wants = interleave(unknown, wants);
        let start = self.missing_cursor % n.max(1);
        let reached = std::cell::Cell::new(0);
        let rest = (0..n)
            .inspect(|step| reached.set(step + 1))
            .map(|step| (start + step) % n)
            .filter(|&i| occupied(i) && unnamed(i) && !in_partition(i))
            .map(|i| (i as PeerId, 0));
        let ext = self.ext(false);
        // only what the requester surely lacks counts as left out
        let definite = wants.len();
        let (out, _) = self.build_response(
            Some(&requests),
            wants.into_iter().chain(rest),
            definite,
            v1,
            ext,
        );
        self.missing_cursor = start + reached.get();
        Ok(out)
    }

    /// node-gossip sends the peers with the most deltas first, which an old
    /// peer gets. A v1 peer gets the peers with several deltas first in
    /// random order: a node catching up with several peers at once then gets
    /// different peers' updates from each, not the same ones from all (in a
    /// burst this halved the duplicates). Among peers with one delta (a
    /// heartbeat, a single write), the ones the other side holds the oldest
    /// version of go first, then at random: under a tight budget, a peer
    /// left out grows older and comes first later, so none is always last.
    pub(super) fn sort_deltas_first(&mut self, wants: &mut [(PeerId, u64)], v1: bool) {
        self.rng.shuffle(wants);
        let mut counted: Vec<((usize, u64), (PeerId, u64))> = wants
            .iter()
            .map(|&(id, after)| {
                let key = self.peer(id).map_or((0, 0), |p| {
                    let behind = p.state.max_version.saturating_sub(after);
                    if !v1 {
                        (p.state.count_after(after), behind)
                    } else if p.state.deltas_after(after).nth(1).is_some() {
                        (2, 0)
                    } else {
                        (1, behind)
                    }
                });
                (key, (id, after))
            })
            .collect();
        counted.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (slot, (_, w)) in wants.iter_mut().zip(counted) {
            *slot = w;
        }
    }

    /// Orders what we ask for, or what we were asked for, most versions
    /// behind first (ties at random), so that when it does not all fit the
    /// stalest state goes first: `behind` gives each entry's gap.
    pub(super) fn sort_stalest_first<T>(&mut self, list: &mut [T], behind: impl Fn(&T) -> u64) {
        self.rng.shuffle(list);
        list.sort_by_key(|t| std::cmp::Reverse(behind(t)));
    }

    /// What a REQUEST tells of the protocol of its `i`-th digest entry, peer
    /// `id`: the flags a v2 requester sends, and, of the requester itself
    /// (it names itself first), what it speaks.
    fn learn_protocol(&mut self, req: &Request, i: usize, id: PeerId, now: Millis) {
        if id == self.me {
            return;
        }
        if let Some(&f) = req.flags.get(i) {
            if let Some(d) = req.digest.get(i) {
                self.take_flags_of_life(id, f, Some(d.generation));
            }
        } else if i == 0 && req.ext.is_v1() && !req.ext.probes() {
            // the requester itself
            self.speaks_legacy_itself(id, now);
        }
        if i == 0 && req.ext.probes() {
            self.speaks_probes(id);
        }
    }

    /// Fills a response up to the outgoing budget: requests first (they are
    /// small and let the other side catch us up), then whole or partial
    /// version-ordered runs of deltas, peer by peer. Also says whether
    /// anything was left out for lack of room (and says so in the message):
    /// a request, or updates of the first `definite` wants; the wants after
    /// them only fill the room left (peers the other side may well know).
    pub(super) fn build_response(
        &self,
        requests: Option<&[(PeerId, u64)]>,
        wants: impl Iterator<Item = (PeerId, u64)>,
        definite: usize,
        v1: bool,
        ext: Ext,
    ) -> (Vec<u8>, bool) {
        let target = self
            .config
            .max_outgoing_message_bytes
            .saturating_sub(envelope_size(&ext));
        let mut budget = target;
        let mut left_out = false;
        let mut request_entries: Vec<(&str, u64)> = Vec::new();
        if let Some(requests) = requests {
            for &(id, version) in requests {
                let Some(p) = self.peer(id) else { continue };
                let size = version_entry_size(&p.name, version);
                if size > budget {
                    left_out = true;
                    break;
                }
                budget -= size;
                request_entries.push((&p.name, version));
            }
        }
        let mut updates: Vec<Delta> = Vec::with_capacity((budget / 40).min(4096));
        let mut generations: Vec<(&str, u64)> = Vec::new();
        // to a peer that probes: which of these peers do, and who is down
        let probes = self.partner_probes;
        let mut flags: Vec<(&str, u64)> = Vec::new();
        let mut misses = 0;
        // an update larger than the whole batching target goes alone, in a
        // message up to the hard ceiling: the bytes it takes beyond the target
        let mut oversize = 0;
        let ceiling = self
            .config
            .max_message_bytes
            .saturating_sub(envelope_size(&ext));
        'peers: for (n, (id, after)) in wants.enumerate() {
            let Some(p) = self.peer(id) else { continue };
            if budget < 16 || misses >= MAX_MISSES {
                left_out |= n < definite;
                break;
            }
            let mut sent_any = false;
            let gen_size = if v1 && p.state.generation != 0 {
                version_entry_size(&p.name, p.state.generation)
            } else {
                0
            } + if probes { str_size(&p.name) + 1 } else { 0 };
            let deadlines = self.deadlines_of(id, &p.name);
            for (key, entry) in p.state.deltas_after(after) {
                let d = ttl::expiring_delta(&p.name, key, entry, deadlines, self.expiry_now(), v1);
                let size = delta_size(&d) + if sent_any { 0 } else { gen_size };
                if size > budget {
                    // too large for any message of the target size
                    let alone = updates.is_empty()
                        && size > target
                        && size <= ceiling.saturating_sub(target - budget);
                    if !alone {
                        misses += usize::from(!sent_any);
                        left_out |= n < definite;
                        continue 'peers;
                    }
                    // the message is full with it
                    oversize = size - budget;
                    budget = size;
                }
                misses = 0;
                budget -= size;
                if !sent_any && v1 && p.state.generation != 0 {
                    generations.push((&p.name, p.state.generation));
                }
                if !sent_any && probes {
                    flags.push((&p.name, self.flags_of(id)));
                }
                sent_any = true;
                updates.push(d);
            }
        }
        let mut out =
            Vec::with_capacity(self.config.max_outgoing_message_bytes - budget + oversize);
        let requests = requests.map(|_| request_entries.as_slice());
        let ext = Ext {
            more: left_out,
            ..ext
        };
        let down = if probes {
            self.down_list(budget)
        } else {
            Vec::new()
        };
        message::encode_response_with(
            &mut out,
            requests,
            &updates,
            &generations,
            &flags,
            &down,
            &ext,
        );
        (out, left_out)
    }

    /// Peers held failed (not left), as of their versions, as many as fit in
    /// `budget` bytes and at most `MAX_DOWN`: an observer, which does not
    /// probe, learns liveness from them, and a node that missed a
    /// conviction learns it.
    fn down_list(&self, mut budget: usize) -> Vec<(&str, u64)> {
        const MAX_DOWN: usize = 64;
        let mut out = Vec::new();
        for (id, p) in self.peers() {
            if id == self.me || p.alive || p.left {
                continue;
            }
            let size = version_entry_size(&p.name, p.state.max_version);
            if size > budget || out.len() >= MAX_DOWN {
                break;
            }
            budget -= size;
            out.push((&*p.name, p.state.max_version));
        }
        out
    }

    /// At the initiator: applies FIRST_RESPONSE and answers SECOND_RESPONSE
    /// with what was requested.
    pub fn handle_first_response(
        &mut self,
        resp: &Response,
        now: Millis,
    ) -> Result<SecondResponse, Refusal> {
        if !self.cluster_ok(&resp.ext) {
            return Err(Refusal::WrongCluster);
        }
        self.partner_probes = resp.ext.probes();
        self.apply(resp, now);
        let mut wants: Vec<(PeerId, u64)> = resp
            .requests
            .iter()
            .filter_map(|(name, version)| self.lookup(name).map(|id| (id, *version)))
            .collect();
        let ours = |&(id, after): &(PeerId, u64)| {
            self.peer(id)
                .map_or(0, |p| p.state.max_version.saturating_sub(after))
        };
        let mut keyed: Vec<(u64, (PeerId, u64))> = wants.iter().map(|w| (ours(w), *w)).collect();
        self.sort_stalest_first(&mut keyed, |k| k.0);
        wants.clear();
        wants.extend(keyed.into_iter().map(|(_, w)| w));
        let v1 = resp.ext.is_v1();
        let ext = self.ext(false);
        let definite = wants.len();
        let (message, left_out) = self.build_response(None, wants.into_iter(), definite, v1, ext);
        Ok(SecondResponse {
            message,
            more: left_out || (v1 && resp.ext.more),
        })
    }

    /// At the receiver: applies SECOND_RESPONSE; the exchange is over.
    pub fn handle_second_response(&mut self, resp: &Response, now: Millis) -> Result<(), Refusal> {
        if !self.cluster_ok(&resp.ext) {
            return Err(Refusal::WrongCluster);
        }
        self.apply(resp, now);
        Ok(())
    }
}
