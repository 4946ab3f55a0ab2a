//! After every input to the core, the driver carries out what the core
//! produced, and nothing else: its events go to the sink (in the order they
//! happened), its connections are opened, and its timer is re-armed when
//! the core's next deadline moved (earlier, or later: see `with_core`).

use std::sync::Arc;

use super::{connection, now_ms, Shared, Signal};
use crate::core::node::Transmit;
use crate::core::time::Millis;
use crate::core::Node;

impl Shared {
    /// Runs `f` on the core with the time now, then drains it.
    pub(super) fn with_core<R>(self: &Arc<Self>, f: impl FnOnce(&mut Node, Millis) -> R) -> R {
        let now = now_ms();
        let mut core = self.core.lock();
        let r = f(&mut core, now);
        let events = core.take_events();
        if !events.is_empty() {
            self.sink
                .deliver(events.into_iter().map(Signal::Core).collect());
        }
        let mut transmits = Vec::new();
        while let Some(t) = core.poll_transmit() {
            transmits.push(t);
        }
        // set while the core is locked, so the last deadline set is the latest
        if let Some(alarm) = self.alarm.get() {
            alarm.set(core.poll_timeout());
        }
        drop(core);
        for t in transmits {
            self.carry_out(t);
        }
        r
    }

    fn carry_out(self: &Arc<Self>, t: Transmit) {
        match t {
            Transmit::Connect {
                exchange,
                to,
                message,
            } => {
                let mut connections = self.connections.lock();
                // none while stopped: the core dropped the exchange already
                if let Some(set) = connections.as_mut() {
                    while set.try_join_next().is_some() {}
                    let shared = self.clone();
                    set.spawn(async move {
                        connection::initiate(&shared, exchange, &to, message).await;
                    });
                }
            }
            Transmit::Datagram { to, bytes } => {
                let udp = self.udp.lock().clone();
                if let Some(socket) = udp {
                    super::datagrams::send(self, &socket, &to, bytes);
                }
            }
            Transmit::Resolve { seed, name } => {
                let mut connections = self.connections.lock();
                if let Some(set) = connections.as_mut() {
                    let shared = self.clone();
                    set.spawn(async move {
                        let result = super::resolve::addresses(&name).await;
                        shared.with_core(|core, now| core.handle_resolved(seed, result, now));
                    });
                }
            }
        }
    }
}

/// Gives the core the time whenever its alarm rings, until the task is
/// aborted.
pub(super) async fn timer_loop(shared: Arc<Shared>) {
    let Some(alarm) = shared.alarm.get() else {
        return;
    };
    loop {
        alarm.rung().await;
        shared.with_core(|core, now| core.handle_timeout(now));
    }
}
