//! node-gossip's three messages, as maps on the wire, plus gossiper's
//! extension fields that old peers ignore (they only read the fields below).
//!
//! ```text
//! 0 REQUEST         {type: 0, digest: {peer: maxVersion}}
//! 1 FIRST_RESPONSE  {type: 1, request_digest: {peer: version}, updates: [[peer, key, value, version]]}
//! 2 SECOND_RESPONSE {type: 2, updates: [[peer, key, value, version]]}
//! ```
//! Extensions, written by gossiper v1 peers only:
//! - `gossiper: 1` marks the sender as a v1 peer (it may receive state about
//!   peers it did not ask for, and tombstones).
//! - `cluster: name` the sender's cluster name (absent when it has none).
//! - `gens`: the incarnation of peers. In a REQUEST an array parallel to the
//!   digest's entries; in responses a map `{peer: generation}` for the peers
//!   whose updates the message carries. 0 means unknown (an old peer).
//! - `complete: true` in a REQUEST whose digest lists every peer the sender knows.
//! - `more: true` in a response whose sender left updates or requests out for
//!   lack of room: another exchange at once would move more.
//! - an update may carry a fifth element `true`: the key was deleted (its
//!   value is then nil, which is what old peers see).
//! - an update of a key with a time to live carries a fifth element `false`
//!   and a sixth, the milliseconds it has left as the sender sends it
//!   (relative: no clock sync needed). Gossiper peers that predate it read
//!   the `false` and skip the rest, so they hold the key until its owner's
//!   tombstone comes. Old peers are never sent the two elements (node-gossip
//!   reads the first four and would drop them on relay anyway).
//!
//! Protocol 2 (peers that probe, see `core::node::swim`) adds:
//! - `flags` in a REQUEST: an array parallel to the digest, each peer's
//!   protocol flags (bit 0: it speaks probes; bit 1: it does not);
//! - `flags: {peer: flags}` in responses, for the peers whose updates the
//!   message carries;
//! - `down: {peer: version}` in responses: peers the sender holds failed,
//!   as of that version.

use super::marker::Kind;
use super::read::Reader;
use super::write::*;
use super::DecodeError;

pub const REQUEST: u64 = 0;
pub const FIRST_RESPONSE: u64 = 1;
pub const SECOND_RESPONSE: u64 = 2;

/// The extension revision this build speaks.
pub const PROTOCOL: u64 = 2;

/// Extension fields of a message; all default for an old node-gossip peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ext<'a> {
    /// 0 for node-gossip 0.0.3, else the sender's extension revision.
    pub protocol: u64,
    pub cluster: Option<&'a str>,
    pub complete: bool,
    /// A response that had to leave something out (see `more` above).
    pub more: bool,
}

