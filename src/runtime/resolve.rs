//! Names and addresses: where to listen, what to call ourselves, and the
//! seeds' names (`ip:port`, so a seed given as a host name is not listed
//! twice once it introduces itself by address).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The host name of this machine.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec())
        .ok()
        .filter(|s| !s.is_empty())
}

async fn first_ipv4(host: &str) -> Option<Ipv4Addr> {
    let addrs = tokio::net::lookup_host((host, 0)).await.ok()?;
    addrs.into_iter().find_map(|a| match a.ip() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })
}

/// The address to bind: the one given (an IP, or a host name resolved), or
/// node-gossip's default, the IPv4 address our host name resolves to.
pub async fn bind_address(address: Option<&str>) -> Result<IpAddr, (String, String)> {
    match address {
        Some(a) => {
            if let Ok(ip) = a
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                return Ok(ip);
            }
            let found = tokio::net::lookup_host((a, 0))
                .await
                .ok()
                .and_then(|mut it| it.next());
            found.map(|s| s.ip()).ok_or_else(|| {
                (
                    format!("cannot resolve address '{a}'"),
                    "ENOTFOUND".to_string(),
                )
            })
        }
        None => {
            let Some(host) = host_name() else {
                return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
            };
            Ok(IpAddr::V4(
                first_ipv4(&host).await.unwrap_or(Ipv4Addr::LOCALHOST),
            ))
        }
    }
}

/// `ip:port` (IPv6 in brackets). A node bound to the wildcard address names
/// itself after its host name's address instead, since peers cannot dial 0.0.0.0.
pub fn peer_name(local: SocketAddr) -> String {
    let ip = match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(
            host_name()
                .and_then(|h| {
                    std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), 0))
                        .ok()?
                        .find_map(|a| match a.ip() {
                            IpAddr::V4(v4) => Some(v4),
                            IpAddr::V6(_) => None,
                        })
                })
                .unwrap_or(Ipv4Addr::LOCALHOST),
        ),
        ip => ip,
    };
    SocketAddr::new(ip, local.port()).to_string()
}

/// Every address `host:port` resolves to, as `ip:port` (IPv4 and IPv6),
/// or why it does not resolve.
pub async fn addresses(spec: &str) -> Result<Vec<String>, String> {
    let found = tokio::net::lookup_host(spec)
        .await
        .map_err(|e| super::io_reason(&e))?;
    let mut out: Vec<String> = found.map(|a| a.to_string()).collect();
    out.sort();
    out.dedup();
    Ok(out)
}
