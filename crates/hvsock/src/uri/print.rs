//! Printing addresses as URIs: the other half of the grammar, which [`super`] parses.
//! What prints here reads back as the same address (`uri/tests.rs` and the `uri` fuzz
//! target check the round trip).

use std::fmt;

use super::{format_path, percent_encode};
use crate::{Addr, Endpoint, HvAddr, HybridAddr, HyperkitAddr, TcpAddr, VmId, VsockAddr};

impl fmt::Display for TcpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tcp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", percent_encode(&self.host, false), self.port)
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Vsock(a) => a.fmt(f),
            Addr::HyperV(a) => a.fmt(f),
            Addr::Hyperkit(a) => a.fmt(f),
            Addr::Hybrid(a) => a.fmt(f),
            Addr::Tcp(a) => a.fmt(f),
            Addr::Unix(path) if path.has_root() => write!(f, "unix://{}", format_path(path)),
            Addr::Unix(path) => {
                let shown = format_path(path);
                write!(f, "unix://.{}", shown.strip_prefix("/.").unwrap_or(&shown))
            }
            Addr::Unnamed => f.write_str("unnamed"),
        }
    }
}

impl fmt::Display for VsockAddr {
    /// `vsock://CID:PORT`, with the CID left out when it is [`VsockAddr::CID_ANY`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.cid == Self::CID_ANY {
            write!(f, "vsock://:{}", self.port)
        } else {
            write!(f, "vsock://{}:{}", self.cid, self.port)
        }
    }
}

impl fmt::Display for VmId {
    /// A well-known id prints as its word, another GUID in lowercase, a name
    /// percent-encoded so that it reads back from a URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.word(), self) {
            (Some(word), _) => f.write_str(word),
            (None, VmId::Guid(guid)) => write!(f, "{}", guid.hyphenated()),
            (None, VmId::Name(name)) => f.write_str(&percent_encode(name, false)),
        }
    }
}

impl fmt::Display for HvAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hvsock://{}/{}", self.vm, self.service.hyphenated())
    }
}

impl fmt::Display for HybridAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hybrid://:{}{}", self.port, format_path(&self.uds))
    }
}

impl fmt::Display for HyperkitAddr {
    /// `hyperkit://:PORT/DIR`, or `hyperkit://CID:PORT/DIR` for a guest CID other than 3.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("hyperkit://")?;
        if self.guest_cid != Self::DEFAULT_GUEST_CID {
            write!(f, "{}", self.guest_cid)?;
        }
        write!(f, ":{}{}", self.port, format_path(&self.dir))
    }
}

impl fmt::Display for Endpoint {
    /// The address's URI, with `+seqpacket` after the scheme for message mode.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.addr.to_string();
        let scheme = self.addr.scheme();
        match uri.strip_prefix(scheme) {
            Some(rest) => write!(f, "{scheme}{}{rest}", self.kind.scheme_suffix()),
            None => f.write_str(&uri),
        }
    }
}