impl Ext<'_> {
    pub fn is_v1(&self) -> bool {
        self.protocol >= 1
    }

    /// The sender probes and takes datagrams (protocol 2).
    pub fn probes(&self) -> bool {
        self.protocol >= 2
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestItem<'a> {
    pub peer: &'a str,
    pub version: u64,
    pub generation: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta<'a> {
    pub peer: &'a str,
    pub key: &'a str,
    /// The msgpack bytes of the value; `None` for a deletion.
    pub value: Option<&'a [u8]>,
    pub version: u64,
    /// Milliseconds the key has left to live (only with a value); `None` for
    /// a key that lives until it is written again.
    pub ttl_ms: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub digest: Vec<DigestItem<'a>>,
    /// Protocol flags of the digest's peers, in order (protocol 2; else empty).
    pub flags: Vec<u64>,
    pub ext: Ext<'a>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Response<'a> {
    /// `request_digest` of a FIRST_RESPONSE: what the sender wants from us.
    pub requests: Vec<(&'a str, u64)>,
    pub updates: Vec<Delta<'a>>,
    pub generations: Vec<(&'a str, u64)>,
    /// Protocol flags of peers whose updates it carries (protocol 2).
    pub flags: Vec<(&'a str, u64)>,
    /// Peers the sender holds failed, as of a version (protocol 2).
    pub down: Vec<(&'a str, u64)>,
    pub ext: Ext<'a>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Request(Request<'a>),
    FirstResponse(Response<'a>),
    SecondResponse(Response<'a>),
}

impl<'a> Incoming<'a> {
    pub fn ext(&self) -> &Ext<'a> {
        match self {
            Incoming::Request(r) => &r.ext,
            Incoming::FirstResponse(r) | Incoming::SecondResponse(r) => &r.ext,
        }
    }
}

/// Decodes one complete message (as delimited by the scanner).
pub fn decode(buf: &[u8]) -> Result<Incoming<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    let fields = r.map_len()?;
    let mut kind = None;
    let mut digest = None;
    let mut requests = Vec::new();
    let mut updates = Vec::new();
    let mut gens_list: Vec<u64> = Vec::new();
    let mut gens_map: Vec<(&str, u64)> = Vec::new();
    let mut flags_list: Vec<u64> = Vec::new();
    let mut flags_map: Vec<(&str, u64)> = Vec::new();
    let mut down: Vec<(&str, u64)> = Vec::new();
    let mut ext = Ext::default();
    for _ in 0..fields {
        if r.peek_kind()? != Kind::Str {
            r.skip()?;
            r.skip()?;
            continue;
        }
        match r.str()? {
            "type" => kind = Some(r.version().map_err(|_| DecodeError::Field("type"))?),
            "digest" => digest = Some(read_version_map(&mut r, "digest")?),
            "request_digest" => requests = read_version_map(&mut r, "request_digest")?,
            "updates" => updates = read_updates(&mut r)?,
            "gossiper" => ext.protocol = r.version().map_err(|_| DecodeError::Field("gossiper"))?,
            "cluster" => ext.cluster = Some(r.str().map_err(|_| DecodeError::Field("cluster"))?),
            "complete" => ext.complete = r.bool().map_err(|_| DecodeError::Field("complete"))?,
            "more" => ext.more = r.bool().map_err(|_| DecodeError::Field("more"))?,
            "gens" => match r.peek_kind()? {
                Kind::Array => {
                    let n = r.array_len()?;
                    gens_list = Vec::with_capacity(n.min(buf.len()));
                    for _ in 0..n {
                        gens_list.push(r.version().map_err(|_| DecodeError::Field("gens"))?);
                    }
                }
                _ => gens_map = read_version_map(&mut r, "gens")?,
            },
            "flags" => match r.peek_kind()? {
                Kind::Array => {
                    let n = r.array_len()?;
                    flags_list = Vec::with_capacity(n.min(buf.len()));
                    for _ in 0..n {
                        flags_list.push(r.version().map_err(|_| DecodeError::Field("flags"))?);
                    }
                }
                _ => flags_map = read_version_map(&mut r, "flags")?,
            },
            "down" => down = read_version_map(&mut r, "down")?,
            _ => r.skip()?,
        }
    }
    if !r.at_end() {
        return Err(DecodeError::Malformed);
    }
    match kind {
        Some(REQUEST) => {
            let entries = digest.ok_or(DecodeError::Field("digest"))?;
            if !gens_list.is_empty() && gens_list.len() != entries.len() {
                return Err(DecodeError::Field("gens"));
            }
            if !flags_list.is_empty() && flags_list.len() != entries.len() {
                return Err(DecodeError::Field("flags"));
            }
            let digest = entries
                .into_iter()
                .enumerate()
                .map(|(i, (peer, version))| DigestItem {
                    peer,
                    version,
                    generation: gens_list.get(i).copied().unwrap_or(0),
                })
                .collect();
            Ok(Incoming::Request(Request {
                digest,
                flags: flags_list,
                ext,
            }))
        }
        Some(t @ (FIRST_RESPONSE | SECOND_RESPONSE)) => {
            let response = Response {
                requests,
                updates,
                generations: gens_map,
                flags: flags_map,
                down,
                ext,
            };
            Ok(if t == FIRST_RESPONSE {
                Incoming::FirstResponse(response)
            } else {
                Incoming::SecondResponse(Response {
                    requests: Vec::new(),
                    ..response
                })
            })
        }
        Some(_) => Err(DecodeError::Field("type")),
        None => Err(DecodeError::Field("type")),
    }
}

fn read_version_map<'a>(
    r: &mut Reader<'a>,
    field: &'static str,
) -> Result<Vec<(&'a str, u64)>, DecodeError> {
    let n = r.map_len().map_err(|_| DecodeError::Field(field))?;
    let mut out = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let peer = r.str().map_err(|_| DecodeError::Field(field))?;
        let version = r.version().map_err(|_| DecodeError::Field(field))?;
        out.push((peer, version));
    }
    Ok(out)
}

fn read_updates<'a>(r: &mut Reader<'a>) -> Result<Vec<Delta<'a>>, DecodeError> {
    let n = r.array_len().map_err(|_| DecodeError::Field("updates"))?;
    let mut out = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let len = r.array_len().map_err(|_| DecodeError::Field("updates"))?;
        if len < 4 {
            return Err(DecodeError::Field("updates"));
        }
        let peer = r.str().map_err(|_| DecodeError::Field("updates"))?;
        let key = r.str().map_err(|_| DecodeError::Field("updates"))?;
        let value = r.raw()?;
        let version = r.version().map_err(|_| DecodeError::Field("updates"))?;
        let mut deleted = None;
        let mut ttl_ms = None;
        for extra in 4..len {
            if extra == 4 && r.peek_kind()? == Kind::Bool {
                deleted = Some(r.bool()?);
            } else if extra == 5 && deleted == Some(false) {
                // anything but a count of milliseconds is skipped, as any
                // extra element we do not know: the key then has no deadline
                // (a failed read leaves the reader where it was)
                match r.version() {
                    Ok(ms) => ttl_ms = Some(ms),
                    Err(_) => r.skip()?,
                }
            } else {
                r.skip()?;
            }
        }
        let deleted = deleted == Some(true);
        out.push(Delta {
            peer,
            key,
            value: if deleted { None } else { Some(value) },
            version,
            ttl_ms: if deleted { None } else { ttl_ms },
        });
    }
    Ok(out)
}

