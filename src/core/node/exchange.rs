//! Exchanges as the driver sees them: the core opens them (`Transmit`),
//! takes their messages (`handle_message`) and their failures, and decides
//! every step: what to answer, when an exchange is over, and when to start a
//! catch-up with the same peer. The driver owns the connections and moves
//! whole messages; it never looks inside one.

use super::*;
use crate::wire::{self, Incoming};

/// Names one exchange of one node, for as long as it runs.
pub type ExchangeId = u64;

/// What the core asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Open a connection to `to` and send `message` on it: the first
    /// message of an exchange this node starts. Its next messages go to
    /// `handle_message(exchange, ..)`, and a failure to
    /// `handle_exchange_failure(exchange, ..)`.
    Connect {
        exchange: ExchangeId,
        to: Arc<str>,
        message: Vec<u8>,
    },
    /// Resolve host name `name` (`host:port`) to `ip:port` addresses, and
    /// give them to `handle_resolved(seed, ..)`.
    Resolve { seed: usize, name: Arc<str> },
    /// Send datagram `bytes` to `to` (a probe, an ack, gossip: see
    /// `swim.rs`); what comes back goes to `handle_datagram`.
    Datagram { to: Arc<str>, bytes: Vec<u8> },
}

/// What to do on an exchange's connection after one of its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Send this on the connection.
    pub message: Option<Vec<u8>>,
    /// Then the exchange is over: end our side of the connection. Otherwise
    /// read its next message.
    pub end: bool,
}

