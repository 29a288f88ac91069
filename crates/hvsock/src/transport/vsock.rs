//! Linux `AF_VSOCK`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::Bound;
use crate::error::error;
use crate::{Addr, ConnectOptions, ListenOptions, VsockAddr};

/// `IOCTL_VM_SOCKETS_GET_LOCAL_CID` from `<linux/vm_sockets.h>`.
const IOCTL_VM_SOCKETS_GET_LOCAL_CID: libc::c_ulong = 0x7b9;
/// `SO_VM_SOCKETS_CONNECT_TIMEOUT` (the `struct timeval` form, `_OLD` in new headers).
const SO_VM_SOCKETS_CONNECT_TIMEOUT: libc::c_int = 6;
/// The socket level of vsock options: `AF_VSOCK`.
const SOL_VSOCK: libc::c_int = libc::AF_VSOCK;

/// `socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC)`, with the kernel's connect timeout
/// raised to `options.timeout` and the credit window `options.vsock_buffer_size`.
///
/// The kernel gives up on a vsock connect after its own timeout (2 s by default); with
/// a longer `timeout` that limit is raised to match.
pub(crate) fn socket(options: &ConnectOptions) -> io::Result<Socket> {
    socket_of(Type::STREAM, options)
}

/// [`socket`] of another type (`SOCK_SEQPACKET` for message mode).
pub(crate) fn socket_of(ty: Type, options: &ConnectOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::VSOCK, ty, None)?;
    if let Some(timeout) = options.timeout {
        set_connect_timeout(&socket, timeout)?;
    }
    if let Some(size) = options.vsock_buffer_size {
        super::vsock_window::set_window(&socket, size)?;
    }
    Ok(socket)
}

/// Says what a failed vsock `connect(2)` means: a reset during the handshake is how the
/// peer says nothing listens on the port.
pub(crate) fn explain(err: io::Error, addr: &VsockAddr) -> io::Error {
    match err.raw_os_error() {
        Some(libc::ECONNRESET) | Some(libc::ECONNREFUSED) => error(
            io::ErrorKind::ConnectionRefused,
            format!("connection refused: nothing listens on port {} of CID {}", addr.port, addr.cid),
        ),
        Some(libc::ETIMEDOUT) => error(io::ErrorKind::TimedOut, "timed out"),
        _ => err,
    }
}

/// `socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC)`, the credit window its connections
/// inherit (`options.vsock_buffer_size`), `bind(2)` and `listen(2)`.
pub(crate) fn bind(addr: &VsockAddr, options: &ListenOptions) -> io::Result<Bound> {
    bind_as(Type::STREAM, addr, options)
}

/// [`bind`] with a socket of type `ty`.
pub(crate) fn bind_as(ty: Type, addr: &VsockAddr, options: &ListenOptions) -> io::Result<Bound> {
    let socket = Socket::new(Domain::VSOCK, ty, None)?;
    if let Some(size) = options.vsock_buffer_size {
        super::vsock_window::set_window(&socket, size)?;
    }
    socket.bind(&sockaddr(addr))?;
    socket.listen(options.listen_backlog())?;
    let local = local_addr(&socket)?;
    Ok(Bound { socket, local, file: None })
}

pub(crate) fn sockaddr(addr: &VsockAddr) -> SockAddr {
    SockAddr::vsock(addr.cid, addr.port)
}

/// `getsockname(2)`, decoded.
pub(crate) fn local_addr(socket: &Socket) -> io::Result<Addr> {
    let raw = socket.local_addr()?;
    super::vsock_from_sockaddr(&raw)
        .map(Addr::Vsock)
        .ok_or_else(|| error(io::ErrorKind::InvalidData, "getsockname returned a non-vsock address"))
}

/// The longest connect timeout the kernel takes, in seconds. It refuses (`ERANGE`) one
/// of `MAX_SCHEDULE_TIMEOUT / HZ - 1` seconds or more, where `MAX_SCHEDULE_TIMEOUT` is
/// `LONG_MAX` jiffies and `HZ` at most 1024: this is below that on every kernel (about
/// 285 million years with a 64-bit `long`, 24 days with a 32-bit one).
const LONGEST_CONNECT_TIMEOUT_SECS: libc::time_t = (libc::c_long::MAX / 1024 - 2) as libc::time_t;

/// `timeout` as the `timeval` of `SO_VM_SOCKETS_CONNECT_TIMEOUT`, clamped to
/// [`LONGEST_CONNECT_TIMEOUT_SECS`] (so that `Duration::MAX` waits as long as the kernel
/// can, rather than failing with `ERANGE`).
fn connect_timeval(timeout: Duration) -> libc::timeval {
    match libc::time_t::try_from(timeout.as_secs()) {
        Ok(secs) if secs < LONGEST_CONNECT_TIMEOUT_SECS => {
            libc::timeval { tv_sec: secs, tv_usec: timeout.subsec_micros().into() }
        }
        _ => libc::timeval { tv_sec: LONGEST_CONNECT_TIMEOUT_SECS, tv_usec: 0 },
    }
}

/// `setsockopt(SO_VM_SOCKETS_CONNECT_TIMEOUT)`, clamped by [`connect_timeval`].
fn set_connect_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    crate::sockopt::set(socket, SOL_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, connect_timeval(timeout))
}

/// `ioctl(IOCTL_VM_SOCKETS_GET_LOCAL_CID)` on `/dev/vsock`, which is closed again.
pub(crate) fn local_cid(device: &std::path::Path) -> io::Result<u32> {
    let shown = device.display();
    let device = File::open(device).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => error(
            e.kind(),
            format!("no vsock on this machine: {shown} does not exist (is the vsock module loaded?)"),
        ),
        _ => error(e.kind(), format!("cannot open {shown}: {e}")),
    })?;
    let mut cid: u32 = 0;
    // SAFETY: the ioctl writes one u32 through the pointer, which is valid for writes.
    let rc =
        unsafe { libc::ioctl(device.as_raw_fd(), IOCTL_VM_SOCKETS_GET_LOCAL_CID as _, &mut cid as *mut u32) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return Err(error(e.kind(), format!("IOCTL_VM_SOCKETS_GET_LOCAL_CID on {shown}: {e}")));
    }
    Ok(cid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeouts_are_clamped_to_what_the_kernel_takes() {
        let tv = connect_timeval(Duration::from_millis(2500));
        assert_eq!((tv.tv_sec, tv.tv_usec), (2, 500_000));
        // The kernel's bound with HZ = 1000 (and 1024): `LONG_MAX / HZ - 1` seconds.
        let kernel_limit = (libc::c_long::MAX / 1024 - 1) as libc::time_t;
        for huge in [Duration::MAX, Duration::from_secs(u64::MAX / 2), Duration::from_secs(i64::MAX as u64)] {
            let tv = connect_timeval(huge);
            assert_eq!((tv.tv_sec, tv.tv_usec), (LONGEST_CONNECT_TIMEOUT_SECS, 0), "{huge:?}");
            assert!(tv.tv_sec < kernel_limit);
        }
    }
}
