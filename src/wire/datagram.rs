//! The datagrams gossiper peers exchange beside node-gossip's TCP messages
//! (protocol 2): probes for failure detection and gossip of membership and
//! small updates. Old peers never receive one. Each is one msgpack array,
//! small enough for one UDP datagram:
//!
//! ```text
//! [kind, from, cluster, seq, summary, members, about, items]
//!   kind     0 PING, 1 ACK, 2 PING_REQ (probe `about` for me), 3 GOSSIP
//!   from     the sender's peer name
//!   cluster  its cluster name, or nil
//!   seq      the probe's number (0 in GOSSIP)
//!   summary  a hash of everything the sender holds (see core's summary)
//!   members  a hash of the peers it holds, without their versions
//!   about    PING: the peer probed; ACK: the peer that answers;
//!            PING_REQ: the peer to probe; GOSSIP: nil
//!   items    what the sender disseminates:
//!     [0, peer, version, generation, flags]   NOTICE: peer has state up to version
//!     [1, peer, version, by]                  SUSPECT: peer, as of version, may be down;
//!                                             `by` suspects it (each one who does counts)
//!     [2, peer, version]                      DEAD: peer, as of version, is down
//!     [3, peer, version, generation, flags, key, value, deleted, ttl]
//!                                             DELTA: one small update; `ttl`
//!                                             the ms its key has left, or nil
//! ```
//! `flags` bit 0: the peer speaks protocol 2 (probes and datagrams).

use super::marker::Kind;
use super::read::Reader;
use super::write::*;
use super::DecodeError;

/// The largest datagram sent (a UDP payload that crosses an Ethernet MTU
/// without fragments, with room for the seal).
pub const MAX_DATAGRAM_BYTES: usize = 1400;

/// The largest datagram accepted (a whole UDP payload).
pub const MAX_INCOMING_DATAGRAM_BYTES: usize = 65_507;

/// Items accepted in one datagram, whatever their size.
const MAX_ITEMS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatagramKind {
    Ping = 0,
    Ack = 1,
    PingReq = 2,
    Gossip = 3,
}

/// One piece of news a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Notice {
        peer: &'a str,
        version: u64,
        generation: u64,
        flags: u64,
    },
    Suspect {
        peer: &'a str,
        version: u64,
        /// Who suspects it.
        by: &'a str,
    },
    Dead {
        peer: &'a str,
        version: u64,
    },
    Delta {
        peer: &'a str,
        version: u64,
        generation: u64,
        flags: u64,
        key: &'a str,
        /// msgpack bytes; `None` for a deletion.
        value: Option<&'a [u8]>,
        /// The time the key has left, if it has a deadline.
        ttl_ms: Option<u64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub kind: DatagramKind,
    pub from: &'a str,
    pub cluster: Option<&'a str>,
    pub seq: u64,
    pub summary: u64,
    pub members: u64,
    pub about: Option<&'a str>,
    pub items: Vec<Item<'a>>,
}

fn field(e: DecodeError, name: &'static str) -> DecodeError {
    match e {
        DecodeError::Truncated => DecodeError::Truncated,
        _ => DecodeError::Field(name),
    }
}

fn opt_str<'a>(r: &mut Reader<'a>, name: &'static str) -> Result<Option<&'a str>, DecodeError> {
    if r.peek_kind()? == Kind::Nil {
        r.skip()?;
        return Ok(None);
    }
    r.str().map(Some).map_err(|e| field(e, name))
}

/// A hash: any 64-bit unsigned integer (not bounded like a version).
fn hash(r: &mut Reader, name: &'static str) -> Result<u64, DecodeError> {
    match r.number()? {
        super::read::Number::Uint(v) => Ok(v),
        _ => Err(DecodeError::Field(name)),
    }
}

