//! One module per transport. Each turns an address into a connected or listening
//! [`socket2::Socket`]; [`crate::Stream`] and [`crate::Listener`] do the rest.

use std::io::{self, IoSlice};
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{context, error};
use crate::{Addr, ConnectOptions, ListenOptions};

mod connect;
#[cfg(unix)]
pub(crate) mod deadline;
#[cfg(unix)]
pub(crate) mod hybrid;
#[cfg(unix)]
mod hyperkit;
#[cfg(windows)]
mod hyperv;
pub(crate) mod plan;
#[cfg(unix)]
pub(crate) mod socket_file;
pub(crate) mod tcp;
#[cfg(unix)]
pub(crate) mod unix;
#[cfg(target_os = "linux")]
pub(crate) mod vsock;
#[cfg(target_os = "linux")]
pub(crate) mod vsock_window;

#[cfg(not(unix))]
mod hybrid {
    crate::transport::unsupported_transport!("hybrid vsock (Unix sockets)", crate::HybridAddr);
}
#[cfg(not(unix))]
mod hyperkit {
    crate::transport::unsupported_transport!("hyperkit (Unix sockets)", crate::HyperkitAddr);
}
#[cfg(not(unix))]
mod unix {
    crate::transport::unsupported_transport!("Unix sockets", std::path::Path);
}
#[cfg(not(windows))]
mod hyperv {
    crate::transport::unsupported_transport!("Hyper-V sockets (AF_HYPERV, Windows only)", crate::HvAddr);
}
#[cfg(not(target_os = "linux"))]
mod vsock {
    crate::transport::unsupported_transport!("AF_VSOCK (Linux only)", crate::VsockAddr);

    pub(crate) fn local_cid(_: &std::path::Path) -> std::io::Result<u32> {
        Err(crate::error::unsupported("AF_VSOCK (Linux only)"))
    }
}

pub(crate) use connect::connect;
pub(crate) use vsock::local_cid;

/// Defines `bind` for a transport this platform lacks: it fails with
/// `ErrorKind::Unsupported`. (Connecting there fails in [`plan::Plan::of`].)
macro_rules! unsupported_transport {
    ($what:expr, $addr:ty) => {
        pub(crate) fn bind(_: &$addr, _: &crate::ListenOptions) -> std::io::Result<crate::transport::Bound> {
            Err(crate::error::unsupported($what))
        }
    };
}
#[allow(unused_imports)]
pub(crate) use unsupported_transport;

/// A connected socket and the address it is connected from.
pub(crate) struct Connected {
    pub socket: Socket,
    pub local: Addr,
}

/// A listening socket, the address it listens on, and what to remove when it closes.
pub(crate) struct Bound {
    pub socket: Socket,
    pub local: Addr,
    /// A socket file on the filesystem that the listener owns.
    pub file: Option<SocketFile>,
}

#[cfg(unix)]
pub(crate) use socket_file::SocketFile;

/// Stands in for the socket-file guard where there are no Unix sockets.
#[cfg(not(unix))]
#[derive(Debug)]
pub(crate) struct SocketFile;

/// The flags of every send: `MSG_NOSIGNAL` where there is one, so that writing to a
/// peer that has closed fails with `EPIPE` instead of raising `SIGPIPE`, which kills a
/// process that keeps the signal's default action (a C or Python host, say). Apple
/// systems have no such flag: there every socket has `SO_NOSIGPIPE` (see [`socket`]).
#[cfg(all(unix, not(target_vendor = "apple")))]
pub(crate) const SEND_FLAGS: std::ffi::c_int = libc::MSG_NOSIGNAL;
#[cfg(any(windows, target_vendor = "apple"))]
pub(crate) const SEND_FLAGS: std::ffi::c_int = 0;

/// `send(2)` with [`SEND_FLAGS`].
pub(crate) fn send(socket: &Socket, buf: &[u8]) -> io::Result<usize> {
    socket.send_with_flags(buf, SEND_FLAGS)
}

/// `sendmsg(2)` of several buffers with [`SEND_FLAGS`].
pub(crate) fn send_vectored(socket: &Socket, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    socket.send_vectored_with_flags(bufs, SEND_FLAGS)
}

/// `socket(2)` (close-on-exec, as socket2 makes every socket), and on Apple systems
/// `setsockopt(SO_NOSIGPIPE)`, their only way not to raise `SIGPIPE` (socket2 sets it
/// too; here it is explicit and checked). An accepted socket inherits it from its
/// listener; setting it again there fails for Unix sockets (`EINVAL`).
pub(crate) fn socket(domain: Domain, ty: Type) -> io::Result<Socket> {
    let socket = Socket::new(domain, ty, None)?;
    #[cfg(target_vendor = "apple")]
    socket.set_nosigpipe(true)?;
    Ok(socket)
}

/// The deadline of a connect that starts now: `options`' timeout, or
/// [`ConnectOptions::DEFAULT_TIMEOUT`]; `None` (no deadline) for a timeout beyond what
/// an `Instant` can hold, such as `Duration::MAX`.
pub(crate) fn deadline(options: &ConnectOptions) -> Option<Instant> {
    Instant::now().checked_add(options.timeout.unwrap_or(ConnectOptions::DEFAULT_TIMEOUT))
}

/// Binds and listens on `addr`; errors name the address.
pub(crate) fn bind(addr: &Addr, options: &ListenOptions) -> io::Result<Bound> {
    match addr {
        Addr::Vsock(a) => vsock::bind(a, options),
        Addr::HyperV(a) => hyperv::bind(a, options),
        Addr::Hyperkit(a) => hyperkit::bind(a, options),
        Addr::Hybrid(a) => hybrid::bind(a, options),
        Addr::Unix(path) => unix::bind(path, options),
        Addr::Tcp(a) => tcp::bind(a, options),
        Addr::Unnamed => Err(error(io::ErrorKind::InvalidInput, "an unnamed address cannot be listened on")),
    }
    .map_err(|e| context(e, "listen on", addr))
}

/// The address of a peer that `listener` (listening on `local`) accepted from `raw`.
pub(crate) fn peer_addr(local: &Addr, raw: &SockAddr) -> Addr {
    match local {
        Addr::Vsock(_) => vsock_from_sockaddr(raw).map_or(Addr::Unnamed, Addr::Vsock),
        Addr::Tcp(_) => raw.as_socket().map_or(Addr::Unnamed, |s| Addr::Tcp(tcp::addr_of(&s))),
        #[cfg(windows)]
        Addr::HyperV(_) => hyperv::peer_addr(raw).map_or(Addr::Unnamed, Addr::HyperV),
        #[cfg(unix)]
        Addr::Unix(_) => raw.as_pathname().map_or(Addr::Unnamed, |p| Addr::Unix(p.to_path_buf())),
        _ => Addr::Unnamed,
    }
}

/// Decodes a `sockaddr_vm` from the kernel.
pub(crate) fn vsock_from_sockaddr(raw: &SockAddr) -> Option<crate::VsockAddr> {
    // SAFETY: `as_ptr` points at `len()` initialised bytes of the address storage.
    let bytes = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<u8>(), raw.len() as usize) };
    crate::VsockAddr::from_sockaddr_vm(bytes)
}
