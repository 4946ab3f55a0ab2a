//! Seeds: the addresses a node starts from, and comes back to when it has
//! no live peer. A seed is not a peer: it becomes one, under the name it
//! gives itself, once it has answered, so a seed that does not resolve or
//! never answers is never listed (and never reported failed). A seed given
//! as a host name (a Kubernetes headless service, say) is resolved again
//! each time it is tried, by the driver (`Transmit::Resolve`), and every
//! address it resolves to is a seed address.

use super::*;

#[derive(Clone, Debug)]
pub(super) struct Seed {
    /// As given: `ip:port` or `host:port`.
    spec: Arc<str>,
    /// The spec is an `ip:port` already.
    literal: bool,
    /// Where to reach it: the spec itself, or what it last resolved to.
    addrs: Vec<Arc<str>>,
    /// One of its addresses completed an exchange since we started.
    answered: bool,
}

/// Whether `spec` is an `ip:port` (IPv6 in brackets) rather than a host name.
impl Seed {
    /// Whether `addr` is one of the addresses it stands for.
    fn has_addr(&self, addr: &str) -> bool {
        self.addrs.iter().any(|a| &**a == addr)
    }
}

fn is_address(spec: &str) -> bool {
    spec.parse::<std::net::SocketAddr>().is_ok()
}

impl Node {
    /// The seeds of this start (our own name among them is left out).
    pub(super) fn set_seeds(&mut self, specs: &[String]) {
        let me = self.me().name.clone();
        self.seeds = specs
            .iter()
            .filter(|s| s.as_str() != &*me)
            .map(|s| {
                let literal = is_address(s);
                let spec: Arc<str> = Arc::from(s.as_str());
                Seed {
                    addrs: if literal {
                        vec![spec.clone()]
                    } else {
                        Vec::new()
                    },
                    spec,
                    literal,
                    answered: false,
                }
            })
            .collect();
    }

    /// Whether `addr` is the address of a seed given as one.
    pub(super) fn is_seed_address(&self, addr: &str) -> bool {
        self.seeds.iter().any(|s| s.literal && &*s.spec == addr)
    }

    pub(super) fn seed_count(&self) -> usize {
        self.seeds.len()
    }

    /// Tries a seed at random: an address to contact (returned), or a host
    /// name to resolve first (a `Resolve` goes out; `handle_resolved`
    /// contacts it).
    pub(super) fn try_seed(&mut self) -> Option<Arc<str>> {
        if self.seeds.is_empty() {
            return None;
        }
        let i = self.rng.usize(..self.seeds.len());
        self.contact_seed(i)
    }

    /// Tries a seed that has not answered since we started, if any. Between
    /// peers that probe, a node learns of others by news that spreads from
    /// where they joined; a seed that never heard of us, and whose peers
    /// never heard of ours, would leave two clusters that do not know of
    /// each other, so each node goes through every seed once.
    pub(super) fn try_unanswered_seed(&mut self) -> Option<Arc<str>> {
        let unanswered = self.seeds.iter().filter(|s| !s.answered).count();
        if unanswered == 0 {
            return None;
        }
        let pick = self.rng.usize(..unanswered);
        let i = self
            .seeds
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.answered)
            .nth(pick)
            .map(|(i, _)| i)?;
        self.contact_seed(i)
    }

    fn contact_seed(&mut self, i: usize) -> Option<Arc<str>> {
        let seed = &self.seeds[i];
        if seed.literal {
            return Some(seed.spec.clone());
        }
        self.transmits.push_back(Transmit::Resolve {
            seed: i,
            name: seed.spec.clone(),
        });
        None
    }

    /// The driver resolved seed `seed` (as `Transmit::Resolve` asked) to
    /// `ip:port` addresses, or could not: one of them is contacted now.
    pub fn handle_resolved(
        &mut self,
        seed: usize,
        result: Result<Vec<String>, String>,
        now: Millis,
    ) {
        self.observe_time(now);
        if !self.started || seed >= self.seeds.len() {
            return;
        }
        let me = self.me().name.clone();
        let spec = self.seeds[seed].spec.clone();
        match result {
            Ok(addrs) => {
                let mut addrs: Vec<Arc<str>> = addrs
                    .iter()
                    .filter(|a| is_address(a) && a.as_str() != &*me)
                    .map(|a| Arc::from(a.as_str()))
                    .collect();
                addrs.dedup();
                if addrs.is_empty() {
                    let text = format!("seed {spec} resolved to no address we can contact");
                    self.warn(Warning::SeedUnresolved, &spec, text, now);
                    return;
                }
                let pick = addrs[self.rng.usize(..addrs.len())].clone();
                self.seeds[seed].addrs = addrs;
                self.open_exchange(pick, false);
            }
            Err(why) => {
                let text = format!("seed {spec} does not resolve: {why}");
                self.warn(Warning::SeedUnresolved, &spec, text, now);
            }
        }
        self.schedule_after_input(now);
    }

    /// An exchange with `addr` completed: if it is a seed's, it answered.
    pub(super) fn seed_answered(&mut self, addr: &str) {
        for s in &mut self.seeds {
            if s.has_addr(addr) {
                s.answered = true;
            }
        }
    }

    /// `addr` could not be reached. If it is a seed's address, the seed is
    /// tried again soon while we are alone (`retry_seed_soon`), and a seed
    /// that has not answered since we started is a warning.
    pub(super) fn seed_unreachable(&mut self, addr: &str, now: Millis) {
        if !self.seeds.iter().any(|s| s.has_addr(addr)) {
            return;
        }
        self.retry_seed_soon(now);
        let unanswered = self
            .seeds
            .iter()
            .find(|s| !s.answered && s.has_addr(addr))
            .map(|s| s.spec.clone());
        if let Some(spec) = unanswered {
            let text = if &*spec == addr {
                format!("seed {spec} cannot be reached and has not answered since we started")
            } else {
                format!(
                    "seed {spec} ({addr}) cannot be reached and has not answered since we started"
                )
            };
            self.warn(Warning::SeedUnreachable, &spec, text, now);
        }
    }
}
