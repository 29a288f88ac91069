//! The kind of connection in a URI: `SCHEME+seqpacket://...` asks for messages
//! (`SOCK_SEQPACKET`) where `SCHEME://...` asks for a byte stream.
//!
//! Why a scheme suffix rather than a query (`?type=seqpacket`): the socket type is part
//! of the protocol spoken, as in `git+ssh://` or `svn+ssh://`, not a parameter of one
//! address; `+` is a scheme character in RFC 3986, so the rest of the URI keeps its
//! grammar unchanged (a Unix path may end in anything, with no `?` to escape); and it
//! needs no quoting in a shell, where an unquoted `?` is a glob (zsh refuses a glob
//! that matches nothing).

use std::str::FromStr;

use super::{parse, ParseError, Reason};
use crate::{Addr, Endpoint, SocketKind};

/// The scheme suffix of message mode, as written (any case is read).
const SEQPACKET: &str = "seqpacket";

/// Splits `scheme+kind` into the transport's scheme and the kind; `None` for a `+`
/// suffix that names no kind.
pub(super) fn split_kind(scheme: &str) -> Option<(&str, SocketKind)> {
    match scheme.split_once('+') {
        None => Some((scheme, SocketKind::Stream)),
        Some((base, kind)) if kind.eq_ignore_ascii_case(SEQPACKET) => Some((base, SocketKind::Seqpacket)),
        Some(_) => None,
    }
}

impl FromStr for Endpoint {
    type Err = ParseError;

    /// `SCHEME://...` (a byte stream on any transport) or `vsock+seqpacket://...`,
    /// `unix+seqpacket://...` (messages). Message mode on another transport is refused
    /// as not supported by it.
    fn from_str(uri: &str) -> Result<Endpoint, ParseError> {
        parse_endpoint(uri).map_err(|reason| ParseError { uri: uri.to_owned(), reason })
    }
}

fn parse_endpoint(uri: &str) -> Result<Endpoint, Reason> {
    let Some((scheme, rest)) = uri.split_once("://") else { return parse(uri).map(Endpoint::from) };
    let Some((base, kind)) = split_kind(scheme) else { return parse(uri).map(Endpoint::from) };
    if kind == SocketKind::Stream {
        return parse(uri).map(Endpoint::from);
    }
    let addr = parse(&format!("{base}://{rest}"))?;
    if !kind.supported_by(&addr) {
        return Err(Reason::SeqpacketUnsupported(transport_name(&addr)));
    }
    Ok(Endpoint { addr, kind })
}

/// What a message names a transport by.
fn transport_name(addr: &Addr) -> &'static str {
    match addr {
        Addr::HyperV(_) => "Hyper-V (hvsock)",
        Addr::Hyperkit(_) => "hyperkit",
        Addr::Hybrid(_) => "hybrid vsock",
        Addr::Tcp(_) => "TCP",
        _ => addr.scheme(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(uri: &str) -> Endpoint {
        uri.parse().unwrap_or_else(|e| panic!("{uri} should parse: {e}"))
    }

    #[test]
    fn message_mode_is_a_scheme_suffix_that_round_trips() {
        for (uri, printed) in [
            ("vsock+seqpacket://1:5000", "vsock+seqpacket://1:5000"),
            ("VSOCK+SeqPacket://:5000/", "vsock+seqpacket://:5000"),
            ("vsock+seqpacket://local:7", "vsock+seqpacket://1:7"),
            ("unix+seqpacket:///run/a%20b.sock", "unix+seqpacket:///run/a%20b.sock"),
            ("unix+seqpacket://./rel/s", "unix+seqpacket://./rel/s"),
            ("vsock://2:80", "vsock://2:80"),
            ("hybrid://:52/run/v.sock", "hybrid://:52/run/v.sock"),
        ] {
            let e = endpoint(uri);
            assert_eq!(e.to_string(), printed, "{uri}");
            assert_eq!(endpoint(printed), e, "{uri} -> {printed}");
        }
        let e = endpoint("unix+seqpacket:///tmp/s");
        assert_eq!((e.addr, e.kind), (Addr::Unix("/tmp/s".into()), SocketKind::Seqpacket));
        assert_eq!(endpoint("tcp://127.0.0.1:1").kind, SocketKind::Stream);
    }

    #[test]
    fn message_mode_elsewhere_is_not_supported_by_that_transport() {
        for (uri, transport) in [
            ("hybrid+seqpacket://:52/run/v.sock", "hybrid vsock"),
            ("hyperkit+seqpacket://:80/var/vm", "hyperkit"),
            ("hvsock+seqpacket://parent/80", "Hyper-V (hvsock)"),
            ("tcp+seqpacket://127.0.0.1:80", "TCP"),
        ] {
            let err = uri.parse::<Endpoint>().unwrap_err();
            assert_eq!(err.reason, Reason::SeqpacketUnsupported(transport), "{uri}");
            assert_eq!(
                err.to_string(),
                format!("invalid address `{uri}`: message mode (+seqpacket, SOCK_SEQPACKET) is not supported by the {transport} transport: only vsock+seqpacket:// and unix+seqpacket:// carry messages")
            );
        }
    }

    #[test]
    fn other_suffixes_and_bad_addresses_are_refused() {
        let err = "vsock+dgram://1:5".parse::<Endpoint>().unwrap_err();
        assert_eq!(err.reason, Reason::UnknownScheme("vsock+dgram".into()));
        let err = "vsock+seqpacket://1:x".parse::<Endpoint>().unwrap_err();
        assert_eq!(err.uri, "vsock+seqpacket://1:x");
        assert!(matches!(err.reason, Reason::BadPort { .. }), "{err}");
        assert_eq!("+seqpacket://1:5".parse::<Endpoint>().unwrap_err().reason, Reason::MissingScheme);
    }

    #[test]
    fn a_byte_stream_address_names_message_mode_as_not_taken_there() {
        let err = "vsock+seqpacket://1:5".parse::<Addr>().unwrap_err();
        assert_eq!(err.reason, Reason::SeqpacketNotTaken("vsock".into()));
        assert_eq!(
            err.to_string(),
            "invalid address `vsock+seqpacket://1:5`: vsock+seqpacket:// asks for message mode (SOCK_SEQPACKET), which is not taken here: write vsock://"
        );
    }
}
