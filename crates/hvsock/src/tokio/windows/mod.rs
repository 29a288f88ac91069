//! The Windows side: blocking sockets driven by threads ([`super::emulated`]), since
//! Hyper-V sockets report no readiness on older Windows builds.

pub(super) mod listener;
pub(super) mod stream;

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::windows::io::AsRawSocket;

use socket2::Socket;
use windows_sys::Win32::Foundation::{ERROR_OPERATION_ABORTED, HANDLE};
use windows_sys::Win32::System::IO::CancelIoEx;

use super::emulated::{Blocking, BlockingListener};
use crate::{transport, Addr};

impl Blocking for crate::Stream {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut stream = self;
        stream.read(buf)
    }

    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self;
        stream.write(buf)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        crate::Stream::shutdown(self, how)
    }

    fn interrupt(&self) {
        cancel_io(self.as_socket());
    }

    fn is_interruption(&self, err: &io::Error) -> bool {
        cancelled(err)
    }
}

impl BlockingListener for crate::Listener {
    type Accepted = (crate::Stream, Addr);

    /// One `accept`, not retried when interrupted (unlike [`crate::Listener::accept`]),
    /// so that the accept thread can be stopped.
    fn accept(&self) -> io::Result<(crate::Stream, Addr)> {
        let (socket, raw) = self.as_socket().accept()?;
        let local = self.local_addr();
        let peer = transport::peer_addr(local, &raw);
        Ok((crate::Stream::from_accepted(socket, local.clone(), peer.clone()), peer))
    }

    fn interrupt(&self) {
        cancel_io(self.as_socket());
    }

    fn is_interruption(&self, err: &io::Error) -> bool {
        cancelled(err)
    }
}

/// `CancelIoEx(socket, NULL)`: a blocking `recv`, `send` or `accept` on `socket` in any
/// thread returns with `WSAEINTR` (or `ERROR_OPERATION_ABORTED`). Unlike `closesocket`,
/// the handle stays valid, so the woken thread can never touch a reused handle; unlike
/// `shutdown`, it wakes a blocked `recv` on Windows.
fn cancel_io(socket: &Socket) {
    // SAFETY: CancelIoEx reads nothing through its arguments: it asks the I/O manager to
    // cancel what is pending on the handle (a null OVERLAPPED: all of it). `socket` is
    // borrowed, so the handle is open for the whole call; a socket handle that is not a
    // kernel file handle only makes the call fail.
    unsafe { CancelIoEx(socket.as_raw_socket() as HANDLE, std::ptr::null()) };
}

/// Whether `err` is what a call cancelled by [`cancel_io`] returns.
fn cancelled(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted || err.raw_os_error() == Some(ERROR_OPERATION_ABORTED as i32)
}
