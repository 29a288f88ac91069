//! The credit window of a Linux vsock connection: how many bytes the receiving end lets
//! its peer send ahead of what it has read. vsock keeps no send buffer and ignores
//! `SO_RCVBUF`; the window is `SO_VM_SOCKETS_BUFFER_SIZE` (256 KiB by default), clamped
//! by the kernel into `[SO_VM_SOCKETS_BUFFER_MIN_SIZE, SO_VM_SOCKETS_BUFFER_MAX_SIZE]`
//! (128 B and 256 KiB by default). A listening socket passes its sizes on to the
//! connections it accepts.

use std::io;

use socket2::Socket;

use crate::error::{context, error};
use crate::Addr;

/// [`set_window`] on a socket whose ends are `addrs` (local, peer; a listener's own
/// address twice), failing with `ErrorKind::Unsupported` unless it is a vsock one;
/// errors name the address.
pub(crate) fn set_window_of(socket: &Socket, addrs: (&Addr, &Addr), size: u64) -> io::Result<()> {
    let addr = vsock_only(addrs)?;
    set_window(socket, size).map_err(|e| context(e, "setting the vsock buffer size of", addr))
}

/// [`window`] on a socket whose ends are `addrs`, as [`set_window_of`].
pub(crate) fn window_of(socket: &Socket, addrs: (&Addr, &Addr)) -> io::Result<u64> {
    let addr = vsock_only(addrs)?;
    window(socket).map_err(|e| context(e, "getting the vsock buffer size of", addr))
}

/// The vsock address of the two, or an error naming the one that is named.
fn vsock_only<'a>((local, peer): (&'a Addr, &'a Addr)) -> io::Result<&'a Addr> {
    match (local, peer) {
        (addr @ Addr::Vsock(_), _) | (_, addr @ Addr::Vsock(_)) => Ok(addr),
        (local, Addr::Unnamed) => Err(not_vsock(local)),
        (_, peer) => Err(not_vsock(peer)),
    }
}

fn not_vsock(addr: &Addr) -> io::Error {
    error(
        io::ErrorKind::Unsupported,
        format!("the vsock buffer size applies to vsock connections only, not to {addr}"),
    )
}

/// `SO_VM_SOCKETS_BUFFER_SIZE` from `<linux/vm_sockets.h>`.
const SO_VM_SOCKETS_BUFFER_SIZE: libc::c_int = 0;
/// `SO_VM_SOCKETS_BUFFER_MIN_SIZE`.
const SO_VM_SOCKETS_BUFFER_MIN_SIZE: libc::c_int = 1;
/// `SO_VM_SOCKETS_BUFFER_MAX_SIZE`.
const SO_VM_SOCKETS_BUFFER_MAX_SIZE: libc::c_int = 2;

/// Sets the window to `size` bytes: the bound it would be clamped to is moved first
/// (`setsockopt(SO_VM_SOCKETS_BUFFER_MAX_SIZE)` or `_MIN_SIZE`), then
/// `setsockopt(SO_VM_SOCKETS_BUFFER_SIZE)`, so the size asked for is the size set.
pub(crate) fn set_window(socket: &Socket, size: u64) -> io::Result<()> {
    if size > get(socket, SO_VM_SOCKETS_BUFFER_MAX_SIZE)? {
        set(socket, SO_VM_SOCKETS_BUFFER_MAX_SIZE, size)?;
    }
    if size < get(socket, SO_VM_SOCKETS_BUFFER_MIN_SIZE)? {
        set(socket, SO_VM_SOCKETS_BUFFER_MIN_SIZE, size)?;
    }
    set(socket, SO_VM_SOCKETS_BUFFER_SIZE, size)
}

/// `getsockopt(SO_VM_SOCKETS_BUFFER_SIZE)`.
pub(crate) fn window(socket: &Socket) -> io::Result<u64> {
    get(socket, SO_VM_SOCKETS_BUFFER_SIZE)
}

/// `setsockopt(AF_VSOCK, name)` with a `u64`, the type of the vsock buffer options.
fn set(socket: &Socket, name: libc::c_int, value: u64) -> io::Result<()> {
    crate::sockopt::set(socket, libc::AF_VSOCK, name, value)
}

/// `getsockopt(AF_VSOCK, name)` of a `u64`.
fn get(socket: &Socket, name: libc::c_int) -> io::Result<u64> {
    crate::sockopt::get(socket, libc::AF_VSOCK, name, 0u64)
}
