//! Applying the updates of a response: versions, limits, incarnations, and
//! the events the application hears.

use super::*;

impl Node {
    pub(super) fn apply(&mut self, resp: &Response, now: Millis) {
        let me_name = self.me().name.clone();
        // keys of old incarnations; reported deleted after the updates, unless
        // the new incarnation set them again in this same message
        let mut dropped: Vec<(PeerId, Arc<str>)> = Vec::new();
        // a generation is believed only with updates of that incarnation;
        // with each peer's newest version, its slot once looked up
        let mut newest: FxHashMap<&str, (u64, Option<PeerId>)> = FxHashMap::default();
        newest.reserve(resp.generations.len());
        // a peer's deltas come in runs: one map update per run
        let mut run: Option<(&str, u64)> = None;
        for d in resp.updates.iter().map(Some).chain([None]) {
            match (&mut run, d) {
                (Some((name, v)), Some(d)) if same_name(name, d.peer) => *v = (*v).max(d.version),
                _ => {
                    if let Some((name, v)) = run.take() {
                        let max = &mut newest.entry(name).or_insert((0, None)).0;
                        *max = (*max).max(v);
                    }
                    run = d.map(|d| (d.peer, d.version));
                }
            }
        }
        for &(name, generation) in &resp.generations {
            let Some((version, _)) = newest.get(name).copied() else {
                continue;
            };
            if version < generation {
                continue;
            }
            if let Some(id) = self.lookup(name) {
                if let Some(e) = newest.get_mut(name) {
                    e.1 = Some(id);
                }
                let keys = self.drop_old_incarnation(id, generation);
                dropped.extend(keys.into_iter().map(|k| (id, k)));
            }
        }
        let plausible = |name: &str, g: u64| newest.get(name).is_some_and(|&(v, _)| v >= g);
        let mut advanced: Vec<PeerId> = Vec::new();
        let from_old_peer = !resp.ext.is_v1();
        let mut held_back: Vec<PeerId> = Vec::new();
        let mut new_peer_gens: Option<FxHashMap<&str, u64>> = None;
        // the slot of the previous delta's peer: the next is usually the same
        let mut last: Option<(&str, PeerId)> = None;
        for d in &resp.updates {
            if same_name(d.peer, &me_name) {
                self.stats.updates_about_self += 1;
                continue;
            }
            let same = last
                .filter(|&(name, _)| same_name(name, d.peer))
                .map(|(_, id)| id);
            let known = || newest.get(d.peer).and_then(|&(_, id)| id);
            let id = match same.or_else(known).or_else(|| self.lookup(d.peer)) {
                Some(id) => id,
                None => {
                    // judged by the newest version of the peer in the message:
                    // by this delta's, a peer removed at version v came back at
                    // its first delta above v, with the ones before it skipped
                    // for good
                    let version = newest.get(d.peer).map_or(d.version, |&(v, _)| v);
                    let Some(id) = self.register(d.peer, version, now) else {
                        continue;
                    };
                    // indexed once: a scan per new peer is quadratic in the message
                    let gens = new_peer_gens.get_or_insert_with(|| {
                        resp.generations
                            .iter()
                            .copied()
                            .collect::<FxHashMap<&str, u64>>()
                    });
                    if let Some(&g) = gens.get(d.peer).filter(|&&g| plausible(d.peer, g)) {
                        self.observe_generation(id, g, now);
                    }
                    id
                }
            };
            last = Some((d.peer, id));
            // An old node-gossip relay forwards a gossiper peer's deletion as a
            // plain nil, indistinguishable from a null value. Take nothing more
            // of that peer from this message; its own (or any gossiper peer's)
            // next exchange brings the entry with its deletion flag.
            if held_back.contains(&id) {
                continue;
            }
            let gossiper_peer = self.peer(id).is_some_and(|p| p.state.generation != 0);
            if from_old_peer && gossiper_peer && d.value == Some(NIL) {
                held_back.push(id);
                continue;
            }
            if self.apply_delta(id, d, now) && advanced.last() != Some(&id) {
                advanced.push(id);
            }
        }
        advanced.sort_unstable();
        advanced.dedup();
        // what the sender knows of peers' protocols (protocol 2), before the
        // arrivals: a peer that probes needs no detector ring. Not when it
        // comes with no news of the peer from a sender that holds an older
        // life of it (flags of a life before its restart).
        // (the generations are looked up by name, once per response: a
        // repair carries thousands of both)
        let mut generation_of: Option<FxHashMap<&str, u64>> = None;
        for &(name, flags) in &resp.flags {
            if let Some(id) = self.lookup(name) {
                if advanced.binary_search(&id).is_ok() {
                    self.take_flags(id, flags);
                } else {
                    let sent = generation_of
                        .get_or_insert_with(|| {
                            let mut of = FxHashMap::default();
                            for &(n, g) in &resp.generations {
                                // a name listed twice: its oldest counts
                                of.entry(n)
                                    .and_modify(|o: &mut u64| *o = (*o).min(g))
                                    .or_insert(g);
                            }
                            of
                        })
                        .get(name)
                        .copied();
                    self.take_flags_of_life(id, flags, sent);
                }
            }
        }
        let revived = std::mem::take(&mut self.revived);
        for &id in &advanced {
            self.touch(id);
            self.heard_of(id);
        }
        let cfg = &self.config.detector;
        for id in advanced {
            let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
                continue;
            };
            p.heard = true;
            if p.alive && !revived.contains(&id) {
                if p.proto == PROTO_PROBES {
                    // judged by probes: only the moment is kept
                    p.detector.arrival(now, cfg, &mut []);
                } else {
                    let (ring, fresh) = self.rings.get_or_attach(id);
                    if fresh {
                        p.detector.forget_samples();
                    }
                    p.detector.arrival(now, cfg, ring);
                }
            } else {
                // do not let the silence of a failure skew its statistics
                p.detector.restart_at(Some(now));
            }
        }
        // keys of an old incarnation that this message did not set again
        let mut by_peer: Vec<(PeerId, Vec<Arc<str>>)> = Vec::new();
        for (id, key) in dropped {
            if self.peer(id).is_some_and(|p| p.state.value(&key).is_some()) {
                continue;
            }
            match by_peer.last_mut() {
                Some((last, keys)) if *last == id => keys.push(key),
                _ => by_peer.push((id, vec![key])),
            }
        }
        for (id, keys) in by_peer {
            self.defer_deletes(id, keys, now);
        }
        // what the sender knows of peers' failures (protocol 2)
        for &(name, version) in &resp.down {
            if same_name(name, &me_name) {
                self.refute(version);
            } else if let Some(id) = self.lookup(name) {
                // a prober checks for itself; an observer takes it as said
                if self.probing() {
                    let me = self.me;
                    self.doubt(id, version, me, self.last_real);
                } else {
                    self.convict(id, version, now);
                }
            }
        }
    }

    /// Applies one delta if it is newer than what we hold. Returns whether
    /// the peer's state advanced.
    pub(super) fn apply_delta(&mut self, id: PeerId, d: &Delta, now: Millis) -> bool {
        let cfg = &self.config;
        let (max_key, max_value, max_keys, max_bytes, max_all) = (
            cfg.max_key_bytes,
            cfg.max_value_bytes,
            cfg.max_keys_per_peer,
            cfg.max_peer_state_bytes,
            cfg.max_state_bytes,
        );
        let all_bytes = self.remote_bytes;
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return false;
        };
        if d.version <= p.state.max_version || d.version < p.state.generation {
            self.stats.updates_stale += 1;
            return false;
        }
        let value_len = d.value.map_or(0, <[u8]>::len);
        let old = p.state.get(d.key);
        let old_bytes = old.map_or(0, |e| d.key.len() + e.value.as_ref().map_or(0, |v| v.len()));
        let is_new_live = d.value.is_some() && old.and_then(|e| e.value.as_ref()).is_none();
        // the protocol's own keys are exempt from maxKeyBytes, which may be
        // set shorter than they are
        let reserved = d.key == HEARTBEAT_KEY || d.key == LEFT_KEY;
        let refused = (d.key.len() > max_key && !reserved)
            || value_len > max_value
            || (is_new_live && p.state.live_keys() >= max_keys)
            || p.state.bytes() - old_bytes + d.key.len() + value_len > max_bytes
            || (all_bytes - old_bytes + d.key.len() + value_len > max_all
                && d.key.len() + value_len > old_bytes);
        if refused {
            let why = if d.key.len() > max_key && !reserved {
                format!(
                    "its key is {} bytes, over maxKeyBytes ({max_key})",
                    d.key.len()
                )
            } else if value_len > max_value {
                format!("its value is {value_len} bytes, over maxValueBytes ({max_value})")
            } else if is_new_live && p.state.live_keys() >= max_keys {
                format!("the peer already holds maxKeysPerPeer ({max_keys}) keys")
            } else if p.state.bytes() - old_bytes + d.key.len() + value_len > max_bytes {
                format!("it would take the peer's state over maxPeerStateBytes ({max_bytes})")
            } else {
                format!("it would take all peers' state over maxStateBytes ({max_all})")
            };
            // skip it for good: asking again would bring the same bytes
            p.state.max_version = d.version;
            let text = format!(
                "an update of {} to key '{}' was dropped: {why}",
                p.name, d.key
            );
            let peer = p.name.clone();
            self.stats.updates_refused += 1;
            self.warn(Warning::UpdateRefused, &peer, text, now);
            return true;
        }
        let value: Option<Value> = match d.value {
            Some(bytes) if d.key == HEARTBEAT_KEY => {
                Some(heartbeat_value(&mut self.heartbeat_values, bytes))
            }
            v => v.map(Arc::from),
        };
        let before = p.state.bytes();
        let (key, previous) = p.state.put_shared(d.key, value.clone(), d.version, now);
        self.remote_bytes = self.remote_bytes - before + p.state.bytes();
        self.stats.updates_applied += 1;
        // news from a failed peer: it is alive, and says so before its news
        let revive = !p.alive && !p.left && d.key != LEFT_KEY;
        if revive {
            p.alive = true;
            self.failed_at.remove(&id);
            self.revived.push(id);
            self.emit(Event::Alive { peer: id });
        }
        self.expiry_applied(id, &key, d, value.is_some());
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return true;
        };
        let relay = match &self.relay {
            Relay::All => true,
            Relay::Owner(owner) => same_name(owner, &p.name),
            Relay::None => false,
        };
        if relay && (d.key != HEARTBEAT_KEY || !self.legacy) {
            self.broadcast(broadcast::News::Delta, id, d.version, Some(key.clone()));
        }
        let Some(p) = self.peers.get_mut(id as usize).and_then(Option::as_mut) else {
            return true;
        };
        let event = if d.key == LEFT_KEY {
            let newly_left = value.is_some() && !p.left;
            p.left |= value.is_some();
            if newly_left {
                if p.alive && self.config.dead_peer_removal_ms.is_some() {
                    self.failed_at.insert(id, now);
                }
                p.alive = false;
                Some(Event::Left { peer: id })
            } else {
                None
            }
        } else {
            let was_pending = self.take_pending_delete(id, &key);
            match value {
                Some(value) => Some(Event::Update {
                    peer: id,
                    key,
                    value,
                }),
                None if was_pending || previous.is_some_and(|e| e.value.is_some()) => {
                    Some(Event::Delete { peer: id, key })
                }
                None => None,
            }
        };
        if let Some(e) = event {
            self.emit(e);
        }
        true
    }
}
