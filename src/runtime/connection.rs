//! One connection of an exchange, as the core directs it: the initiator
//! connects and sends the core's first message, the responder takes one in;
//! then every whole message read goes to the core, which says what to send
//! back and whether the exchange is over. A transport failure is reported to
//! the core, which counts it; nothing here can take the node down.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::admission::Progress;
use super::transport::Transport;
use super::Shared;
use crate::core::node::{ExchangeId, Failure, Reply};
use crate::core::stats::Refusal;

/// Runs exchange `id`, which the core started with `to`.
pub(super) async fn initiate(shared: &Arc<Shared>, id: ExchangeId, to: &str, message: Vec<u8>) {
    let connect = tokio::time::timeout(shared.connect_timeout, TcpStream::connect(to));
    let stream = match connect.await {
        Ok(Ok(s)) => s,
        failure => {
            shared.log(|| {
                let why = match failure {
                    Ok(Err(e)) => super::io_reason(&e),
                    _ => "timed out".to_string(),
                };
                format!("cannot connect to {to}: {why}")
            });
            shared.with_core(|core, now| core.handle_exchange_failure(id, Failure::Connect, now));
            return;
        }
    };
    let mut t = Transport::new(stream, shared.limits, shared.sealing());
    if let Err(why) = t.write_message(&message).await {
        failed(shared, id, why, to, false);
        return;
    }
    converse(shared, id, t, to, None).await;
}

/// Answers the exchange a peer starts on a connection accepted from `from`,
/// telling `progress` of every whole message that arrives.
pub(super) async fn respond(
    shared: &Arc<Shared>,
    stream: TcpStream,
    from: SocketAddr,
    progress: &Progress,
) {
    let peer = from.to_string();
    let id = shared.with_core(|core, now| core.accept(&peer, now));
    let t = Transport::new(stream, shared.limits, shared.sealing());
    converse(shared, id, t, &peer, Some(progress)).await;
}

/// Reads messages for the core and sends its replies until it says the
/// exchange is over, or the transport fails.
async fn converse(
    shared: &Arc<Shared>,
    id: ExchangeId,
    mut t: Transport,
    peer: &str,
    progress: Option<&Progress>,
) {
    let answering = progress.is_some();
    loop {
        let msg = match t.read_message().await {
            Ok(m) => m,
            Err(why) => {
                failed(shared, id, why, peer, answering);
                return;
            }
        };
        if let Some(p) = progress {
            p.message_done();
        }
        match shared.with_core(|core, now| core.handle_message(id, &msg, now)) {
            Err(why) => {
                log_end(shared, peer, why, answering);
                return;
            }
            Ok(Reply { message, end }) => {
                if let Some(m) = message {
                    if let Err(why) = t.write_message(&m).await {
                        failed(shared, id, why, peer, answering);
                        return;
                    }
                }
                if end {
                    t.finish().await;
                    return;
                }
            }
        }
    }
}

fn failed(shared: &Arc<Shared>, id: ExchangeId, why: Refusal, peer: &str, answering: bool) {
    shared.with_core(|core, now| core.handle_exchange_failure(id, Failure::Transport(why), now));
    log_end(shared, peer, why, answering);
}

fn log_end(shared: &Shared, peer: &str, why: Refusal, answering: bool) {
    shared.log(|| {
        if answering {
            format!("closed the connection from {peer}: {}", why.name())
        } else {
            format!("exchange with {peer} ended early: {}", why.name())
        }
    });
}
