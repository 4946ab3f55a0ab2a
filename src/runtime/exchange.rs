//! The two sides of one exchange over a fresh TCP connection:
//! initiator REQUEST → FIRST_RESPONSE → SECOND_RESPONSE, and the responder.
//! Anything unexpected closes the connection and is counted; nothing here
//! can take the node down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::admission::Progress;
use super::debug_log;
use super::transport::Transport;
use super::Shared;
use crate::core::catch_up::CatchUpChain;
use crate::core::stats::Refusal;
use crate::wire::{self, Incoming};

/// Bytes and messages moved by a connection, added to the node's stats once.
fn account(shared: &Shared, t: &Transport, messages_in: u64, messages_out: u64) {
    let mut core = shared.core.lock();
    core.stats.bytes_in += t.bytes_in;
    core.stats.bytes_out += t.bytes_out;
    core.stats.messages_in += messages_in;
    core.stats.messages_out += messages_out;
}

/// Runs an exchange with `target`, then catch-up exchanges with it while
/// the node's `CatchUpChain` says so.
pub(super) async fn initiate(shared: &Arc<Shared>, target: &str, request: Vec<u8>) {
    let limit = shared.net.catch_up_exchanges;
    let more = exchange_once(shared, target, request).await;
    if !shared.catch_up.lock().next(false, more, limit) {
        return;
    }
    // ends the chain however this task ends (a stop aborts it mid-way)
    let chain = ChainRunning(&shared.catch_up);
    loop {
        let request = {
            let mut core = shared.core.lock();
            core.catch_up_started();
            core.request()
        };
        let more = exchange_once(shared, target, request).await;
        if !shared.catch_up.lock().next(true, more, limit) {
            // ended by `next`; no other chain may be ended in its place
            std::mem::forget(chain);
            return;
        }
    }
}

/// Ends a node's catch-up chain when dropped.
struct ChainRunning<'a>(&'a Mutex<CatchUpChain>);

impl Drop for ChainRunning<'_> {
    fn drop(&mut self) {
        self.0.lock().end();
    }
}

/// One exchange over a fresh connection; true when it completed and either
/// side left updates out.
async fn exchange_once(shared: &Arc<Shared>, target: &str, request: Vec<u8>) -> bool {
    let connect = tokio::time::timeout(
        Duration::from_millis(shared.net.connect_timeout_ms),
        TcpStream::connect(target),
    );
    let stream = match connect.await {
        Ok(Ok(s)) => s,
        failure => {
            let name = shared.core.lock().name().clone();
            let why = match failure {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            debug_log::log(&name, format_args!("cannot connect to {target}: {why}"));
            shared.core.lock().stats.connect_failures += 1;
            return false;
        }
    };
    let mut t = Transport::new(stream, shared.limits, shared.sealing());
    let mut counts = (0, 0);
    let outcome = async {
        t.write_message(&request).await?;
        counts.1 += 1;
        let msg = t.read_message().await?;
        counts.0 += 1;
        let reply = match wire::decode(&msg) {
            Ok(Incoming::FirstResponse(resp)) => {
                shared.with_core(|core, now| core.handle_first_response(&resp, now))?
            }
            Ok(_) => return Err(Refusal::Unexpected),
            Err(_) => return Err(Refusal::Malformed),
        };
        t.write_message(&reply.message).await?;
        counts.1 += 1;
        Ok(reply.more)
    }
    .await;
    account(shared, &t, counts.0, counts.1);
    match outcome {
        Ok(more) => {
            shared.core.lock().exchange_completed();
            t.finish().await;
            more
        }
        Err(why) => {
            let mut core = shared.core.lock();
            core.stats.exchanges_failed += 1;
            core.stats.refuse(why);
            debug_log::log(
                core.name(),
                format_args!("exchange with {target} ended early: {}", why.name()),
            );
            false
        }
    }
}

/// Answers one exchange on a connection accepted from `from`, telling
/// `progress` of every whole message that arrives.
pub(super) async fn respond(
    shared: &Arc<Shared>,
    stream: TcpStream,
    from: SocketAddr,
    progress: &Progress,
) {
    let mut t = Transport::new(stream, shared.limits, shared.sealing());
    let mut counts = (0, 0);
    let outcome = async {
        let msg = t.read_message().await?;
        progress.message_done();
        counts.0 += 1;
        let reply = match wire::decode(&msg) {
            Ok(Incoming::Request(req)) => {
                shared.with_core(|core, now| core.handle_request(&req, now))?
            }
            Ok(_) => return Err(Refusal::Unexpected),
            Err(_) => return Err(Refusal::Malformed),
        };
        t.write_message(&reply).await?;
        counts.1 += 1;
        let msg = t.read_message().await?;
        progress.message_done();
        counts.0 += 1;
        match wire::decode(&msg) {
            Ok(Incoming::SecondResponse(resp)) => {
                shared.with_core(|core, now| core.handle_second_response(&resp, now))
            }
            Ok(_) => Err(Refusal::Unexpected),
            Err(_) => Err(Refusal::Malformed),
        }
    }
    .await;
    account(shared, &t, counts.0, counts.1);
    match outcome {
        Ok(()) => t.finish().await,
        Err(why) => {
            shared.count(why);
            if debug_log::enabled() {
                let name = shared.core.lock().name().clone();
                debug_log::log(
                    &name,
                    format_args!("closed the connection from {from}: {}", why.name()),
                );
            }
        }
    }
}