/// Why an exchange ended early, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The peer could not be reached (refused, unreachable, timed out).
    Connect,
    /// The connection broke or was refused at the transport: closed,
    /// timed out, too large, sealed with no key we hold...
    Transport(Refusal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// The message an exchange waits for.
enum Stage {
    /// We answer: the REQUEST.
    Request,
    /// We answered the REQUEST: the SECOND_RESPONSE.
    Second,
    /// We started: the FIRST_RESPONSE.
    First,
}

#[derive(Clone, Debug)]
pub(super) struct Exchange {
    stage: Stage,
    /// The peer we started it with, or the address it came from.
    peer: Option<Arc<str>>,
    /// The other end's name, once known: its own updates are news to pass
    /// on (see `Relay`).
    owner: Option<Arc<str>>,
    /// One of our catch-up chain's exchanges.
    chain: bool,
}

impl Node {
    /// The next thing to send, if any. Drain after every input.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Whether exchange `id` still runs.
    pub fn exchange_running(&self, id: ExchangeId) -> bool {
        self.exchanges.contains_key(&id)
    }

    /// Bytes the driver's framing adds to every message (a sealed frame's
    /// length, nonce and tag), so that `stats()` counts what crossed the wire.
    pub fn set_frame_overhead(&mut self, bytes: usize) {
        self.frame_overhead = bytes;
    }

    /// Starts an exchange with `to`: its REQUEST goes out as a `Connect`.
    pub(super) fn open_exchange(&mut self, to: Arc<str>, chain: bool) -> ExchangeId {
        let message = self.request_to(Some(&to));
        self.open_with(to, chain, message)
    }

    /// Starts an exchange with `to` that opens with `message`.
    pub(super) fn open_with(&mut self, to: Arc<str>, chain: bool, message: Vec<u8>) -> ExchangeId {
        let id = self.next_exchange;
        self.next_exchange += 1;
        self.count_out(&message);
        self.stats.exchanges_started += 1;
        self.exchanges.insert(
            id,
            Exchange {
                stage: Stage::First,
                peer: Some(to.clone()),
                owner: Some(to.clone()),
                chain,
            },
        );
        self.transmits.push_back(Transmit::Connect {
            exchange: id,
            to,
            message,
        });
        id
    }

    /// A peer connected to us from `from` (its address): the exchange it
    /// starts has this id.
    pub fn accept(&mut self, from: &str, now: Millis) -> ExchangeId {
        self.observe_time(now);
        self.stats.connections_accepted += 1;
        let id = self.next_exchange;
        self.next_exchange += 1;
        self.exchanges.insert(
            id,
            Exchange {
                stage: Stage::Request,
                peer: Some(Arc::from(from)),
                owner: None,
                chain: false,
            },
        );
        id
    }

    /// A whole message arrived on exchange `id`. An error means the
    /// exchange is over and its connection must close (the refusal is
    /// counted); so is an exchange the node no longer runs (it stopped).
    pub fn handle_message(
        &mut self,
        id: ExchangeId,
        bytes: &[u8],
        now: Millis,
    ) -> Result<Reply, Refusal> {
        let Some(ex) = self.exchanges.remove(&id) else {
            return Err(Refusal::Closed);
        };
        let real = now;
        let now = self.observe_time(real);
        self.stats.messages_in += 1;
        self.stats.bytes_in += (bytes.len() + self.frame_overhead) as u64;
        let mut owner = ex.owner.clone();
        self.relay = owner.clone().map_or(Relay::None, Relay::Owner);
        let outcome = match (ex.stage, wire::decode(bytes)) {
            (Stage::Request, Ok(Incoming::Request(req))) => {
                // it names itself first
                if req.ext.is_v1() {
                    owner = req.digest.first().map(|d| Arc::from(d.peer));
                }
                self.handle_request(&req, now)
                    .map(|first| (Some(first), None))
            }
            (Stage::Second, Ok(Incoming::SecondResponse(resp))) => self
                .handle_second_response(&resp, now)
                .map(|()| (None, None)),
            (Stage::First, Ok(Incoming::FirstResponse(resp))) => {
                let answered = ex.peer.as_deref().and_then(|p| self.lookup(p));
                if let Some(id) = answered.filter(|&id| id != self.me) {
                    if resp.ext.probes() {
                        self.speaks_probes(id);
                    } else {
                        self.speaks_legacy_itself(id, now);
                    }
                }
                self.handle_first_response(&resp, now)
                    .map(|second| (Some(second.message), Some(second.more)))
            }
            (_, Ok(_)) => Err(Refusal::Unexpected),
            (_, Err(_)) => Err(Refusal::Malformed),
        };
        self.relay = Relay::None;
        if ex.stage == Stage::First {
            self.swim_exchange_ended(id);
        }
        match outcome {
            // a peer of another cluster is answered with an empty response
            // under our name, so that it refuses us in turn and says why,
            // where it would only have seen its connection close
            Err(Refusal::WrongCluster) if ex.stage == Stage::Request => {
                self.end_exchange(&ex, Some(Refusal::WrongCluster), real);
                let mut message = Vec::new();
                crate::wire::message::encode_response(
                    &mut message,
                    Some(&[]),
                    &[],
                    &[],
                    &self.ext(false),
                );
                self.count_out(&message);
                Ok(Reply {
                    message: Some(message),
                    end: true,
                })
            }
            Err(why) => {
                self.end_exchange(&ex, Some(why), real);
                Err(why)
            }
            Ok((message, more)) => {
                if let Some(m) = &message {
                    self.count_out(m);
                }
                let end = match ex.stage {
                    Stage::Request => {
                        let next = Exchange {
                            stage: Stage::Second,
                            owner,
                            ..ex
                        };
                        self.exchanges.insert(id, next);
                        false
                    }
                    Stage::Second => {
                        self.stats.exchanges_served += 1;
                        true
                    }
                    Stage::First => {
                        self.stats.exchanges_completed += 1;
                        if let Some(peer) = &ex.peer {
                            self.seed_answered(peer);
                        }
                        self.catch_up_after(&ex, more.unwrap_or(false));
                        true
                    }
                };
                self.schedule_after_input(real);
                Ok(Reply { message, end })
            }
        }
    }

    /// Exchange `id` ended early at the transport (or could not connect).
    pub fn handle_exchange_failure(&mut self, id: ExchangeId, failure: Failure, now: Millis) {
        self.observe_time(now);
        let Some(ex) = self.exchanges.remove(&id) else {
            return;
        };
        self.swim_exchange_ended(id);
        match failure {
            Failure::Connect => {
                self.stats.connect_failures += 1;
                self.end_exchange(&ex, None, now);
                if let Some(peer) = &ex.peer {
                    self.seed_unreachable(peer, now);
                }
            }
            Failure::Transport(why) => self.end_exchange(&ex, Some(why), now),
        }
    }

    /// A connection refused before any exchange began (the connection cap).
    pub fn refused(&mut self, why: Refusal) {
        self.stats.refuse(why);
    }

    /// Counts an exchange that ended early; a catch-up chain ends with it.
    /// A peer of another cluster or key is also a warning.
    fn end_exchange(&mut self, ex: &Exchange, why: Option<Refusal>, now: Millis) {
        if let Some(why) = why {
            self.stats.refuse(why);
            let peer = ex.peer.as_deref().unwrap_or("");
            match why {
                Refusal::WrongCluster => {
                    let ours = self.config.cluster_name.as_deref().unwrap_or("none");
                    let text = format!(
                        "{peer} is of another cluster than ours ('{ours}'): clusterName differs"
                    );
                    self.warn(Warning::WrongCluster, peer, text, now);
                }
                Refusal::Unauthenticated => {
                    let text = format!("{peer} sent a message that none of our keys opens (or sent plaintext, or expected it): keys differ");
                    self.warn(Warning::WrongKey, peer, text, now);
                }
                _ => {}
            }
        }
        if ex.stage == Stage::First {
            self.stats.exchanges_failed += 1;
            if ex.chain {
                self.catch_up.end();
            }
        }
    }

    /// After an exchange we started: another with the same peer at once
    /// while it had to leave updates out (see `core::catch_up`).
    fn catch_up_after(&mut self, ex: &Exchange, more: bool) {
        let limit = self.config.catch_up_exchanges;
        if self.catch_up.next(ex.chain, more, limit) {
            if let Some(peer) = ex.peer.clone() {
                self.stats.catch_ups += 1;
                self.open_exchange(peer, true);
            }
        }
    }

    fn count_out(&mut self, message: &[u8]) {
        self.stats.messages_out += 1;
        self.stats.bytes_out += (message.len() + self.frame_overhead) as u64;
    }
}
