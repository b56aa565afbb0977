//! The argument rules of `Node`: what a member's address, attributes and metadata may be. Rust
//! callers meet them in `Node`'s methods, C callers through `ffi`, which only converts (C
//! strings to `&str`, integers to values) and forwards, so both get the same checks with the
//! same messages (the text `peko_last_error` returns).

use crate::error::{Error, Result, PEKO_ERR_TOO_LARGE};
use crate::proto::Attributes;
use crate::wire;
use std::net::{IpAddr, SocketAddr};

/// An IPv4 or IPv6 address literal (an IPv6 one may be in brackets, "[::1]"); host names are
/// refused, since resolving them would block and could change under the cluster. `what` names
/// the argument in the message ("addr", "listen_addr").
pub fn ip_literal(text: &str, what: &str) -> Result<IpAddr> {
    text.trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| {
            Error::invalid(format!(
                "{what} {text:?} is not an IPv4 or IPv6 address literal"
            ))
        })
}

/// The address a member is reached at must be one the others can send to: not the wildcard.
fn reachable(id: SocketAddr) -> Result<()> {
    if id.ip().is_unspecified() {
        return Err(Error::invalid(format!(
            "addr {} is unspecified; give the address the others reach this member at",
            id.ip()
        )));
    }
    Ok(())
}

/// The local member (`Node::new`, `peko_new`): a reachable address; port 0 lets the OS pick
/// one at join.
pub fn local_member(id: SocketAddr) -> Result<()> {
    reachable(id)
}

/// A known member (`Node::set`, `peko_set`): a reachable address and a real port.
pub fn peer(id: SocketAddr) -> Result<()> {
    reachable(id)?;
    if id.port() == 0 {
        return Err(Error::invalid(format!("peer {id} has port 0")));
    }
    Ok(())
}

/// Name and private data: each at most `wire::ATTR_MAX` (1024) bytes.
pub fn attributes(a: &Attributes) -> Result<()> {
    for (what, s) in [("name", &a.name), ("private_data", &a.private_data)] {
        if s.len() > wire::ATTR_MAX {
            return Err(Error::invalid(format!(
                "{what} is {} bytes, more than {}",
                s.len(),
                wire::ATTR_MAX
            )));
        }
    }
    Ok(())
}

/// Metadata (`Node::publish`, `peko_publish`): at most the configured `size` bytes.
pub fn metadata(len: usize, size: u32) -> Result<()> {
    if len > size as usize {
        return Err(Error::new(
            PEKO_ERR_TOO_LARGE,
            format!("{len} bytes of metadata is more than size = {size}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PEKO_ERR_INVALID_ARG;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ip_literals_only() {
        assert_eq!(
            ip_literal("127.0.0.1", "addr").unwrap(),
            addr("127.0.0.1:1").ip()
        );
        assert_eq!(ip_literal("[::1]", "addr").unwrap(), addr("[::1]:1").ip());
        for bad in ["localhost", "", "127.0.0.1:7946", "256.0.0.1", " 127.0.0.1"] {
            let e = ip_literal(bad, "addr").unwrap_err();
            assert_eq!(e.status, PEKO_ERR_INVALID_ARG);
            assert_eq!(
                e.message,
                format!("addr {bad:?} is not an IPv4 or IPv6 address literal")
            );
        }
    }

    #[test]
    fn addresses_for_the_local_member_and_for_peers() {
        assert!(local_member(addr("127.0.0.1:0")).is_ok());
        assert!(local_member(addr("0.0.0.0:7946")).is_err());
        assert!(local_member(addr("[::]:7946")).is_err());
        assert!(peer(addr("127.0.0.1:7946")).is_ok());
        assert_eq!(
            peer(addr("127.0.0.1:0")).unwrap_err().message,
            "peer 127.0.0.1:0 has port 0"
        );
        assert!(peer(addr("0.0.0.0:7946")).is_err());
    }

    #[test]
    fn attribute_and_metadata_sizes() {
        let at_limit = "x".repeat(wire::ATTR_MAX);
        let ok = Attributes {
            name: at_limit.clone(),
            private_data: at_limit.clone(),
        };
        assert!(attributes(&ok).is_ok());
        let long = Attributes {
            name: String::new(),
            private_data: at_limit + "x",
        };
        assert_eq!(
            attributes(&long).unwrap_err().message,
            "private_data is 1025 bytes, more than 1024"
        );
        assert!(metadata(1024, 1024).is_ok());
        assert_eq!(metadata(1025, 1024).unwrap_err().status, PEKO_ERR_TOO_LARGE);
    }
}
