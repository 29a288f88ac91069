//! The system calls of message mode (Linux): `AF_VSOCK` and `AF_UNIX` sockets of type
//! `SOCK_SEQPACKET`, and `recvmsg(2)` with what it takes to tell an empty message from
//! the end.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use socket2::{Domain, SockAddr, Socket, Type};

use super::message::{Family, Raw};
use crate::error::error;
use crate::transport::{self, unix, vsock, Bound};
use crate::{Addr, ConnectOptions, ListenOptions, VsockAddr};

/// A socket for a connection to `addr` and where to connect it, not yet connected:
/// `socket(AF_VSOCK, SOCK_SEQPACKET)` with the kernel's connect timeout raised to
/// `options`' (as for streams), or `socket(AF_UNIX, SOCK_SEQPACKET)` with
/// `SO_PASSCRED` (see [`Raw::ancillary`]).
pub(crate) fn dial(addr: &Addr, options: &ConnectOptions) -> io::Result<(Socket, Family, SockAddr)> {
    match addr {
        Addr::Vsock(a) => {
            let socket = vsock::socket_of(Type::SEQPACKET, options).map_err(no_vsock_seqpacket)?;
            Ok((socket, Family::Vsock, vsock::sockaddr(a)))
        }
        Addr::Unix(path) => {
            let socket = transport::socket(Domain::UNIX, Type::SEQPACKET)?;
            pass_credentials(&socket)?;
            Ok((socket, Family::Unix, SockAddr::unix(path)?))
        }
        other => Err(super::message::unsupported_transport(other)),
    }
}

/// Says what a failed `connect(2)` to `addr` means.
pub(crate) fn explain_connect(err: io::Error, addr: &Addr) -> io::Error {
    match addr {
        Addr::Vsock(a) if err.raw_os_error() == Some(libc::ESOCKTNOSUPPORT) => no_seqpacket_to(a),
        Addr::Vsock(a) => vsock::explain(err, a),
        Addr::Unix(path) if err.raw_os_error() == Some(libc::EPROTOTYPE) => error(
            err.kind(),
            format!(
                "{} is not a message-mode socket (SOCK_SEQPACKET): its listener speaks another socket type (EPROTOTYPE); connect as unix:// for a byte stream",
                crate::error::show_path(path)
            ),
        ),
        Addr::Unix(path) => unix::explain(err, path),
        _ => err,
    }
}

/// `ESOCKTNOSUPPORT` from `connect(2)`: the transport towards that CID has no
/// `SOCK_SEQPACKET` (a virtio device that does not offer `VIRTIO_VSOCK_F_SEQPACKET`,
/// such as vhost-device-vsock 0.3.0).
fn no_seqpacket_to(addr: &VsockAddr) -> io::Error {
    error(
        io::ErrorKind::Unsupported,
        format!(
            "the vsock transport to CID {} does not support message mode (SOCK_SEQPACKET, ESOCKTNOSUPPORT): the hypervisor's vsock device does not offer VIRTIO_VSOCK_F_SEQPACKET",
            addr.cid
        ),
    )
}

/// A `socket(AF_VSOCK, SOCK_SEQPACKET)` refused: the kernel's vsock predates message
/// mode.
fn no_vsock_seqpacket(err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::ESOCKTNOSUPPORT | libc::EPROTONOSUPPORT | libc::EINVAL) => error(
            io::ErrorKind::Unsupported,
            format!(
                "this kernel's vsock has no message mode (SOCK_SEQPACKET needs Linux 5.14 or later): {err}"
            ),
        ),
        _ => err,
    }
}

/// The local address of a connected socket: `getsockname(2)` for vsock; a Unix client
/// is unnamed.
pub(crate) fn local_addr(socket: &Socket, family: Family) -> io::Result<Addr> {
    match family {
        Family::Vsock => vsock::local_addr(socket),
        Family::Unix => Ok(Addr::Unnamed),
    }
}

/// Binds and listens on `addr` with a `SOCK_SEQPACKET` socket: `socket(2)`, `bind(2)`,
/// `listen(2)` for vsock; for Unix, a socket file made as for streams.
pub(crate) fn bind(addr: &Addr, options: &ListenOptions) -> io::Result<(Bound, Family)> {
    let family = Family::of(addr)?;
    let bound = match addr {
        Addr::Vsock(a) => vsock::bind_as(Type::SEQPACKET, a, options).map_err(no_vsock_seqpacket)?,
        Addr::Unix(path) => unix::bind_as(Type::SEQPACKET, path, options)?,
        other => return Err(super::message::unsupported_transport(other)),
    };
    Ok((bound, family))
}

/// Readies an accepted connection: `SO_PASSCRED` on a Unix one.
pub(crate) fn accepted(socket: &Socket, family: Family) -> io::Result<()> {
    match family {
        Family::Unix => pass_credentials(socket),
        Family::Vsock => Ok(()),
    }
}