// ---- writing ---------------------------------------------------------------

const NIL: &[u8] = &[0xc0];

/// Bytes one digest entry adds to a REQUEST (including its `gens` element).
pub fn digest_item_size(item: &DigestItem) -> usize {
    str_size(item.peer) + uint_size(item.version) + uint_size(item.generation)
}

/// Bytes one update adds to a response.
pub fn delta_size(d: &Delta) -> usize {
    1 + str_size(d.peer)
        + str_size(d.key)
        + d.value.map_or(1, <[u8]>::len)
        + uint_size(d.version)
        + usize::from(d.value.is_none())
        + ttl_of(d).map_or(0, |ms| 1 + uint_size(ms))
}

/// The time to live an update is written with: only a live key has one.
fn ttl_of(d: &Delta) -> Option<u64> {
    d.ttl_ms.filter(|_| d.value.is_some())
}

/// Bytes one entry of a `{peer: version}` map adds.
pub fn version_entry_size(peer: &str, version: u64) -> usize {
    str_size(peer) + uint_size(version)
}

/// Fixed overhead of any message with its extension fields (upper bound).
pub fn envelope_size(ext: &Ext) -> usize {
    // map header, "type", "digest"/"request_digest"+"updates"+"gens" keys and
    // their container headers, "gossiper", "complete", "more", "cluster"
    72 + ext.cluster.map_or(0, str_size)
}

fn write_ext_fields(out: &mut Vec<u8>, ext: &Ext) {
    if ext.protocol > 0 {
        write_str(out, "gossiper");
        write_uint(out, ext.protocol);
    }
    if let Some(cluster) = ext.cluster {
        write_str(out, "cluster");
        write_str(out, cluster);
    }
}

fn ext_field_count(ext: &Ext) -> usize {
    usize::from(ext.protocol > 0) + usize::from(ext.cluster.is_some())
}

