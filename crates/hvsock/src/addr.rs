//! One address type for every transport, written and read as a URI (see [`crate::uri`]).

mod endpoint;
mod hybrid;
mod hyperkit;
mod hyperv;
mod vsock;

use std::path::PathBuf;

pub use endpoint::{Endpoint, SocketKind};
pub use hybrid::HybridAddr;
pub use hyperkit::HyperkitAddr;
pub use hyperv::{HvAddr, VmId};
pub use vsock::VsockAddr;

/// The address of a hypervisor socket, on any transport.
///
/// Every address reads from and prints as a URI, and the two round-trip:
///
/// ```
/// use hvsock::Addr;
///
/// for uri in ["vsock://2:80", "hybrid://:52/run/vm/v.sock", "hyperkit://:80/var/run/vm",
///             "hvsock://parent/00000050-facb-11e6-bd58-64006a7986d3", "unix:///tmp/s",
///             "tcp://127.0.0.1:8080"] {
///     let addr: Addr = uri.parse()?;
///     assert_eq!(addr.to_string(), uri);
/// }
/// # Ok::<(), hvsock::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// Linux `AF_VSOCK`: `vsock://CID:PORT`.
    Vsock(VsockAddr),
    /// Windows Hyper-V sockets: `hvsock://VM/SERVICE`.
    HyperV(HvAddr),
    /// hyperkit's host side (macOS): `hyperkit://:PORT/DIR`.
    Hyperkit(HyperkitAddr),
    /// Firecracker / Cloud Hypervisor / vhost-device-vsock host side: `hybrid://:PORT/UDS`.
    Hybrid(HybridAddr),
    /// A plain Unix socket (vfkit and krunkit expose one per port): `unix:///PATH`.
    Unix(PathBuf),
    /// TCP, for relays: `tcp://HOST:PORT`.
    Tcp(TcpAddr),
    /// A peer the transport does not name: connections accepted on hyperkit, hybrid and
    /// Unix listeners come from an unnamed socket. Prints as `unnamed`; never parsed.
    Unnamed,
}

/// A TCP endpoint; the host is resolved when the address is used.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TcpAddr {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl Addr {
    /// The URI scheme of this address (`vsock`, `hvsock`, ...).
    pub fn scheme(&self) -> &'static str {
        match self {
            Addr::Vsock(_) => "vsock",
            Addr::HyperV(_) => "hvsock",
            Addr::Hyperkit(_) => "hyperkit",
            Addr::Hybrid(_) => "hybrid",
            Addr::Unix(_) => "unix",
            Addr::Tcp(_) => "tcp",
            Addr::Unnamed => "unnamed",
        }
    }
}

impl From<VsockAddr> for Addr {
    fn from(a: VsockAddr) -> Self {
        Addr::Vsock(a)
    }
}

impl From<HvAddr> for Addr {
    fn from(a: HvAddr) -> Self {
        Addr::HyperV(a)
    }
}

impl From<HyperkitAddr> for Addr {
    fn from(a: HyperkitAddr) -> Self {
        Addr::Hyperkit(a)
    }
}

impl From<HybridAddr> for Addr {
    fn from(a: HybridAddr) -> Self {
        Addr::Hybrid(a)
    }
}

impl From<TcpAddr> for Addr {
    fn from(a: TcpAddr) -> Self {
        Addr::Tcp(a)
    }
}
