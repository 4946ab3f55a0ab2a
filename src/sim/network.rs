//! The simulated network: connections between nodes that carry whole
//! messages after a random latency, and lose them, cut them or refuse them
//! as a real network would. It moves bytes; what they mean is the cores'.
//!
//! - A connection is opened when a core asks (`Transmit::Connect`). It fails
//!   at once when the target is down, unknown, partitioned off, or cut off
//!   in either direction (TCP needs both).
//! - Each message arrives after a latency drawn uniformly from
//!   `latency_ms`, or is lost with probability `loss`; a lost message ends
//!   its exchange at both ends, as a TCP connection that gave up would.
//! - A message in flight is cut when either end died or restarted, or when a
//!   partition or a cut came between them.

use super::{Action, Sim};
use crate::core::node::{ExchangeId, Failure, Reply};
use crate::core::stats::Refusal;

/// One end of a connection: node, its life, its exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct End {
    pub node: u32,
    pub inc: u32,
    pub exchange: ExchangeId,
}

/// A connection between the node that opened it and the one it reached.
#[derive(Clone, Debug)]
pub(super) struct Conn {
    pub initiator: End,
    /// The responder's node and life, and its exchange once it took the
    /// first message.
    pub responder: (u32, u32, Option<ExchangeId>),
    /// Messages sent on it so far (0: the REQUEST is next).
    pub sent: u8,
}

/// A message on its way.
pub(super) struct Msg {
    pub conn: u64,
    /// From the initiator to the responder.
    pub forward: bool,
    pub bytes: Vec<u8>,
}

