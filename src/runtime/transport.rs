//! Moves whole messages over one TCP connection: bounded reads that find
//! message boundaries with the scanner, each read under a deadline, and
//! writes. (Sealing with the cluster keys plugs in here.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::core::stats::Refusal;
use crate::wire::{ScanError, ScanLimits, Scanner};

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
    pub bytes_in: u64,
    pub bytes_out: u64,
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
    pub fn new(stream: TcpStream, limits: ConnLimits) -> Self {
        let _ = stream.set_nodelay(true);
        Transport {
            stream,
            buf: Vec::new(),
            scanner: Scanner::new(limits.scan),
            limits,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Reads the next whole message, or says why the connection must close.
    pub async fn read_message(&mut self) -> Result<Vec<u8>, Refusal> {
        let deadline = tokio::time::Instant::now() + self.limits.read_timeout;
        loop {
            if !self.buf.is_empty() {
                if let Some(len) = self.scanner.scan(&self.buf)? {
                    let rest = self.buf.split_off(len);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
            }
            let room = self
                .limits
                .scan
                .max_message_bytes
                .saturating_sub(self.buf.len())
                .clamp(1, 64 * 1024);
            self.buf.reserve(room);
            let mut limited = (&mut self.stream).take(room as u64);
            let read = tokio::time::timeout_at(deadline, limited.read_buf(&mut self.buf));
            match read.await {
                Err(_) => return Err(Refusal::Timeout),
                Ok(Err(_)) | Ok(Ok(0)) => return Err(Refusal::Closed),
                Ok(Ok(n)) => self.bytes_in += n as u64,
            }
        }
    }

    pub async fn write_message(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let write = tokio::time::timeout(self.limits.read_timeout, self.stream.write_all(bytes));
        match write.await {
            Err(_) => Err(Refusal::Timeout),
            Ok(Err(_)) => Err(Refusal::Closed),
            Ok(Ok(())) => {
                self.bytes_out += bytes.len() as u64;
                Ok(())
            }
        }
    }

    /// Ends our side of the stream, as node-gossip does after its last message.
    pub async fn finish(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.stream.shutdown()).await;
    }
}