/// Decodes one datagram; anything else is an error, never a panic.
pub fn decode(buf: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    if buf.len() > MAX_INCOMING_DATAGRAM_BYTES {
        return Err(DecodeError::Malformed);
    }
    let mut r = Reader::new(buf);
    if r.array_len()? != 8 {
        return Err(DecodeError::Malformed);
    }
    let kind = match r.version().map_err(|e| field(e, "kind"))? {
        0 => DatagramKind::Ping,
        1 => DatagramKind::Ack,
        2 => DatagramKind::PingReq,
        3 => DatagramKind::Gossip,
        _ => return Err(DecodeError::Field("kind")),
    };
    let from = r.str().map_err(|e| field(e, "from"))?;
    let cluster = opt_str(&mut r, "cluster")?;
    let seq = r.version().map_err(|e| field(e, "seq"))?;
    let summary = hash(&mut r, "summary")?;
    let members = hash(&mut r, "members")?;
    let about = opt_str(&mut r, "about")?;
    let n = r.array_len().map_err(|e| field(e, "items"))?;
    if n > MAX_ITEMS {
        return Err(DecodeError::Field("items"));
    }
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(read_item(&mut r)?);
    }
    if !r.at_end() {
        return Err(DecodeError::Malformed);
    }
    Ok(Datagram {
        kind,
        from,
        cluster,
        seq,
        summary,
        members,
        about,
        items,
    })
}

fn read_item<'a>(r: &mut Reader<'a>) -> Result<Item<'a>, DecodeError> {
    let len = r.array_len().map_err(|e| field(e, "item"))?;
    let kind = r.version().map_err(|e| field(e, "item"))?;
    let want = match kind {
        0 => 5,
        1 => 4,
        2 => 3,
        3 => 9,
        _ => return Err(DecodeError::Field("item")),
    };
    if len != want {
        return Err(DecodeError::Field("item"));
    }
    let peer = r.str().map_err(|e| field(e, "item"))?;
    let version = r.version().map_err(|e| field(e, "item"))?;
    Ok(match kind {
        0 => Item::Notice {
            peer,
            version,
            generation: r.version().map_err(|e| field(e, "item"))?,
            flags: r.version().map_err(|e| field(e, "item"))?,
        },
        1 => Item::Suspect {
            peer,
            version,
            by: r.str().map_err(|e| field(e, "item"))?,
        },
        2 => Item::Dead { peer, version },
        _ => {
            let generation = r.version().map_err(|e| field(e, "item"))?;
            let flags = r.version().map_err(|e| field(e, "item"))?;
            let key = r.str().map_err(|e| field(e, "item"))?;
            let value = r.raw()?;
            let deleted = r.bool().map_err(|e| field(e, "item"))?;
            let ttl_ms = if r.peek_kind()? == Kind::Nil {
                r.skip()?;
                None
            } else {
                Some(r.version().map_err(|e| field(e, "item"))?)
            };
            Item::Delta {
                peer,
                version,
                generation,
                flags,
                key,
                value: (!deleted).then_some(value),
                ttl_ms: ttl_ms.filter(|_| !deleted),
            }
        }
    })
}

/// Bytes the header of a datagram takes (everything but its items), an
/// upper bound.
pub fn header_size(from: &str, cluster: Option<&str>, about: Option<&str>) -> usize {
    1 + 1 + str_size(from) + cluster.map_or(1, str_size) + 9 + 9 + 9 + about.map_or(1, str_size) + 5
}

/// Bytes `item` takes in a datagram (as `write_item` writes it).
pub fn item_size(item: &Item) -> usize {
    let mut out = Vec::with_capacity(64);
    write_item(&mut out, item);
    out.len()
}

/// A datagram whose items array (header included) is already encoded.
#[allow(clippy::too_many_arguments)]
pub fn encode_parts(
    out: &mut Vec<u8>,
    kind: DatagramKind,
    from: &str,
    cluster: Option<&str>,
    seq: u64,
    (summary, members): (u64, u64),
    about: Option<&str>,
    items: &[u8],
) {
    write_array_len(out, 8);
    write_uint(out, kind as u64);
    write_str(out, from);
    match cluster {
        Some(c) => write_str(out, c),
        None => write_nil(out),
    }
    write_uint(out, seq);
    write_uint(out, summary);
    write_uint(out, members);
    match about {
        Some(a) => write_str(out, a),
        None => write_nil(out),
    }
    out.extend_from_slice(items);
}

