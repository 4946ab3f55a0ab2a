//! Moves whole messages over one TCP connection: bounded reads that find
//! message boundaries with the scanner, each read under a deadline, and
//! writes. With a keyring every message is sealed (see `wire::seal`).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::core::stats::Refusal;
use crate::wire::seal::{self, Keyring};
use crate::wire::{ScanError, ScanLimits, Scanner};

/// The keys and associated data (the cluster name) of a sealed connection.
#[derive(Clone)]
pub struct Sealing {
    pub keyring: Arc<Keyring>,
    pub associated: Arc<[u8]>,
}

/// Limits of one connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    pub scan: ScanLimits,
    /// Time allowed for each message to arrive in full.
    pub read_timeout: Duration,
}

pub struct Transport {
    stream: TcpStream,
    buf: Vec<u8>,
    scanner: Scanner,
    limits: ConnLimits,
    sealing: Option<Sealing>,
}

impl From<ScanError> for Refusal {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::TooLarge => Refusal::TooLarge,
            ScanError::TooDeep => Refusal::TooDeep,
            ScanError::InvalidMarker(_) => Refusal::Malformed,
        }
    }
}

impl Transport {
    pub fn new(stream: TcpStream, limits: ConnLimits, sealing: Option<Sealing>) -> Self {
        let _ = stream.set_nodelay(true);
        Transport {
            stream,
            buf: Vec::new(),
            scanner: Scanner::new(limits.scan),
            limits,
            sealing,
        }
    }

    /// Reads the next whole message, or says why the connection must close.
    pub async fn read_message(&mut self) -> Result<Vec<u8>, Refusal> {
        let deadline = tokio::time::Instant::now() + self.limits.read_timeout;
        if let Some(sealing) = self.sealing.clone() {
            return self.read_sealed(&sealing, deadline).await;
        }
        loop {
            if !self.buf.is_empty() {
                if let Some(len) = self.scanner.scan(&self.buf)? {
                    let rest = self.buf.split_off(len);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
            }
            // grow by doubling from 8 KiB: most messages are a few KiB
            let room = self
                .limits
                .scan
                .max_message_bytes
                .saturating_sub(self.buf.len())
                .clamp(1, self.buf.len().clamp(8 * 1024, 64 * 1024));
            self.buf.reserve(room);
            let mut limited = (&mut self.stream).take(room as u64);
            let read = tokio::time::timeout_at(deadline, limited.read_buf(&mut self.buf));
            match read.await {
                Err(_) => return Err(Refusal::Timeout),
                Ok(Err(_)) | Ok(Ok(0)) => return Err(Refusal::Closed),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// A sealed frame: its length is checked before anything is read, the
    /// plaintext must be exactly one message within the limits.
    async fn read_sealed(
        &mut self,
        sealing: &Sealing,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, Refusal> {
        let mut header = [0u8; seal::LENGTH_BYTES];
        self.read_exact_by(&mut header, deadline).await?;
        let len = seal::body_len(header);
        if len > self.limits.scan.max_message_bytes + seal::NONCE_BYTES + seal::TAG_BYTES {
            // plaintext msgpack, or a frame sealed by nobody we know
            return Err(Refusal::Unauthenticated);
        }
        let mut body = vec![0u8; len];
        self.read_exact_by(&mut body, deadline).await?;
        let plain = sealing
            .keyring
            .open(&body, &sealing.associated)
            .ok_or(Refusal::Unauthenticated)?;
        let mut scanner = Scanner::new(self.limits.scan);
        match scanner.scan(&plain)? {
            Some(n) if n == plain.len() => Ok(plain),
            _ => Err(Refusal::Malformed),
        }
    }

    async fn read_exact_by(
        &mut self,
        buf: &mut [u8],
        deadline: tokio::time::Instant,
    ) -> Result<(), Refusal> {
        match tokio::time::timeout_at(deadline, self.stream.read_exact(buf)).await {
            Err(_) => Err(Refusal::Timeout),
            Ok(Err(_)) => Err(Refusal::Closed),
            Ok(Ok(_)) => Ok(()),
        }
    }

    pub async fn write_message(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let sealed;
        let bytes = match &self.sealing {
            Some(s) => {
                sealed = s.keyring.seal(bytes, &s.associated);
                &sealed[..]
            }
            None => bytes,
        };
        let write = tokio::time::timeout(self.limits.read_timeout, self.stream.write_all(bytes));
        match write.await {
            Err(_) => Err(Refusal::Timeout),
            Ok(Err(_)) => Err(Refusal::Closed),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Ends our side of the stream, as node-gossip does after its last message.
    pub async fn finish(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.stream.shutdown()).await;
    }
}
