//! Peer names are `host:port`, as node-gossip's: an IPv4 address, a host
//! name, or a bracketed IPv6 address, then a port from 1 to 65535.

/// Longest name accepted from the network.
pub const MAX_NAME_BYTES: usize = 255;

pub fn is_valid(name: &str) -> bool {
    split(name).is_some()
}

/// Splits a valid name into host and port.
pub fn split(name: &str) -> Option<(&str, u16)> {
    if name.len() > MAX_NAME_BYTES {
        return None;
    }
    let (host, port) = name.rsplit_once(':')?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|&p| p > 0)?;
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    };
    host_ok.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_peers_are_called() {
        for ok in [
            "127.0.0.1:9000",
            "10.1.2.3:1",
            "node-a.example:65535",
            "[::1]:9000",
            "[fe80::1]:80",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        assert_eq!(split("127.0.0.1:9000"), Some(("127.0.0.1", 9000)));
    }

    #[test]
    fn refuses_what_is_not_a_peer_name() {
        let long = format!("{}:1", "a".repeat(300));
        for bad in [
            ":9000",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "a b:1",
            "::1:9000",
            "[]:1",
            "h:+1",
            long.as_str(),
            "",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
