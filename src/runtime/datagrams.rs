//! Datagrams: one UDP socket per node, on the same address and port as its
//! listener. What arrives goes to the core (`handle_datagram`), opened
//! first when keys are set; what the core sends goes out sealed the same
//! way. A datagram that is too large, does not open or does not decode is
//! dropped and counted by the core; UDP loses datagrams anyway, which the
//! protocol expects.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::Shared;
use crate::core::stats::Refusal;
use crate::wire::datagram::MAX_INCOMING_DATAGRAM_BYTES;
use crate::wire::seal::{self, LENGTH_BYTES};

/// Receives until the task is aborted.
pub(super) async fn receive_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_INCOMING_DATAGRAM_BYTES + 64];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            // an ICMP error of an earlier send (Linux reports them here)
            continue;
        };
        let from = from.to_string();
        let sealing = shared.sealing();
        let plain: std::borrow::Cow<[u8]> = match &sealing {
            // read in place: most datagrams are probes and acks, and this
            // loop runs for each of them
            None => std::borrow::Cow::Borrowed(&buf[..n]),
            Some(s) => {
                let opened = (n > LENGTH_BYTES
                    && seal::body_len(buf[..LENGTH_BYTES].try_into().expect("4 bytes"))
                        == n - LENGTH_BYTES)
                    .then(|| s.keyring.open(&buf[LENGTH_BYTES..n], &s.associated))
                    .flatten();
                match opened {
                    Some(p) => std::borrow::Cow::Owned(p),
                    None => {
                        shared.with_core(|core, _| core.refused(Refusal::Unauthenticated));
                        continue;
                    }
                }
            }
        };
        shared.with_core(|core, now| {
            let _ = core.handle_datagram(&from, &plain, now);
        });
    }
}

/// Sends `bytes` to peer `to` (`ip:port`; a host name is resolved first).
pub(super) fn send(shared: &Arc<Shared>, socket: &Arc<UdpSocket>, to: &str, bytes: Vec<u8>) {
    let bytes = match shared.sealing() {
        Some(s) => s.keyring.seal(&bytes, &s.associated),
        None => bytes,
    };
    if let Ok(addr) = to.parse::<SocketAddr>() {
        // never waits: a full socket buffer drops it, as the network might
        let _ = socket.try_send_to(&bytes, addr);
        return;
    }
    let socket = socket.clone();
    let to = to.to_string();
    tokio::spawn(async move {
        let _ = socket.send_to(&bytes, to.as_str()).await;
    });
}