pub fn encode(out: &mut Vec<u8>, d: &Datagram) {
    write_array_len(out, 8);
    write_uint(out, d.kind as u64);
    write_str(out, d.from);
    match d.cluster {
        Some(c) => write_str(out, c),
        None => write_nil(out),
    }
    write_uint(out, d.seq);
    write_uint(out, d.summary);
    write_uint(out, d.members);
    match d.about {
        Some(a) => write_str(out, a),
        None => write_nil(out),
    }
    write_array_len(out, d.items.len());
    for item in &d.items {
        write_item(out, item);
    }
}

/// Writes one item (for a caller that assembles the items array itself,
/// see `encode_parts`).
pub fn write_item(out: &mut Vec<u8>, item: &Item) {
    match *item {
        Item::Notice {
            peer,
            version,
            generation,
            flags,
        } => {
            write_array_len(out, 5);
            write_uint(out, 0);
            write_str(out, peer);
            write_uint(out, version);
            write_uint(out, generation);
            write_uint(out, flags);
        }
        Item::Suspect { peer, version, by } => {
            write_array_len(out, 4);
            write_uint(out, 1);
            write_str(out, peer);
            write_uint(out, version);
            write_str(out, by);
        }
        Item::Dead { peer, version } => {
            write_array_len(out, 3);
            write_uint(out, 2);
            write_str(out, peer);
            write_uint(out, version);
        }
        Item::Delta {
            peer,
            version,
            generation,
            flags,
            key,
            value,
            ttl_ms,
        } => {
            write_array_len(out, 9);
            write_uint(out, 3);
            write_str(out, peer);
            write_uint(out, version);
            write_uint(out, generation);
            write_uint(out, flags);
            write_str(out, key);
            match value {
                Some(v) => out.extend_from_slice(v),
                None => write_nil(out),
            }
            write_bool(out, value.is_none());
            match ttl_ms {
                Some(ms) => write_uint(out, ms),
                None => write_nil(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_item_round_trips_within_its_size() {
        let items = vec![
            Item::Notice {
                peer: "10.0.0.1:9000",
                version: 1 << 40,
                generation: 1 << 39,
                flags: 1,
            },
            Item::Suspect {
                peer: "10.0.0.2:9000",
                version: 7,
                by: "10.0.0.3:9000",
            },
            Item::Dead {
                peer: "[::1]:9000",
                version: 9,
            },
            Item::Delta {
                peer: "h:1",
                version: 3,
                generation: 1,
                flags: 1,
                key: "k",
                value: Some(&[0xa1, b'v']),
                ttl_ms: Some(30_000),
            },
            Item::Delta {
                peer: "h:1",
                version: 4,
                generation: 1,
                flags: 1,
                key: "gone",
                value: None,
                ttl_ms: None,
            },
        ];
        for kind in [
            DatagramKind::Ping,
            DatagramKind::Ack,
            DatagramKind::PingReq,
            DatagramKind::Gossip,
        ] {
            let d = Datagram {
                kind,
                from: "10.0.0.9:9000",
                cluster: Some("blue"),
                seq: 42,
                summary: u64::MAX - 3,
                members: 1 << 63,
                about: (kind != DatagramKind::Gossip).then_some("10.0.0.1:9000"),
                items: items.clone(),
            };
            let mut out = Vec::new();
            encode(&mut out, &d);
            let bound = header_size(d.from, d.cluster, d.about)
                + d.items.iter().map(item_size).sum::<usize>();
            assert!(out.len() <= bound, "{} > {bound}", out.len());
            assert_eq!(decode(&out).unwrap(), d);
        }
    }

    #[test]
    fn garbage_truncation_and_extra_bytes_are_errors() {
        let d = Datagram {
            kind: DatagramKind::Ping,
            from: "a:1",
            cluster: None,
            seq: 1,
            summary: 2,
            members: 5,
            about: Some("b:2"),
            items: vec![Item::Dead {
                peer: "c:3",
                version: 4,
            }],
        };
        let mut out = Vec::new();
        encode(&mut out, &d);
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = out.clone();
        longer.push(0xc0);
        assert!(decode(&longer).is_err());
        assert!(decode(&[0xc1]).is_err());
        assert!(
            decode(&[0x97, 9, 0xa1, b'a', 0xc0, 0, 0, 0xc0, 0x90]).is_err(),
            "unknown kind"
        );
    }
}
