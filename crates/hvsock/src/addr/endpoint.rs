//! An address together with the kind of connection asked for: a byte stream or
//! messages (`SOCK_SEQPACKET`). Plain data; its URI form is in [`crate::uri`].

use crate::Addr;

/// The kind of connection an address asks for.
///
/// `SCHEME://...` asks for a byte stream, `SCHEME+seqpacket://...` for messages: a
/// sequenced-packet connection that keeps the boundary of every message
/// ([`crate::Seqpacket`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A byte stream (`SOCK_STREAM`): `vsock://2:80`.
    #[default]
    Stream,
    /// Messages with their boundaries kept (`SOCK_SEQPACKET`): `vsock+seqpacket://2:80`,
    /// `unix+seqpacket:///run/s.sock`. Linux `AF_VSOCK` and Unix sockets only.
    Seqpacket,
}

impl SocketKind {
    /// The suffix of the URI scheme that asks for this kind: `""` or `"+seqpacket"`.
    pub fn scheme_suffix(self) -> &'static str {
        match self {
            SocketKind::Stream => "",
            SocketKind::Seqpacket => "+seqpacket",
        }
    }

    /// Whether `addr`'s transport carries connections of this kind: every transport
    /// carries streams; only `vsock` and `unix` carry messages.
    pub fn supported_by(self, addr: &Addr) -> bool {
        match self {
            SocketKind::Stream => true,
            SocketKind::Seqpacket => matches!(addr, Addr::Vsock(_) | Addr::Unix(_)),
        }
    }
}

/// An [`Addr`] and the [`SocketKind`] of connection asked for: what a tool's command
/// line names. Reads from and prints as a URI; the two round-trip.
///
/// ```
/// use hvsock::{Endpoint, SocketKind};
///
/// let messages: Endpoint = "vsock+seqpacket://1:5000".parse()?;
/// assert_eq!(messages.kind, SocketKind::Seqpacket);
/// assert_eq!(messages.addr, "vsock://1:5000".parse()?);
/// assert_eq!(messages.to_string(), "vsock+seqpacket://1:5000");
///
/// let stream: Endpoint = "vsock://1:5000".parse()?;
/// assert_eq!(stream.kind, SocketKind::Stream);
/// # Ok::<(), hvsock::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Where.
    pub addr: Addr,
    /// A byte stream or messages.
    pub kind: SocketKind,
}

impl Endpoint {
    /// `addr`, asking for `kind`.
    pub fn new(addr: Addr, kind: SocketKind) -> Endpoint {
        Endpoint { addr, kind }
    }
}

impl From<Addr> for Endpoint {
    /// A byte-stream endpoint.
    fn from(addr: Addr) -> Endpoint {
        Endpoint { addr, kind: SocketKind::Stream }
    }
}