impl Sim {
    /// Splits the network: each listed group can only reach itself; nodes in
    /// no group form one more group together.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        let rest = groups.len() as u32 + 1;
        self.group.iter_mut().for_each(|g| *g = rest);
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                self.group[i] = g as u32 + 1;
            }
        }
    }

    /// Ends every partition and every cut.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.cuts.clear();
    }

    /// Cuts the link from `a` to `b` one way: what `a` sends `b` is lost,
    /// while `b` still reaches `a`.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.cuts.insert((a as u32, b as u32));
    }

    /// Whether messages from `a` reach `b`.
    pub fn link(&self, a: usize, b: usize) -> bool {
        self.group[a] == self.group[b] && !self.cuts.contains(&(a as u32, b as u32))
    }

    /// Whether `a` and `b` can talk both ways (as TCP needs).
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        self.link(a, b) && self.link(b, a)
    }

    /// Messages the exchanges running now have still to send.
    pub fn messages_pending(&self) -> u64 {
        self.conns
            .values()
            .map(|c| 3 - u64::from(c.sent.min(3)))
            .sum()
    }

    pub(super) fn serving(&self, i: usize) -> bool {
        matches!(
            self.nodes[i].status,
            super::Status::Up | super::Status::Leaving
        )
    }

    /// Node `i`'s core opened exchange `exchange` with `to`.
    pub(super) fn connect(&mut self, i: usize, exchange: ExchangeId, to: &str, message: Vec<u8>) {
        self.metrics.exchanges_started += 1;
        let j = self.index.get(to).map(|&j| j as usize);
        let inc = self.nodes[i].incarnation;
        let Some(j) = j.filter(|&j| j != i && self.serving(j) && self.reachable(i, j)) else {
            self.metrics.connect_failures += 1;
            self.fail_at(i as u32, inc, exchange, Failure::Connect);
            return;
        };
        let id = self.next_conn;
        self.next_conn += 1;
        let conn = Conn {
            initiator: End {
                node: i as u32,
                inc,
                exchange,
            },
            responder: (j as u32, self.nodes[j].incarnation, None),
            sent: 0,
        };
        self.conns.insert(id, conn);
        self.send(id, true, message);
    }

    /// Tells node `node` (in life `inc`) that its exchange failed, now.
    fn fail_at(&mut self, node: u32, inc: u32, exchange: ExchangeId, failure: Failure) {
        let now = self.now;
        self.schedule(
            now,
            Action::Fail {
                node,
                inc,
                exchange,
                failure,
            },
        );
    }

    /// Ends connection `id` early at both of its ends.
    fn break_conn(&mut self, id: u64, why: Refusal) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        let i = c.initiator;
        self.fail_at(i.node, i.inc, i.exchange, Failure::Transport(why));
        if let (node, inc, Some(exchange)) = c.responder {
            self.fail_at(node, inc, exchange, Failure::Transport(why));
        }
    }

    /// Sends `bytes` on connection `id`, one way or the other.
    fn send(&mut self, id: u64, forward: bool, bytes: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let kind = (c.sent as usize).min(2);
        c.sent += 1;
        let from = if forward {
            c.initiator.node
        } else {
            c.responder.0
        } as usize;
        let m = &mut self.metrics;
        m.messages_sent += 1;
        m.bytes_sent += bytes.len() as u64;
        m.max_message[kind] = m.max_message[kind].max(bytes.len());
        m.messages_by_kind[kind] += 1;
        m.bytes_by_kind[kind] += bytes.len() as u64;
        let n = &mut self.nodes[from];
        n.bytes_sent += bytes.len() as u64;
        n.round_bytes += bytes.len() as u64;
        if self.cfg.loss > 0.0 && self.rng.f64() < self.cfg.loss {
            self.metrics.messages_lost += 1;
            self.break_conn(id, Refusal::Timeout);
            return;
        }
        let (lo, hi) = self.cfg.latency_ms;
        let at = self.now + self.rng.u64(lo..=hi);
        self.schedule(
            at,
            Action::Deliver(Msg {
                conn: id,
                forward,
                bytes,
            }),
        );
    }

    /// Node `i`'s core sends datagram `bytes` to `to`: it arrives after a
    /// latency, or is lost (to `loss`, a cut link, a node that is down).
    pub(super) fn send_datagram(&mut self, i: usize, to: &str, bytes: Vec<u8>) {
        self.metrics.datagrams_sent += 1;
        self.metrics.datagram_bytes += bytes.len() as u64;
        let n = &mut self.nodes[i];
        n.bytes_sent += bytes.len() as u64;
        n.round_bytes += bytes.len() as u64;
        let Some(j) = self.index.get(to).map(|&j| j as usize) else {
            self.metrics.datagrams_lost += 1;
            return;
        };
        let lost = self.cfg.loss > 0.0 && self.rng.f64() < self.cfg.loss;
        if lost || j == i || !self.serving(j) || !self.link(i, j) {
            self.metrics.datagrams_lost += 1;
            return;
        }
        let (lo, hi) = self.cfg.latency_ms;
        // a slow node (`Sim::slow`) reads its input late too
        let at = self.now + self.rng.u64(lo..=hi) + self.nodes[j].input_lag;
        let inc = self.nodes[j].incarnation;
        self.schedule(
            at,
            Action::Datagram {
                to: j as u32,
                inc,
                from: i as u32,
                bytes,
            },
        );
    }

    pub(super) fn deliver_datagram(&mut self, to: usize, inc: u32, from: usize, bytes: &[u8]) {
        if self.nodes[to].incarnation != inc || !self.serving(to) || !self.link(from, to) {
            self.metrics.datagrams_lost += 1;
            return;
        }
        let now = self.now;
        let from_name = self.nodes[from].name.clone();
        let _ = self.nodes[to].node.handle_datagram(&from_name, bytes, now);
        self.drain(to);
    }

    /// A message arrives at its end of the connection.
    pub(super) fn deliver(&mut self, msg: Msg) {
        let Some(c) = self.conns.get(&msg.conn).cloned() else {
            return;
        };
        let (init, (rn, rinc, rex)) = (c.initiator, c.responder);
        let (to, to_inc, from) = if msg.forward {
            (rn, rinc, init.node)
        } else {
            (init.node, init.inc, rn)
        };
        let intact = self.nodes[init.node as usize].incarnation == init.inc
            && self.nodes[rn as usize].incarnation == rinc
            && self.serving(init.node as usize)
            && self.serving(rn as usize)
            && self.link(from as usize, to as usize);
        if !intact {
            self.metrics.messages_cut += 1;
            self.break_conn(msg.conn, Refusal::Closed);
            return;
        }
        let now = self.now;
        let to_i = to as usize;
        let exchange = if msg.forward {
            match rex {
                Some(x) => x,
                None => {
                    let from_name = self.nodes[init.node as usize].name.clone();
                    let x = self.nodes[to_i].node.accept(&from_name, now);
                    if let Some(c) = self.conns.get_mut(&msg.conn) {
                        c.responder.2 = Some(x);
                    }
                    x
                }
            }
        } else {
            init.exchange
        };
        debug_assert_eq!(self.nodes[to_i].incarnation, to_inc);
        let result = self.nodes[to_i]
            .node
            .handle_message(exchange, &msg.bytes, now);
        self.drain(to_i);
        match result {
            Ok(Reply { message, end }) => {
                if !msg.forward && end {
                    self.metrics.exchanges_completed += 1;
                }
                if let Some(m) = message {
                    self.send(msg.conn, !msg.forward, m);
                }
                if end && msg.forward {
                    // the responder had the last word: the exchange is over
                    self.conns.remove(&msg.conn);
                }
            }
            Err(_) => {
                // refused and counted by that core; the other end sees the
                // connection close
                self.metrics.refusals += 1;
                if let Some(c) = self.conns.remove(&msg.conn) {
                    let other = if msg.forward {
                        Some(c.initiator)
                    } else {
                        c.responder.2.map(|x| End {
                            node: c.responder.0,
                            inc: c.responder.1,
                            exchange: x,
                        })
                    };
                    if let Some(o) = other {
                        self.fail_at(
                            o.node,
                            o.inc,
                            o.exchange,
                            Failure::Transport(Refusal::Closed),
                        );
                    }
                }
            }
        }
    }
}