/// `setsockopt(SO_PASSCRED)`: every message received brings its sender's credentials.
fn pass_credentials(socket: &Socket) -> io::Result<()> {
    crate::sockopt::set(socket, libc::SOL_SOCKET, libc::SO_PASSCRED, 1 as libc::c_int)
}

/// Room for exactly one `SCM_CREDENTIALS` (`CMSG_SPACE(sizeof(struct ucred))`, 32
/// bytes on Linux), 8-byte aligned. No more: descriptors a peer passes (`SCM_RIGHTS`)
/// then never fit, and the kernel closes them instead of installing them here.
type Control = [u64; 4];

/// `recvmsg(2)` of one message into `buf`, with `MSG_TRUNC` (the return value is the
/// whole message's length), `MSG_CMSG_CLOEXEC`, and `MSG_PEEK` if `peek`; retried on
/// `EINTR`.
///
/// An empty `buf` is received into a byte of scratch instead (whose contents no caller
/// sees: any message then is longer than `buf`): vsock answers a receive into no room
/// with 0 at once, as if at the end, without looking at what is queued.
pub(crate) fn recv(socket: &Socket, buf: &mut [MaybeUninit<u8>], peek: bool) -> io::Result<Raw> {
    let flags = libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC | if peek { libc::MSG_PEEK } else { 0 };
    let mut scratch = [MaybeUninit::<u8>::uninit(); 1];
    let room = if buf.is_empty() { &mut scratch[..] } else { buf };
    loop {
        let mut control: Control = [0; 4];
        let mut iov = libc::iovec { iov_base: room.as_mut_ptr().cast(), iov_len: room.len() };
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of::<Control>() as _;
        // SAFETY: `msg` points at one iovec over `room` (writable for its length) and at
        // `control` (writable for msg_controllen bytes); all outlive the call.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: `msg` was filled in by a successful recvmsg; CMSG_FIRSTHDR reads its
        // control fields only.
        let ancillary = !unsafe { libc::CMSG_FIRSTHDR(&msg) }.is_null();
        return Ok(Raw { len: n as usize, truncated: msg.msg_flags & libc::MSG_TRUNC != 0, ancillary });
    }
}

/// Says what a failed peek (`MSG_PEEK`) on a `family` socket means: vsock before
/// `MSG_PEEK` came to its `SOCK_SEQPACKET` (Linux 6.1 in the lab) refuses it, with
/// `EOPNOTSUPP` from the transport, which `af_vsock` passes up as `ENOMEM`. That
/// becomes an `ErrorKind::Unsupported` error saying so.
pub(crate) fn explain_peek(err: io::Error, family: Family) -> io::Error {
    match (family, err.raw_os_error()) {
        (Family::Vsock, Some(libc::EOPNOTSUPP | libc::ENOMEM)) => error(
            io::ErrorKind::Unsupported,
            format!("this kernel's vsock cannot peek at a message (MSG_PEEK on SOCK_SEQPACKET; {err}): receive with recv_vec, which needs no peek"),
        ),
        _ => err,
    }
}

/// `send(2)` of one message with `MSG_NOSIGNAL`, retried on `EINTR`; the count sent.
pub(crate) fn send(socket: &Socket, msg: &[u8]) -> io::Result<usize> {
    loop {
        match transport::send(socket, msg) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// The longest message a peer can send to `socket` when there is no peeking at one:
/// on vsock the receive buffer it advertises (`SO_VM_SOCKETS_BUFFER_SIZE`, 256 KiB by
/// default), beyond which a sender gets `EMSGSIZE`.
pub(crate) fn largest_message(socket: &Socket) -> io::Result<usize> {
    let size = crate::transport::vsock_window::window(socket)?;
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

/// Whether the peer has closed both directions, without sending or receiving: on Unix
/// sockets `POLLHUP` (a peer's `shutdown(SHUT_WR)` alone raises only `POLLRDHUP`); on
/// vsock, which raises `POLLHUP` only once this end has shut down too, an empty
/// `send(2)` with `MSG_DONTWAIT`, which vsock never sends but refuses with `EPIPE`
/// once the peer is gone.
pub(crate) fn peer_gone(socket: &Socket, family: Family) -> bool {
    match family {
        Family::Unix => {
            let mut fds = libc::pollfd { fd: socket.as_raw_fd(), events: 0, revents: 0 };
            // SAFETY: one valid pollfd, count 1, no waiting.
            let ready = unsafe { libc::poll(&mut fds, 1, 0) };
            ready == 1 && fds.revents & (libc::POLLHUP | libc::POLLERR) != 0
        }
        Family::Vsock => matches!(
            socket.send_with_flags(&[], libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET))
        ),
    }
}
