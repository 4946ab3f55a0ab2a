//! Datagrams from the network (protocol 2): whatever the bytes, decoding
//! returns a datagram or an error, never a panic; a datagram decoded and
//! encoded again decodes to itself; and a running node fed the bytes
//! (probes, acks, gossip of news) neither panics nor grows without bound.

#![no_main]

use gossiper::core::{Config, Node};
use gossiper::wire::datagram::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode(data) {
        let mut out = Vec::new();
        encode(&mut out, &d);
        assert_eq!(decode(&out).as_ref(), Ok(&d), "a datagram round-trips");
    }
    let mut node = Node::new(Config::default(), 1_000, 7);
    node.start("10.0.0.1:9000", &["10.0.0.2:9000".into()], 0);
    // the same bytes from two senders, at two times: news, then its echo
    let _ = node.handle_datagram("10.0.0.3:9000", data, 10);
    let _ = node.handle_datagram("10.0.0.4:9000", data, 600);
    node.handle_timeout(1_200);
    while node.poll_transmit().is_some() {}
    node.take_events();
    assert!(node.peers().count() <= 1 + 2 + 1024, "peers bounded by items");
});
