//! Linux `AF_VSOCK`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use socket2::{Domain, SockAddr, Socket, Type};

use super::{deadline, Bound, Connected};
use crate::error::error;
use crate::{Addr, ConnectOptions, ListenOptions, VsockAddr};

/// `IOCTL_VM_SOCKETS_GET_LOCAL_CID` from `<linux/vm_sockets.h>`.
const IOCTL_VM_SOCKETS_GET_LOCAL_CID: libc::c_ulong = 0x7b9;
/// `SO_VM_SOCKETS_CONNECT_TIMEOUT` (the `struct timeval` form, `_OLD` in new headers).
const SO_VM_SOCKETS_CONNECT_TIMEOUT: libc::c_int = 6;
/// The socket level of vsock options: `AF_VSOCK`.
const SOL_VSOCK: libc::c_int = libc::AF_VSOCK;

/// `socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC)` and `connect(2)`.
///
/// The kernel gives up on a vsock connect after its own timeout (2 s by default); with
/// a longer `timeout` that limit is raised to match. A peer that resets the connection
/// during the handshake (nothing listens on the port) is reported as refused.
pub(crate) fn connect(addr: &VsockAddr, options: &ConnectOptions) -> io::Result<Connected> {
    let socket = socket(options)?;
    let deadline: Option<Instant> = super::deadline(options);
    deadline::connect(&socket, &sockaddr(addr), deadline).map_err(|e| explain(e, addr))?;
    let local = local_addr(&socket)?;
    Ok(Connected { socket, local })
}

/// `socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC)`, with the kernel's connect timeout
/// raised to `options.timeout`.
pub(crate) fn socket(options: &ConnectOptions) -> io::Result<Socket> {
    let socket = Socket::new(Domain::VSOCK, Type::STREAM, None)?;
    if let Some(timeout) = options.timeout {
        set_connect_timeout(&socket, timeout)?;
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

/// `socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC)`, `bind(2)` and `listen(2)`.
pub(crate) fn bind(addr: &VsockAddr, options: &ListenOptions) -> io::Result<Bound> {
    let socket = Socket::new(Domain::VSOCK, Type::STREAM, None)?;
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

/// `setsockopt(SO_VM_SOCKETS_CONNECT_TIMEOUT)`.
fn set_connect_timeout(socket: &Socket, timeout: std::time::Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
        tv_usec: timeout.subsec_micros().into(),
    };
    // SAFETY: `tv` is a valid timeval that outlives the call, and we pass its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            SOL_VSOCK,
            SO_VM_SOCKETS_CONNECT_TIMEOUT,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `ioctl(IOCTL_VM_SOCKETS_GET_LOCAL_CID)` on `/dev/vsock`, which is closed again.
pub(crate) fn local_cid() -> io::Result<u32> {
    let device = File::open("/dev/vsock").map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => error(
            e.kind(),
            "no vsock on this machine: /dev/vsock does not exist (is the vsock module loaded?)",
        ),
        _ => error(e.kind(), format!("cannot open /dev/vsock: {e}")),
    })?;
    let mut cid: u32 = 0;
    // SAFETY: the ioctl writes one u32 through the pointer, which is valid for writes.
    let rc =
        unsafe { libc::ioctl(device.as_raw_fd(), IOCTL_VM_SOCKETS_GET_LOCAL_CID as _, &mut cid as *mut u32) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return Err(error(e.kind(), format!("IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock: {e}")));
    }
    Ok(cid)
}