pub fn encode_request(out: &mut Vec<u8>, digest: &[DigestItem], ext: &Ext) {
    encode_request_with(out, digest, &[], ext)
}

/// A REQUEST with the protocol flags of its digest's peers (protocol 2:
/// `flags` empty, or one per digest entry).
pub fn encode_request_with(out: &mut Vec<u8>, digest: &[DigestItem], flags: &[u64], ext: &Ext) {
    let v1 = ext.protocol > 0;
    let with_flags = ext.probes() && !flags.is_empty();
    write_map_len(
        out,
        2 + ext_field_count(ext) + if v1 { 2 } else { 0 } + usize::from(with_flags),
    );
    write_str(out, "type");
    write_uint(out, REQUEST);
    write_str(out, "digest");
    write_map_len(out, digest.len());
    for item in digest {
        write_str(out, item.peer);
        write_uint(out, item.version);
    }
    write_ext_fields(out, ext);
    if v1 {
        write_str(out, "gens");
        write_array_len(out, digest.len());
        for item in digest {
            write_uint(out, item.generation);
        }
        write_str(out, "complete");
        write_bool(out, ext.complete);
    }
    if with_flags {
        write_str(out, "flags");
        write_array_len(out, flags.len());
        for f in flags {
            write_uint(out, *f);
        }
    }
}

fn write_updates(out: &mut Vec<u8>, updates: &[Delta]) {
    write_str(out, "updates");
    write_array_len(out, updates.len());
    for d in updates {
        let ttl = ttl_of(d);
        let len = match (d.value, ttl) {
            (None, _) => 5,
            (Some(_), None) => 4,
            (Some(_), Some(_)) => 6,
        };
        write_array_len(out, len);
        write_str(out, d.peer);
        write_str(out, d.key);
        out.extend_from_slice(d.value.unwrap_or(NIL));
        write_uint(out, d.version);
        if d.value.is_none() {
            write_bool(out, true);
        }
        if let Some(ms) = ttl {
            write_bool(out, false);
            write_uint(out, ms);
        }
    }
}

fn write_version_map(out: &mut Vec<u8>, name: &str, entries: &[(&str, u64)]) {
    write_str(out, name);
    write_map_len(out, entries.len());
    for (peer, version) in entries {
        write_str(out, peer);
        write_uint(out, *version);
    }
}

/// FIRST_RESPONSE when `requests` is `Some`, else SECOND_RESPONSE.
pub fn encode_response(
    out: &mut Vec<u8>,
    requests: Option<&[(&str, u64)]>,
    updates: &[Delta],
    generations: &[(&str, u64)],
    ext: &Ext,
) {
    encode_response_with(out, requests, updates, generations, &[], &[], ext)
}

/// `encode_response` with protocol 2's `flags` and `down` (left out when
/// empty, or when `ext` is not protocol 2).
pub fn encode_response_with(
    out: &mut Vec<u8>,
    requests: Option<&[(&str, u64)]>,
    updates: &[Delta],
    generations: &[(&str, u64)],
    flags: &[(&str, u64)],
    down: &[(&str, u64)],
    ext: &Ext,
) {
    let v1 = ext.protocol > 0;
    let more = v1 && ext.more;
    let with_flags = ext.probes() && !flags.is_empty();
    let with_down = ext.probes() && !down.is_empty();
    let fields = 2
        + usize::from(requests.is_some())
        + ext_field_count(ext)
        + usize::from(v1)
        + usize::from(more)
        + usize::from(with_flags)
        + usize::from(with_down);
    write_map_len(out, fields);
    write_str(out, "type");
    write_uint(
        out,
        if requests.is_some() {
            FIRST_RESPONSE
        } else {
            SECOND_RESPONSE
        },
    );
    if let Some(requests) = requests {
        write_version_map(out, "request_digest", requests);
    }
    write_updates(out, updates);
    write_ext_fields(out, ext);
    if v1 {
        write_version_map(out, "gens", generations);
    }
    if more {
        write_str(out, "more");
        write_bool(out, true);
    }
    if with_flags {
        write_version_map(out, "flags", flags);
    }
    if with_down {
        write_version_map(out, "down", down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// The original's REQUEST, encoded by rmp-serde (not by our writer).
    #[derive(Serialize)]
    struct OldRequest {
        #[serde(rename = "type")]
        kind: u8,
        digest: BTreeMap<String, u64>,
    }

    #[derive(Serialize)]
    struct OldFirstResponse {
        #[serde(rename = "type")]
        kind: u8,
        request_digest: BTreeMap<String, u64>,
        updates: Vec<(String, String, serde_json_like::V, f64)>,
    }

    mod serde_json_like {
        use serde::Serialize;
        #[derive(Serialize)]
        #[serde(untagged)]
        pub enum V {
            S(String),
            N(i64),
            L(Vec<V>),
        }
    }

    #[test]
    fn decodes_an_original_request() {
        let mut digest = BTreeMap::new();
        digest.insert("127.0.0.1:9000".to_string(), 12);
        digest.insert("127.0.0.1:9001".to_string(), 0);
        let bytes = rmp_serde::to_vec_named(&OldRequest { kind: 0, digest }).unwrap();
        let Incoming::Request(req) = decode(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(req.ext, Ext::default());
        assert_eq!(
            req.digest,
            vec![
                DigestItem {
                    peer: "127.0.0.1:9000",
                    version: 12,
                    generation: 0
                },
                DigestItem {
                    peer: "127.0.0.1:9001",
                    version: 0,
                    generation: 0
                },
            ]
        );
    }

    #[test]
    fn decodes_an_original_first_response_with_float_versions() {
        use serde_json_like::V;
        let mut rd = BTreeMap::new();
        rd.insert("10.0.0.1:1".to_string(), 3);
        let msg = OldFirstResponse {
            kind: 1,
            request_digest: rd,
            updates: vec![
                ("10.0.0.2:2".into(), "__heartbeat__".into(), V::N(4), 7.0),
                (
                    "10.0.0.2:2".into(),
                    "list".into(),
                    V::L(vec![V::S("a".into()), V::N(-3)]),
                    8.0,
                ),
            ],
        };
        let bytes = rmp_serde::to_vec_named(&msg).unwrap();
        let Incoming::FirstResponse(resp) = decode(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(resp.requests, vec![("10.0.0.1:1", 3)]);
        assert_eq!(resp.updates.len(), 2);
        assert_eq!(resp.updates[0].key, "__heartbeat__");
        assert_eq!(resp.updates[0].value, Some(&[0x04][..]));
        assert_eq!(resp.updates[1].version, 8);
        assert_eq!(resp.updates[1].value, Some(&[0x92, 0xa1, b'a', 0xfd][..]));
    }

    #[test]
    fn round_trips_our_own_messages_with_extensions() {
        let ext = Ext {
            protocol: PROTOCOL,
            cluster: Some("prod"),
            complete: true,
            more: false,
        };
        let digest = [
            DigestItem {
                peer: "127.0.0.1:1",
                version: 1 << 50,
                generation: 1 << 49,
            },
            DigestItem {
                peer: "127.0.0.1:2",
                version: 5,
                generation: 0,
            },
        ];
        let mut out = Vec::new();
        encode_request(&mut out, &digest, &ext);
        assert_eq!(
            decode(&out).unwrap(),
            Incoming::Request(Request {
                digest: digest.to_vec(),
                flags: Vec::new(),
                ext
            })
        );

        let updates = [
            Delta {
                peer: "127.0.0.1:1",
                key: "k",
                value: Some(&[0x01]),
                version: 9,
                ttl_ms: None,
            },
            Delta {
                peer: "127.0.0.1:1",
                key: "gone",
                value: None,
                version: 10,
                ttl_ms: None,
            },
            Delta {
                peer: "127.0.0.1:1",
                key: "lease",
                value: Some(&[0x02]),
                version: 11,
                ttl_ms: Some(30 * 24 * 3600 * 1000),
            },
        ];
        let gens = [("127.0.0.1:1", 1 << 49)];
        let mut out = Vec::new();
        encode_response(&mut out, Some(&[("127.0.0.1:2", 4)]), &updates, &gens, &ext);
        let expect = Response {
            requests: vec![("127.0.0.1:2", 4)],
            updates: updates.to_vec(),
            generations: gens.to_vec(),
            ext: Ext {
                complete: false,
                ..ext
            },
            ..Default::default()
        };
        assert_eq!(decode(&out).unwrap(), Incoming::FirstResponse(expect));

        let full = Ext { more: true, ..ext };
        let mut out = Vec::new();
        encode_response(&mut out, Some(&[]), &updates, &gens, &full);
        let Incoming::FirstResponse(r) = decode(&out).unwrap() else {
            panic!()
        };
        assert!(r.ext.more, "`more` survives the trip");

        let mut out = Vec::new();
        encode_response(&mut out, None, &updates, &[], &Ext::default());
        let Incoming::SecondResponse(r) = decode(&out).unwrap() else {
            panic!()
        };
        assert_eq!(r.updates, updates.to_vec());
        assert!(!r.ext.is_v1());
    }

    #[test]
    fn sizes_are_upper_bounds_of_what_is_written() {
        let d = Delta {
            peer: "127.0.0.1:9000",
            key: "__heartbeat__",
            value: Some(&[0xcd, 1, 0]),
            version: 1 << 50,
            ttl_ms: None,
        };
        let t = Delta { value: None, ..d };
        let l = Delta {
            ttl_ms: Some(1 << 40),
            ..d
        };
        for delta in [d, t, l] {
            let mut a = Vec::new();
            encode_response(&mut a, None, &[], &[], &Ext::default());
            let mut b = Vec::new();
            encode_response(&mut b, None, &[delta], &[], &Ext::default());
            assert_eq!(b.len() - a.len(), delta_size(&delta));
        }
        let item = DigestItem {
            peer: "127.0.0.1:9000",
            version: 1 << 50,
            generation: 1 << 49,
        };
        let ext = Ext {
            protocol: 1,
            ..Ext::default()
        };
        let mut a = Vec::new();
        encode_request(&mut a, &[], &ext);
        let mut b = Vec::new();
        encode_request(&mut b, &[item], &ext);
        assert_eq!(b.len() - a.len(), digest_item_size(&item));
        assert!(a.len() <= envelope_size(&ext));
        let full = Ext {
            complete: true,
            more: true,
            ..ext
        };
        let mut c = Vec::new();
        encode_response(&mut c, Some(&[]), &[], &[], &full);
        assert!(c.len() <= envelope_size(&full));
    }

    /// The two elements a key with a time to live adds, as a reader that
    /// knows only node-gossip's four and the deletion flag meets them: a
    /// flag `false`, then a count it may skip.
    #[test]
    fn a_time_to_live_is_a_false_flag_then_milliseconds() {
        let lease = Delta {
            peer: "10.0.0.1:9000",
            key: "lease",
            value: Some(&[0xa2, b'o', b'k']),
            version: 77,
            ttl_ms: Some(5000),
        };
        let mut out = Vec::new();
        encode_response(&mut out, None, &[lease], &[], &Ext::default());
        let mut r = Reader::new(&out);
        let fields = r.map_len().unwrap();
        let mut seen = false;
        for _ in 0..fields {
            if r.str().unwrap() != "updates" {
                r.skip().unwrap();
                continue;
            }
            assert_eq!(r.array_len().unwrap(), 1);
            assert_eq!(
                r.array_len().unwrap(),
                6,
                "peer, key, value, version, flag, ttl"
            );
            assert_eq!(r.str().unwrap(), "10.0.0.1:9000");
            assert_eq!(r.str().unwrap(), "lease");
            assert_eq!(r.raw().unwrap(), &[0xa2, b'o', b'k']);
            assert_eq!(r.version().unwrap(), 77);
            assert!(!r.bool().unwrap(), "not deleted");
            assert_eq!(r.version().unwrap(), 5000);
            seen = true;
        }
        assert!(seen && r.at_end());
        let Incoming::SecondResponse(back) = decode(&out).unwrap() else {
            panic!()
        };
        assert_eq!(back.updates, vec![lease]);
    }

    #[test]
    fn a_time_to_live_counts_only_after_a_false_flag() {
        #[derive(Serialize)]
        struct Second<T> {
            #[serde(rename = "type")]
            kind: u8,
            updates: Vec<T>,
        }
        let ttl_of = |bytes: Vec<u8>| {
            let Incoming::SecondResponse(r) = decode(&bytes).unwrap() else {
                panic!()
            };
            (r.updates[0].value.is_some(), r.updates[0].ttl_ms)
        };
        // a deleted key has no time left, whatever follows the flag
        let deleted = rmp_serde::to_vec_named(&Second {
            kind: 2,
            updates: vec![("a:1", "k", (), 3u64, true, 500u64)],
        })
        .unwrap();
        assert_eq!(ttl_of(deleted), (false, None));
        // no flag before it: an element of some later extension, skipped
        let unflagged = rmp_serde::to_vec_named(&Second {
            kind: 2,
            updates: vec![("a:1", "k", 1u8, 3u64, 9u8, 500u64)],
        })
        .unwrap();
        assert_eq!(ttl_of(unflagged), (true, None));
        // not a count of milliseconds: skipped, the key has no deadline
        for odd in [
            rmp_serde::to_vec_named(&Second {
                kind: 2,
                updates: vec![("a:1", "k", 1u8, 3u64, false, "soon")],
            })
            .unwrap(),
            rmp_serde::to_vec_named(&Second {
                kind: 2,
                updates: vec![("a:1", "k", 1u8, 3u64, false, -5i64)],
            })
            .unwrap(),
        ] {
            assert_eq!(ttl_of(odd), (true, None));
        }
        // and later elements are skipped too
        let longer = rmp_serde::to_vec_named(&Second {
            kind: 2,
            updates: vec![("a:1", "k", 1u8, 3u64, false, 500u64, "x")],
        })
        .unwrap();
        assert_eq!(ttl_of(longer), (true, Some(500)));
    }

    #[test]
    fn refuses_wrong_shapes() {
        let bad: Vec<Vec<u8>> = vec![
            rmp_serde::to_vec(&42).unwrap(),
            rmp_serde::to_vec_named(&BTreeMap::from([("type", 7)])).unwrap(),
            rmp_serde::to_vec_named(&BTreeMap::from([("digest", 7)])).unwrap(),
            rmp_serde::to_vec_named(&BTreeMap::from([("type", "0")])).unwrap(),
        ];
        for b in bad {
            assert!(decode(&b).is_err(), "{b:x?}");
        }
        // a digest whose versions are strings
        #[derive(Serialize)]
        struct Bad {
            #[serde(rename = "type")]
            kind: u8,
            digest: BTreeMap<String, String>,
        }
        let b = rmp_serde::to_vec_named(&Bad {
            kind: 0,
            digest: BTreeMap::from([("a:1".into(), "x".into())]),
        })
        .unwrap();
        assert_eq!(decode(&b), Err(DecodeError::Field("digest")));
        // updates that are not 4-tuples
        #[derive(Serialize)]
        struct BadU {
            #[serde(rename = "type")]
            kind: u8,
            updates: Vec<Vec<u8>>,
        }
        let b = rmp_serde::to_vec_named(&BadU {
            kind: 2,
            updates: vec![vec![1, 2]],
        })
        .unwrap();
        assert_eq!(decode(&b), Err(DecodeError::Field("updates")));
    }

    #[test]
    fn gens_must_match_the_digest() {
        let ext = Ext {
            protocol: 1,
            ..Ext::default()
        };
        let digest = [DigestItem {
            peer: "a:1",
            version: 1,
            generation: 1,
        }];
        let mut out = Vec::new();
        encode_request(&mut out, &digest, &ext);
        // cut the gens array down to zero entries by rewriting its header
        let pos = out.windows(5).position(|w| w == b"\xa4gens").unwrap() + 5;
        out[pos] = 0x92; // claim two entries where there is one
        assert!(decode(&out).is_err());
    }
}
